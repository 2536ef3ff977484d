"""``ringbench overhead`` and ``ringbench compare``: the analysis, printed and written.

``overhead`` reads one run, prints each environment's ratio to its baseline
per benchmark with its 95% interval, the run's calibration on the ratios
whose truth is known, the mechanism costs and the validity findings, and
writes the tables (``overhead.json``) and the figures into
``<run>/analysis/``. ``compare`` sets one run against another, host by host.
pandas, scipy and matplotlib are imported when a command runs, not before.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ringbench.errors import UserError
from ringbench.files import atomic_write_json
from ringbench.results import ResultStore
from runners.cli.common import ExitCode, add_results_option, say


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "overhead", help="each environment against its baseline: ratios, mechanisms, validity"
    )
    p.add_argument("run", nargs="?", default="latest", help="run id or directory (default latest)")
    add_results_option(p)
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="tables and figures (default <run>/analysis)"
    )
    p.add_argument("--no-plots", action="store_true", help="tables only, no figures")
    p.set_defaults(func=_overhead)
    p = sub.add_parser("compare", help="run B against run A, host by host")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    add_results_option(p)
    p.set_defaults(func=_compare)


def _overhead(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_overhead(console, args.run, args.results, args.out, plots=not args.no_plots)


def _compare(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_compare(console, args.run_a, args.run_b, args.results)


def cmd_overhead(
    console: Console, run: str, results: Path, out: Path | None, plots: bool = True
) -> int:
    from analysis import bootstrap, calibration, load, mechanisms, overhead, summarize, validity
    from analysis.calibration import flagged, summary_line
    from analysis.export import OVERHEAD_FILE, overhead_document
    from analysis.references import beside_published
    from runners.cli.tables import (
        calibration_table,
        flags_table,
        mechanism_table,
        overhead_table,
    )

    run_dir = ResultStore(results).resolve(run)
    df = load(run_dir.path)
    if df.empty:
        raise UserError(f"{run_dir.path}: no measured values")
    boot = bootstrap(df)
    summary = summarize(df, boot)
    flags = validity(df, summary, boot)
    table = overhead(df, boot, flags)
    known = calibration(table, df)
    mech = mechanisms(df, boot)
    say(console, f"run {run_dir.run_id}: {df['host'].nunique()} host(s), {len(df)} values")
    if table.empty:
        say(
            console,
            "no host has a baseline in this run: give hosts a 'baseline' in the inventory "
            "(the lab does); the figures per host follow",
        )
    else:
        console.print(overhead_table(table, flags))
    if not known.empty:
        console.print(calibration_table(known))
    say(console, summary_line(known, table), style="bold red" if flagged(known) else None)
    console.print(mechanism_table(mech))
    if not flags.empty:
        console.print(flags_table(flags))
    out = out or run_dir.analysis_dir
    published = beside_published(table) if not table.empty else table.iloc[0:0]
    document = overhead_document(run_dir.run_id, summary, table, mech, flags, published, known)
    atomic_write_json(out / OVERHEAD_FILE, document)
    written = [out / OVERHEAD_FILE]
    if plots:
        from analysis.plots import write_all  # matplotlib only when figures are wanted

        written += write_all(df, table, mech, out)
    say(console, f"written to {out}/: " + ", ".join(p.name for p in written))
    return ExitCode.OK


def cmd_compare(console: Console, run_a: str, run_b: str, results: Path) -> int:
    from analysis import compare, load
    from analysis.validity import across_runs
    from runners.cli.tables import compare_table, flags_table

    store = ResultStore(results)
    dir_a, dir_b = store.resolve(run_a), store.resolve(run_b)
    if dir_a.path.resolve() == dir_b.path.resolve():
        raise UserError(f"both sides are {dir_a.run_id}: name two different runs")
    df_a, df_b = load(dir_a.path), load(dir_b.path)
    frame = compare(df_a, df_b)
    cross = across_runs(df_a, df_b)
    if frame.empty:
        say(console, f"no host measured the same benchmark in {dir_a.run_id} and {dir_b.run_id}")
    else:
        console.print(compare_table(frame, cross))
    if not cross.empty:
        console.print(flags_table(cross, title=f"{dir_b.run_id} against {dir_a.run_id}: findings"))
    return ExitCode.OK
