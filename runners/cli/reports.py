"""``ringbench report``, ``regress``, ``dashboard`` and ``notebooks``: what CI and readers get.

``report`` executes the notebooks headless and renders them; ``regress`` is
the gate (exit 0 nothing regressed, 1 a regression, 2 the comparison is
invalid), with JUnit XML and Markdown for the CI job's page; ``dashboard``
writes the static history page; ``notebooks`` checks that the notebooks are
stored without outputs (``--strip`` removes them), for ``nox -s lint``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ringbench.errors import UserError
from ringbench.files import atomic_write_text
from ringbench.results import ResultStore
from runners.cli.common import ExitCode, add_results_option, positive_float, say
from runners.cli.progress import LiveProgress

PROGRESS_AFTER_S = 2.0  # a dashboard that takes longer shows a progress bar


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="render the report notebooks of a run to HTML")
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="the run to report on, after the runs to compare it with (default: the latest "
        "run, against the one before it)",
    )
    add_results_option(p)
    p.add_argument("--out", type=Path, default=Path("reports/out"), metavar="DIR")
    p.set_defaults(
        func=lambda console, args, argv: cmd_report(console, args.runs, args.results, args.out)
    )
    p = sub.add_parser(
        "regress", help="the CI gate: exit 1 when the current run regressed, 2 when invalid"
    )
    p.add_argument("--baseline", required=True, metavar="RUN", help="run id, path or 'latest'")
    p.add_argument("--current", default="latest", metavar="RUN", help="default: latest")
    p.add_argument(
        "--threshold",
        type=positive_float,
        metavar="PCT",
        help="smallest change beyond the history that counts, in percent (default 10)",
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary here")
    add_results_option(p, "--store")
    p.set_defaults(func=_regress)
    p = sub.add_parser(
        "dashboard", help="a static HTML dashboard of every run's history, change points marked"
    )
    add_results_option(p, "--store")
    p.add_argument("--out", type=Path, default=Path("reports/out/dashboard"), metavar="DIR")
    p.set_defaults(func=lambda console, args, argv: cmd_dashboard(console, args.results, args.out))
    p = sub.add_parser(
        "notebooks", help="check that the report notebooks are stored without outputs"
    )
    p.add_argument("--strip", action="store_true", help="remove the outputs in place")
    p.add_argument("paths", nargs="*", type=Path, metavar="NOTEBOOK")
    p.set_defaults(func=lambda console, args, argv: cmd_notebooks(console, args.paths, args.strip))


def _regress(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_regress(
        console,
        args.baseline,
        args.current,
        results=args.results,
        threshold_pct=args.threshold,
        junit=args.junit,
        markdown_out=args.markdown,
    )


def cmd_report(console: Console, runs: list[str], results: Path, out: Path) -> int:
    """Execute the report notebooks headless and render them into ``out/<run-id>/``."""
    from reports.render import render

    with LiveProgress(console) as progress:
        folder = render(runs, results, out, progress=progress)
    say(console, f"reports in {folder}/ (open {folder / 'index.html'})")
    return ExitCode.OK


def cmd_regress(
    console: Console,
    baseline: str,
    current: str,
    results: Path,
    threshold_pct: float | None = None,
    junit: Path | None = None,
    markdown_out: Path | None = None,
) -> int:
    """The gate: 0 nothing regressed, 1 a regression, 2 the comparison is invalid.

    Each figure, and each host's ratio to its baseline host, is held against
    the comparable runs of the store created before the current run
    (:func:`analysis.regress.regressions`); the runs' settings come from
    their manifests.
    """
    import pandas as pd

    from analysis import load
    from analysis.gate_report import junit_xml, markdown
    from analysis.history import history_before, run_settings
    from analysis.regress import ALPHA, DEFAULT_THRESHOLD, regressions, settings_findings
    from analysis.validity import across_runs, records
    from runners.cli.tables import flags_table, regress_table

    threshold = DEFAULT_THRESHOLD if threshold_pct is None else threshold_pct / 100
    store = ResultStore(results)
    dir_a, dir_b = store.resolve(baseline), store.resolve(current)
    if dir_a.path.resolve() == dir_b.path.resolve():
        raise UserError(f"--baseline and --current are both {dir_a.run_id}: name two runs")
    df_a, df_b = load(dir_a.path), load(dir_b.path)
    settings_a, settings_b = run_settings(dir_a.path), run_settings(dir_b.path)
    earlier = history_before(results, dir_b.run_id)
    for skipped in earlier.attrs.get("skipped", []):
        say(console, f"history: {skipped}", style="yellow")
    result = regressions(df_a, df_b, threshold=threshold, history=earlier, settings=settings_b)
    findings = across_runs(df_a, df_b)
    differ = settings_findings(dir_a.run_id, dir_b.run_id, settings_a, settings_b)
    if not differ.empty:
        findings = pd.concat([findings, differ], ignore_index=True) if len(findings) else differ
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
    views = result["view"].value_counts().to_dict()
    invalid = findings[findings["severity"] == "invalid"]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing compared"
    ratios = f" and {views['ratio']} ratios to a baseline host" if views.get("ratio") else ""
    say(
        console,
        f"{dir_b.run_id} against {dir_a.run_id}: {views.get('figure', 0)} figures{ratios}, "
        f"{summary} (threshold {threshold:.0%} beyond the comparable history, "
        f"false discovery rate {ALPHA:g})",
    )
    if not invalid.empty or result.empty:
        why = "; ".join(f"{f['host']}: {f['detail']}" for f in records(invalid)) or (
            "no host and benchmark measured in both runs"
        )
        say(console, f"invalid comparison: {why}")
        return ExitCode.INVALID
    return ExitCode.REGRESSION if counts.get("regression") else ExitCode.OK


def cmd_dashboard(console: Console, store: Path, out: Path) -> int:
    """The static HTML dashboard of the store's history, written to ``out/index.html``."""
    from reports.dashboard import build as build_dashboard

    with LiveProgress(console, delay_s=PROGRESS_AFTER_S) as progress:
        page = build_dashboard(store, out, progress=progress)
    say(console, f"dashboard of {store} written to {page} (open {page.resolve().as_uri()})")
    return ExitCode.OK


def cmd_notebooks(console: Console, paths: Sequence[Path], strip: bool) -> int:
    """1 when a notebook carries outputs (0 after ``strip`` removed them)."""
    from reports.check import NOTEBOOKS, dirty_cells, read, strip_outputs

    failed = 0
    for path in paths or NOTEBOOKS:
        nb = read(path)
        cells = dirty_cells(nb)
        if not cells:
            continue
        if strip:
            strip_outputs(path, nb)
            say(console, f"{path}: outputs removed from cells {cells}")
        else:
            failed += 1
            say(
                console,
                f"{path}: cells {cells} carry outputs; remove them with "
                "'ringbench notebooks --strip'",
                "red",
            )
    return ExitCode.FAILED if failed else ExitCode.OK
