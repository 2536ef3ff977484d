"""The figures as terminal tables: a run's medians across its hosts, and the analysis's
DataFrames as rich tables.

Importing this module loads neither pandas nor the analysis (``ringbench run``
prints :func:`hosts_table`); the functions that take DataFrames import what
they use when called. Every cell that holds text from the results (host names,
validity details) is plain text, never markup.

A table with a column per host (:func:`hosts_table`, :func:`overhead_table`,
:func:`mechanism_table`) sets up to :data:`MAX_ACROSS` hosts side by side; a
fleet past that is listed with a row per host (and per benchmark where every
figure is shown), since sixty columns fit no screen and no log.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

from rich.table import Table
from rich.text import Text

from ringbench.results import BenchStatus
from ringbench.units import TERMINAL, format_seconds, sig3, unit

if TYPE_CHECKING:
    import pandas as pd

    from runners.execute import BenchOutcome
    from runners.outcome import HostOutcome

MAX_ACROSS = 8  # hosts side by side; a fleet of more gets a row per host


def _row(table: Table, *cells: object) -> None:
    """A row of plain-text cells (a ``[`` from a host is shown, not read as markup)."""
    table.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells))


MARKS = {"invalid": "!", "confounded": "~", "suspect": "?"}
LEGEND = (
    "marks: ! invalid comparison, ~ confounded (more than virtualization differs), ? suspect figure"
)


def _ratio_cell(ratio: float, low: float, high: float) -> str:
    if math.isnan(ratio):
        return "-"
    return f"x{sig3(ratio)} [{sig3(low)}-{sig3(high)}]"


def _ns_cell(ns: float, low: float = math.nan, high: float = math.nan) -> str:
    """``52.0 us [50.2, 55.3]``: the interval in the point's unit."""
    if math.isnan(ns):
        return "-"
    scale, name = unit(ns / 1e9, TERMINAL)
    scale *= 1e9
    text = f"{sig3(ns / scale)} {name}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{sig3(low / scale)}, {sig3(high / scale)}]"
    return text


def _mark(flagged: str, severity: dict[str, str]) -> str:
    """The worst severity among a row's checks, as one character."""
    from analysis.validity import SEVERITY_ORDER

    present = {severity.get(c.split("@")[0], "suspect") for c in flagged.split(",") if c}
    return "".join(MARKS[s] for s in SEVERITY_ORDER if s in present)[:1]


def _severity_of(flags: pd.DataFrame) -> dict[str, str]:
    from analysis.validity import SEVERITY_ORDER

    table: dict[str, str] = {}
    for check, sev in zip(flags["check"], flags["severity"], strict=True):
        if check not in table or SEVERITY_ORDER.index(sev) < SEVERITY_ORDER.index(table[check]):
            table[check] = sev
    return table


def _fleet_caption(hosts: int, what: str) -> str:
    return f"{hosts} hosts: {what} (more than {MAX_ACROSS} do not fit side by side)"


def overhead_table(frame: pd.DataFrame, flags: pd.DataFrame) -> Table:
    """Benchmarks down, environments across: ratio to the baseline [95% interval]; past
    :data:`MAX_ACROSS` environments, a row per environment and benchmark."""
    from analysis.validity import records

    hosts = list(dict.fromkeys(frame["host"]))
    first = {r["host"]: r for r in records(frame.drop_duplicates("host").astype(str))}
    severity = _severity_of(flags)
    by = frame.set_index(["benchmark", "host"])
    benches = list(frame.sort_values(["family", "benchmark"])["benchmark"].unique())

    def cell(bench: str, host: str) -> str | None:
        if (bench, host) not in by.index:
            return None
        row = cast("pd.Series", by.loc[(bench, host)])
        mark = _mark(str(row["flagged"]), severity)
        return _ratio_cell(row["ratio"], row["ratio_low"], row["ratio_high"]) + f" {mark}".rstrip()

    table = Table(title="overhead: environment / baseline, median ratio [95% interval]")
    if len(hosts) > MAX_ACROSS:
        for column in ("host", "class", "vs", "benchmark", "ratio [95%]"):
            table.add_column(column, justify="right" if column == "ratio [95%]" else "left")
        for host in hosts:
            heading = (host, first[host]["virt_class"], first[host]["baseline"])
            for bench in benches:
                text = cell(bench, host)
                if text is not None:
                    _row(table, *heading, bench, text)
                    heading = ("", "", "")  # the host's name on its first row only
            table.add_section()
        table.caption = _fleet_caption(len(hosts), "a row per host and benchmark") + "; " + LEGEND
        return table
    table.add_column("benchmark", no_wrap=True)
    for host in hosts:
        table.add_column(
            Text(f"{host}\n{first[host]['virt_class']}\nvs {first[host]['baseline']}"),
            justify="right",
        )
    for bench in benches:
        _row(table, bench, *(cell(bench, host) or "" for host in hosts))
    table.caption = LEGEND
    return table


def calibration_table(rows: pd.DataFrame) -> Table:
    """The known-truth ratios (:mod:`analysis.calibration`): each against its truth of x1.00,
    ``!`` where it is off by more than the limit or its interval is wider."""
    from analysis.calibration import DEVIATION_LIMIT, HALF_WIDTH_LIMIT, ratio_text
    from analysis.validity import records

    table = Table(title="calibration: ratios whose truth is known, against x1.00 [95% interval]")
    for column in ("host", "vs", "benchmark", "why", "ratio [95%]", "off", "+-", ""):
        table.add_column(column, justify="right" if column in ("off", "+-") else "left")
    for r in records(rows):
        off, wide = not r["deviation"] <= DEVIATION_LIMIT, not r["half_width"] <= HALF_WIDTH_LIMIT
        said = [w for w, bad in (("off", off), ("wide", wide)) if bad]
        _row(
            table,
            str(r["host"]),
            str(r["baseline"]),
            str(r["benchmark"]),
            str(r["why"]),
            ratio_text(r) if math.isfinite(r["ratio"]) else "-",
            f"{r['deviation']:.1%}" if math.isfinite(r["deviation"]) else "-",
            f"{r['half_width']:.1%}" if math.isfinite(r["half_width"]) else "-",
            "ok" if r["ok"] else "! " + (", ".join(said) or "no ratio"),
        )
    table.caption = (
        f"! off: more than {DEVIATION_LIMIT:.0%} from the truth; "
        f"! wide: interval wider than +-{HALF_WIDTH_LIMIT:.0%}"
    )
    return table


def _mechanism_cell(row: pd.Series, usual: str | None = None) -> str:
    """A mechanism's cost and what it adds; "vs HOST" where it is measured against another
    host than ``usual``, the host's baseline (the seccomp filter: its unconfined twin)."""
    if math.isnan(row["cost_ns"]):
        return str(row["note"])
    text = _ns_cell(row["cost_ns"], row["cost_low_ns"], row["cost_high_ns"])
    if not math.isnan(row["added_ns"]):
        sign = "+" if row["added_ns"] >= 0 else "-"
        text += f"\n{sign}{_ns_cell(abs(row['added_ns']))}"
        if not math.isnan(row["ratio"]):
            text += f" (x{row['ratio']:.3g})"
        against = str(row["baseline"])
        if usual is not None and against and against != usual:
            text += f" vs {against}"
    if row["note"]:
        text += f"\n{row['note']}"
    return text


def mechanism_table(mech: pd.DataFrame) -> Table:
    """Mechanisms down, hosts across: cost per operation, and what the environment adds;
    past :data:`MAX_ACROSS` hosts, a row per mechanism and host."""
    hosts = list(dict.fromkeys(mech["host"]))
    table = Table(title="mechanisms: cost of one operation [95% interval]; + added to baseline")
    by = mech.set_index(["mechanism", "host"])
    names = list(dict.fromkeys(mech["mechanism"]))
    first = mech.drop_duplicates("host")  # each host's first mechanism: against its baseline
    usual = dict(zip(first["host"].astype(str), first["baseline"].astype(str), strict=True))

    def measured(name: str) -> str:
        first = mech[mech["mechanism"] == name].iloc[0]
        return str(first["minuend"]) + (f" - {first['subtrahend']}" if first["subtrahend"] else "")

    if len(hosts) > MAX_ACROSS:
        for column in ("mechanism", "measured as", "host", "cost [95%]; + added"):
            table.add_column(column)
        for name in names:
            lead = (name, measured(name))
            unmeasured: dict[str, list[str]] = {}  # note -> the hosts it is said of
            for host in hosts:
                if (name, host) not in by.index:
                    continue
                row = cast("pd.Series", by.loc[(name, host)])
                if math.isnan(row["cost_ns"]):
                    unmeasured.setdefault(str(row["note"]), []).append(host)
                    continue
                _row(table, *lead, host, _mechanism_cell(row, usual.get(host)))
                lead = ("", "")  # the mechanism on its first row only
            for note, said_of in unmeasured.items():  # one row, not one per host
                who = "every host" if len(said_of) == len(hosts) else ", ".join(said_of)
                _row(table, *lead, who, note)
                lead = ("", "")
            table.add_section()
        table.caption = _fleet_caption(len(hosts), "a row per mechanism and host")
        return table
    table.add_column("mechanism", no_wrap=True)
    table.add_column("measured as")
    for host in hosts:
        table.add_column(Text(host), justify="right")
    for name in names:
        cells = [  # a mechanism that does not apply to a host (the runtime ones): empty
            _mechanism_cell(cast("pd.Series", by.loc[(name, host)]), usual.get(host))
            if (name, host) in by.index
            else ""
            for host in hosts
        ]
        _row(table, name, measured(name), *cells)
    return table


# Checks whose finding on a benchmark says what that figure means: one line each, detail
# and all, instead of the benchmarks gathered into one line.
SPELLED_OUT = frozenset({"durability"})


def flags_table(flags: pd.DataFrame, title: str = "validity findings") -> Table:
    """One line per (host, check): host-wide findings once, per-benchmark ones gathered
    (those of :data:`SPELLED_OUT` checks one per benchmark, with their detail)."""
    from analysis.validity import records

    table = Table(title=Text(title))
    for column in ("host", "against", "check", "severity", "detail"):
        table.add_column(column, overflow="fold")
    for (host, other, check, sev), group in flags.groupby(
        ["host", "baseline", "check", "severity"], sort=True
    ):
        if check in SPELLED_OUT:
            for r in records(group):
                where = f"{r['benchmark']}: " if r["benchmark"] else ""
                mark = MARKS[str(sev)] + " " + str(sev)
                _row(table, str(host), str(other), str(check), mark, where + str(r["detail"]))
            continue
        whole = group[group["benchmark"] == ""]
        detail = "; ".join(whole["detail"])
        benches = group[group["benchmark"] != ""]
        if not benches.empty:
            listed = ", ".join(benches["benchmark"])
            detail = (detail + "; " if detail else "") + f"{len(benches)} benchmark(s): {listed}"
        _row(table, str(host), str(other), str(check), MARKS[str(sev)] + " " + str(sev), detail)
    return table


def compare_table(frame: pd.DataFrame, flags: pd.DataFrame) -> Table:
    from analysis.validity import records

    run_a, run_b = frame["run_a"].iat[0], frame["run_b"].iat[0]
    table = Table(title=Text(f"{run_b} against {run_a}: B / A per host [95% interval]"))
    for column in ("host", "benchmark", "A", "B", "B / A", "verdict"):
        table.add_column(column, justify="right" if column in ("A", "B", "B / A") else "left")
    severity = _severity_of(flags) if not flags.empty else {}
    for row in records(frame):
        mark = _mark(str(row["flagged"]), severity)
        _row(
            table,
            str(row["host"]),
            str(row["benchmark"]),
            format_seconds(row["a_s"]),
            format_seconds(row["b_s"]),
            _ratio_cell(row["ratio"], row["ratio_low"], row["ratio_high"]),
            f"{row['verdict']} {mark}".rstrip(),
        )
    table.caption = LEGEND
    return table


def regress_table(changed: pd.DataFrame, base: str, current: str) -> Table:
    """The gate's flagged rows (:func:`analysis.regress.regressions`), each with its view
    and the range it was held against."""
    from analysis.gate_report import held_against, value_text, view_name
    from analysis.validity import records

    table = Table(title=Text(f"{current} against {base}: changes beyond the threshold"))
    columns = ("host", "benchmark", "view", "baseline", "current", "ratio [95%]", "q", "change")
    for column in (*columns, "held against"):
        table.add_column(column, justify="right" if column in ("baseline", "current") else "left")
    for r in records(changed.sort_values(["change", "ratio"], ascending=[False, False])):
        _row(
            table,
            str(r["host"]),
            str(r["benchmark"]),
            view_name(r),
            value_text(r, "a", format_seconds),
            value_text(r, "b", format_seconds),
            _ratio_cell(r["ratio"], r["ratio_low"], r["ratio_high"]),
            f"{r['q_value']:.2g}",
            str(r["change"]),
            held_against(r),
        )
    return table


# --- a run's medians across its hosts (``ringbench run``'s last table) ---------------------


def medians(outcomes: Sequence[BenchOutcome]) -> dict[str, float]:
    """Each measured benchmark's median of all its values, in seconds."""
    return {
        o.bench.name: statistics.median(v.value_s for p in o.processes for v in p.result.values)
        for o in outcomes
        if o.status is BenchStatus.SUCCESS
    }


def _ratios(host: HostOutcome, found: Mapping[str, dict[str, float]]) -> dict[str, float]:
    """Each benchmark's median over its baseline's, where both were measured."""
    base = found.get(host.baseline or "", {}) if host.baseline else {}
    mine = found[host.host]
    return {name: value / base[name] for name, value in mine.items() if base.get(name)}


def _counts(outcomes: Sequence[BenchOutcome]) -> str:
    """``38 of 40, 1 failed, 1 unsupported``."""
    done = sum(o.status is BenchStatus.SUCCESS for o in outcomes)
    others: dict[str, int] = {}
    for o in outcomes:
        if o.status is not BenchStatus.SUCCESS:
            others[o.status.value] = others.get(o.status.value, 0) + 1
    return ", ".join([f"{done} of {len(outcomes)}", *(f"{n} {s}" for s, n in others.items())])


def hosts_table(outcomes: Mapping[str, HostOutcome], full: str = "") -> Table:
    """Every host's medians per operation, and x its baseline where it has one: up to
    :data:`MAX_ACROSS` hosts side by side (benchmarks down); a fleet past that with a row
    per host, its ratios to its baseline summed up (median, lowest, highest), the caption
    saying where every figure is (``full``: a command or a file)."""
    hosts = [h for h in outcomes.values() if h.outcomes]
    found = {h.host: medians(h.outcomes) for h in hosts}
    ratios = {h.host: _ratios(h, found) for h in hosts}
    table = Table(title="median per operation (x baseline)")
    if len(hosts) > MAX_ACROSS:
        table.title = "each host's benchmarks, and their medians x its baseline's"
        for column in ("host", "class", "vs", "measured", "median x", "lowest x", "highest x"):
            table.add_column(column, justify="right" if column == "median x" else "left")
        for h in hosts:
            mine = ratios[h.host]
            low = min(mine, key=mine.__getitem__, default=None)
            high = max(mine, key=mine.__getitem__, default=None)
            _row(
                table,
                h.host,
                h.virt_class or "?",
                h.baseline or "-",
                _counts(h.outcomes),
                f"x{statistics.median(mine.values()):.3g}" if mine else "-",
                f"x{mine[low]:.3g} {low}" if low is not None else "-",
                f"x{mine[high]:.3g} {high}" if high is not None else "-",
            )
        where = f"\nevery benchmark of every host: {full}" if full else ""
        table.caption = _fleet_caption(len(hosts), "a row per host") + where
        return table
    table.add_column("benchmark", no_wrap=True)
    for h in hosts:
        # a narrow terminal wraps, never truncates
        table.add_column(Text(f"{h.host}\n{h.virt_class or '?'}"), justify="right", overflow="fold")
    names = list(dict.fromkeys(o.bench.name for h in hosts for o in h.outcomes))
    for name in names:
        cells = []
        for h in hosts:
            value = found[h.host].get(name)
            ratio = ratios[h.host].get(name)
            cell = format_seconds(value) if value is not None else "-"
            cells.append(cell + (f" x{ratio:.3g}" if ratio is not None else ""))
        _row(table, name, *cells)
    return table
