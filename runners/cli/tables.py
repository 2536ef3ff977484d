"""The analysis as terminal tables: rich tables built from the analysis's DataFrames.

Imported by the analysis commands only when they run, so that ``ringbench
run`` does not load pandas. Every cell that holds text from the results
(host names, validity details) is plain text, never markup.
"""

from __future__ import annotations

import math

import pandas as pd
from rich.table import Table
from rich.text import Text

from analysis.calibration import DEVIATION_LIMIT, HALF_WIDTH_LIMIT, ratio_text
from analysis.validity import SEVERITY_ORDER, records
from ringbench.units import TERMINAL, format_seconds, sig3, unit


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
    present = {severity.get(c.split("@")[0], "suspect") for c in flagged.split(",") if c}
    return "".join(MARKS[s] for s in SEVERITY_ORDER if s in present)[:1]


def _severity_of(flags: pd.DataFrame) -> dict[str, str]:
    table: dict[str, str] = {}
    for check, sev in zip(flags["check"], flags["severity"], strict=True):
        if check not in table or SEVERITY_ORDER.index(sev) < SEVERITY_ORDER.index(table[check]):
            table[check] = sev
    return table


def overhead_table(frame: pd.DataFrame, flags: pd.DataFrame) -> Table:
    """Benchmarks down, environments across: ratio to the baseline [95% interval]."""
    hosts = list(dict.fromkeys(frame["host"]))
    first = {r["host"]: r for r in records(frame.drop_duplicates("host").astype(str))}
    table = Table(title="overhead: environment / baseline, median ratio [95% interval]")
    table.add_column("benchmark", no_wrap=True)
    for host in hosts:
        table.add_column(
            Text(f"{host}\n{first[host]['virt_class']}\nvs {first[host]['baseline']}"),
            justify="right",
        )
    severity = _severity_of(flags)
    by = frame.set_index(["benchmark", "host"])
    for bench in frame.sort_values(["family", "benchmark"])["benchmark"].unique():
        cells = []
        for host in hosts:
            if (bench, host) not in by.index:
                cells.append("")
                continue
            row = by.loc[(bench, host)]
            mark = _mark(str(row["flagged"]), severity)
            cells.append(
                _ratio_cell(row["ratio"], row["ratio_low"], row["ratio_high"]) + f" {mark}".rstrip()
            )
        _row(table, bench, *cells)
    table.caption = LEGEND
    return table


def calibration_table(rows: pd.DataFrame) -> Table:
    """The known-truth ratios (:mod:`analysis.calibration`): each against its truth of x1.00,
    ``!`` where it is off by more than the limit or its interval is wider."""
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


def mechanism_table(mech: pd.DataFrame) -> Table:
    """Mechanisms down, hosts across: cost per operation, and what the environment adds."""
    hosts = list(dict.fromkeys(mech["host"]))
    table = Table(title="mechanisms: cost of one operation [95% interval]; + added to baseline")
    table.add_column("mechanism", no_wrap=True)
    table.add_column("measured as")
    for host in hosts:
        table.add_column(Text(host), justify="right")
    by = mech.set_index(["mechanism", "host"])
    for name in dict.fromkeys(mech["mechanism"]):
        first = by.loc[(name, hosts[0])]
        measured = first["minuend"] + (f" - {first['subtrahend']}" if first["subtrahend"] else "")
        cells = []
        for host in hosts:
            row = by.loc[(name, host)]
            if math.isnan(row["cost_ns"]):
                cells.append(str(row["note"]))
                continue
            text = _ns_cell(row["cost_ns"], row["cost_low_ns"], row["cost_high_ns"])
            if not math.isnan(row["added_ns"]):
                sign = "+" if row["added_ns"] >= 0 else "-"
                text += f"\n{sign}{_ns_cell(abs(row['added_ns']))}"
                if not math.isnan(row["ratio"]):
                    text += f" (x{row['ratio']:.3g})"
            if row["note"]:
                text += f"\n{row['note']}"
            cells.append(text)
        _row(table, name, measured, *cells)
    return table


# Checks whose finding on a benchmark says what that figure means: one line each, detail
# and all, instead of the benchmarks gathered into one line.
SPELLED_OUT = frozenset({"durability"})


def flags_table(flags: pd.DataFrame, title: str = "validity findings") -> Table:
    """One line per (host, check): host-wide findings once, per-benchmark ones gathered
    (those of :data:`SPELLED_OUT` checks one per benchmark, with their detail)."""
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
