"""``ringbench overhead``, ``compare`` and ``report``: the analysis, printed and rendered.

``overhead`` reads one run, prints each environment's ratio to its baseline
per benchmark with its 95% interval, the mechanism costs and the validity
findings, and writes the tables (``overhead.json``) and the figures into
``<run>/analysis/``. ``compare`` sets one run against another, host by host.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import bootstrap, compare, load, mechanisms, overhead, summarize, validity
from analysis.references import beside_published
from analysis.regress import ALPHA
from analysis.validity import SEVERITY_ORDER, across_runs, records
from runners import __version__
from runners.cmd_run import EXIT_OK
from runners.errors import UserError
from runners.files import atomic_write_json, atomic_write_text
from runners.store import ResultStore
from runners.units import TERMINAL, format_seconds, sig3, unit

ANALYSIS_FORMAT = 1
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
            f"{host}\n{first[host]['virt_class']}\nvs {first[host]['baseline']}",
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
        table.add_row(bench, *cells)
    table.caption = LEGEND
    return table


def mechanism_table(mech: pd.DataFrame) -> Table:
    """Mechanisms down, hosts across: cost per operation, and what the environment adds."""
    hosts = list(dict.fromkeys(mech["host"]))
    table = Table(title="mechanisms: cost of one operation [95% interval]; + added to baseline")
    table.add_column("mechanism", no_wrap=True)
    table.add_column("measured as")
    for host in hosts:
        table.add_column(host, justify="right")
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
        table.add_row(name, measured, *cells)
    return table


def flags_table(flags: pd.DataFrame, title: str = "validity findings") -> Table:
    """One line per (host, check): host-wide findings once, per-benchmark ones gathered."""
    table = Table(title=title)
    for column in ("host", "against", "check", "severity", "detail"):
        table.add_column(column, overflow="fold")
    for (host, other, check, sev), group in flags.groupby(
        ["host", "baseline", "check", "severity"], sort=True
    ):
        whole = group[group["benchmark"] == ""]
        detail = "; ".join(whole["detail"])
        benches = group[group["benchmark"] != ""]
        if not benches.empty:
            listed = ", ".join(benches["benchmark"])
            detail = (detail + "; " if detail else "") + f"{len(benches)} benchmark(s): {listed}"
        table.add_row(str(host), str(other), str(check), MARKS[str(sev)] + " " + str(sev), detail)
    return table


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: NaN becomes null."""
    return records(frame.astype(object).where(frame.notna(), None))


def cmd_overhead(
    console: Console, run: str, results: Path, out: Path | None, plots: bool = True
) -> int:
    run_dir = ResultStore(results).resolve(run)
    df = load(run_dir.path)
    if df.empty:
        raise UserError(f"{run_dir.path}: no measured values")
    boot = bootstrap(df)
    summary = summarize(df, boot)
    flags = validity(df, summary)
    table = overhead(df, boot, flags)
    mech = mechanisms(df, boot)
    console.print(f"run {run_dir.run_id}: {df['host'].nunique()} host(s), {len(df)} values")
    if table.empty:
        console.print(
            "no host has a baseline in this run: give hosts a 'baseline' in the inventory "
            "(the lab does); the figures per host follow"
        )
    else:
        console.print(overhead_table(table, flags))
    console.print(mechanism_table(mech))
    if not flags.empty:
        console.print(flags_table(flags))
    out = out or run_dir.path / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out / "overhead.json",
        {
            "format_version": ANALYSIS_FORMAT,
            "tool_version": __version__,
            "run": run_dir.run_id,
            "summary": _json_records(summary),
            "overhead": _json_records(table),
            "mechanisms": _json_records(mech),
            "flags": _json_records(flags),
            "published": _json_records(beside_published(table)) if not table.empty else [],
        },
    )
    written = [out / "overhead.json"]
    if plots:
        from analysis.plots import write_all  # matplotlib only when figures are wanted

        written += write_all(df, table, mech, out)
    console.print(f"written to {out}/: " + ", ".join(p.name for p in written))
    return 0


def compare_table(frame: pd.DataFrame, flags: pd.DataFrame) -> Table:
    run_a, run_b = frame["run_a"].iat[0], frame["run_b"].iat[0]
    table = Table(title=f"{run_b} against {run_a}: B / A per host [95% interval]")
    for column in ("host", "benchmark", "A", "B", "B / A", "verdict"):
        table.add_column(column, justify="right" if column in ("A", "B", "B / A") else "left")
    severity = _severity_of(flags) if not flags.empty else {}
    for row in records(frame):
        mark = _mark(str(row["flagged"]), severity)
        table.add_row(
            str(row["host"]),
            str(row["benchmark"]),
            format_seconds(row["a_s"]),
            format_seconds(row["b_s"]),
            _ratio_cell(row["ratio"], row["ratio_low"], row["ratio_high"]),
            f"{row['verdict']} {mark}".rstrip(),
        )
    table.caption = LEGEND
    return table


def cmd_compare(console: Console, run_a: str, run_b: str, results: Path) -> int:
    store = ResultStore(results)
    dir_a, dir_b = store.resolve(run_a), store.resolve(run_b)
    if dir_a.path.resolve() == dir_b.path.resolve():
        raise UserError(f"both sides are {dir_a.run_id}: name two different runs")
    df_a, df_b = load(dir_a.path), load(dir_b.path)
    frame = compare(df_a, df_b)
    cross = across_runs(df_a, df_b)
    if frame.empty:
        console.print(f"no host measured the same benchmark in {dir_a.run_id} and {dir_b.run_id}")
    else:
        console.print(compare_table(frame, cross))
    if not cross.empty:
        console.print(flags_table(cross, title=f"{dir_b.run_id} against {dir_a.run_id}: findings"))
    return 0


def cmd_report(console: Console, runs: list[str], results: Path, out: Path) -> int:
    """Execute the report notebooks headless and render them into ``out/<run-id>/``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reports.render import render

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("reports", total=None)

        def step(title: str, done: int, total: int) -> None:
            progress.update(task, description=f"executing {title}", completed=done, total=total)

        folder = render(runs, results, out, progress=step)
        progress.update(task, description="rendered", completed=progress.tasks[0].total)
    console.print(f"reports in {folder}/ (open {folder / 'index.html'})")
    return 0


EXIT_REGRESSION = 1
EXIT_INVALID = 2


def cmd_regress(
    console: Console,
    baseline: str,
    current: str,
    results: Path,
    threshold_pct: float | None = None,
    junit: Path | None = None,
    markdown_out: Path | None = None,
) -> int:
    """The gate: 0 nothing regressed, 1 a regression, 2 the comparison is invalid."""
    from analysis.regress import DEFAULT_THRESHOLD, junit_xml, markdown, regressions

    threshold = DEFAULT_THRESHOLD if threshold_pct is None else threshold_pct / 100
    store = ResultStore(results)
    dir_a, dir_b = store.resolve(baseline), store.resolve(current)
    if dir_a.path.resolve() == dir_b.path.resolve():
        raise UserError(f"--baseline and --current are both {dir_a.run_id}: name two runs")
    df_a, df_b = load(dir_a.path), load(dir_b.path)
    earlier = _earlier_runs(results, dir_b.run_id)
    result = regressions(df_a, df_b, threshold=threshold, history=earlier)
    findings = across_runs(df_a, df_b)
    if junit:
        atomic_write_text(junit, junit_xml(result, findings, dir_a.run_id, dir_b.run_id))
    if markdown_out:
        text = markdown(result, findings, dir_a.run_id, dir_b.run_id, threshold, ALPHA)
        atomic_write_text(markdown_out, text)
    changed = result[result["change"] != "no change"]
    if not changed.empty:
        console.print(regress_table(changed, dir_a.run_id, dir_b.run_id))
    if not findings.empty:
        console.print(flags_table(findings, title="what differs between the runs"))
    counts = result["change"].value_counts().to_dict()
    invalid = findings[findings["severity"] == "invalid"]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing compared"
    console.print(
        f"{dir_b.run_id} against {dir_a.run_id}: {len(result)} figures, {summary} "
        f"(threshold {threshold:.0%}, false discovery rate {ALPHA:g})"
    )
    if not invalid.empty or result.empty:
        why = "; ".join(f"{f['host']}: {f['detail']}" for f in records(invalid)) or (
            "no host and benchmark measured in both runs"
        )
        console.print(f"invalid comparison: {why}")
        return EXIT_INVALID
    return EXIT_REGRESSION if counts.get("regression") else EXIT_OK


def _earlier_runs(results: Path, current: str) -> pd.DataFrame:
    """The store's runs created before ``current`` (the baseline among them): the history
    that sets the gate's noise floor."""
    from analysis.history import history

    if not results.is_dir():
        return pd.DataFrame(columns=["run", "host", "benchmark", "median_s"])
    frame = history(results)
    order = list(dict.fromkeys(frame["run"]))
    before = set(order[: order.index(current)]) if current in order else set(order)
    return frame[frame["run"].isin(before)]


def regress_table(changed: pd.DataFrame, base: str, current: str) -> Table:
    table = Table(title=f"{current} against {base}: changes beyond the threshold")
    for column in ("host", "benchmark", "baseline", "current", "ratio [95%]", "q", "change"):
        table.add_column(column, justify="right" if column in ("baseline", "current") else "left")
    for r in records(changed.sort_values(["change", "ratio"], ascending=[False, False])):
        table.add_row(
            str(r["host"]),
            str(r["benchmark"]),
            format_seconds(r["a_s"]),
            format_seconds(r["b_s"]),
            _ratio_cell(r["ratio"], r["ratio_low"], r["ratio_high"]),
            f"{r['q_value']:.2g}",
            str(r["change"]),
        )
    return table


PROGRESS_AFTER_S = 2.0  # a dashboard that takes longer shows a progress bar


def cmd_dashboard(console: Console, store: Path, out: Path) -> int:
    """The static HTML dashboard of the store's history, written to ``out/index.html``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reports.dashboard import build as build_dashboard

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    progress = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
    task = progress.add_task("dashboard", total=None)
    started = time.monotonic()

    def step(title: str, done: int, total: int) -> None:
        if not progress.live.is_started and time.monotonic() - started > PROGRESS_AFTER_S:
            progress.start()
        progress.update(task, description=title, completed=done, total=total or None)

    try:
        page = build_dashboard(store, out, progress=step)
    finally:
        progress.stop()
    console.print(f"dashboard of {store} written to {page} (open {page.resolve().as_uri()})")
    return EXIT_OK
