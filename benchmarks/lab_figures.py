"""Do the lab's figures hold from run to run? Several default runs of the whole lab, then
the figures of issue 13 read from them.

Needs root and the lab up (``ringbench lab up``). Makes ``--runs`` consecutive
default runs (``ringbench run`` on the lab's inventory, every benchmark,
default settings) into ``--results`` (kept, so that the analysis can be read
again: ``--analyse-only``), then prints:

- each run's wall time (target: the full default suite within 6 minutes);
- the known-truth calibration of each run (target: every known-truth ratio
  within +-3% with its 95% interval inside +-5%, in each of two consecutive
  runs): ``analysis.calibration``;
- the null system call's ratio to native of UML and of TCG in each run, and
  their spread across runs (target: within 10% of each other over three
  consecutive runs);
- the gate on every pair of runs (the later against the earlier, held against
  the history of the runs before it): false alarms, with the regressions it
  named (target: none in at least 20 A/A comparisons).

Run: ``python -m benchmarks.lab_figures [--runs 7] [--results DIR] [--analyse-only]``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import analysis
from ringbench.files import atomic_write_json
from ringbench.results import ResultStore
from runners.cli.run import cmd_run
from runners.lab.paths import LabPaths

WALL_TARGET_S = 360.0
RATIO_SPREAD = 0.10


def measure(runs: int, inventory: Path, results: Path, console: Console) -> None:
    for i in range(runs):
        started = time.monotonic()
        code = cmd_run(
            Console(file=io.StringIO()), local=False, inventory=inventory, results=results
        )
        wall = time.monotonic() - started
        latest = ResultStore(results).runs()[-1]
        times = _walls(results)
        times[latest.run_id] = wall
        atomic_write_json(_walls_file(results), {"format_version": 1, "wall_s": times})
        console.print(f"run {i + 1}/{runs}: {latest.run_id} in {wall:.0f} s (exit {code})")


def _walls_file(results: Path) -> Path:
    """Beside the results root, not in it: a run directory holds only what ringbench wrote."""
    return results.parent / f"{results.name}-walls.json"


def _walls(results: Path) -> dict[str, float]:
    path = _walls_file(results)
    if not path.exists():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text())["wall_s"].items()}


def walls(results: Path) -> Table:
    table = Table(title=f"wall time of a default run of the lab (target {WALL_TARGET_S:.0f} s)")
    for column in ("run", "wall", "verdict"):
        table.add_column(column)
    for run_id, wall in _walls(results).items():
        verdict = "met" if wall <= WALL_TARGET_S else "MISSED"
        table.add_row(run_id, f"{wall:.0f} s", verdict)
    return table


def ratios(results: Path) -> Table:
    table = Table(title="syscall-null, ratio to native per run (target: within 10% over 3 runs)")
    for column in ("host", "per run", "max/min", "verdict"):
        table.add_column(column)
    per_host: dict[str, list[float]] = {}
    for run in ResultStore(results).runs():
        frame = analysis.overhead(analysis.load(run.path))
        rows = frame[frame["benchmark"] == "syscall-null"]
        for host, ratio in zip(rows["host"].astype(str), rows["ratio"], strict=True):
            per_host.setdefault(host, []).append(float(ratio))
    for host, values in per_host.items():
        worst = max(
            (max(w) / min(w) for w in _windows(values, 3)), default=max(values) / min(values)
        )
        verdict = "met" if worst <= 1 + RATIO_SPREAD else "MISSED"
        cells = ", ".join(f"x{v:.1f}" for v in values)
        table.add_row(host, cells, f"{worst:.3f} (worst 3 in a row)", verdict)
    return table


def _windows(values: list[float], size: int) -> list[list[float]]:
    return [values[i : i + size] for i in range(len(values) - size + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--inventory", type=Path, default=LabPaths.default().inventory)
    parser.add_argument("--results", type=Path, default=Path("results/lab-figures"))
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args(argv)
    console = Console()
    if not args.analyse_only:
        measure(args.runs, args.inventory, args.results, console)
    console.print(walls(args.results))
    console.print(ratios(args.results))
    for extra in (calibration_table, gate_table):
        table = extra(args.results)
        if table is not None:
            console.print(table)
    return 0


def calibration_table(results: Path) -> Table:
    """The known-truth calibration of every run (analysis.calibration)."""
    from analysis.calibration import calibration, summary_line

    table = Table(title="known-truth calibration per run (target: +-3%, intervals within +-5%)")
    for column in ("run", "calibration"):
        table.add_column(column)
    for run in ResultStore(results).runs():
        df = analysis.load(run.path)
        frame = analysis.overhead(df)
        table.add_row(run.run_id, summary_line(calibration(frame, df), frame))
    return table


def gate_table(results: Path) -> Table | None:
    """The gate on every pair of runs, the later against the earlier (A/A: nothing changed)."""
    from analysis.history import history_before, run_settings
    from analysis.regress import regressions

    runs = ResultStore(results).runs()
    table = Table(title="the gate on A/A pairs of default runs (target: 0 false alarms in 20+)")
    for column in ("pairs", "false alarms", "named"):
        table.add_column(column)
    alarms: list[str] = []
    pairs = list(itertools.combinations(runs, 2))
    for a, b in pairs:
        result = regressions(
            analysis.load(a.path),
            analysis.load(b.path),
            history=history_before(results, b.run_id),
            settings=run_settings(b.path),
        )
        flagged = result[result["change"] == "regression"]
        alarms += [
            f"{b.run_id} vs {a.run_id}: {h} {n}"
            for h, n in zip(flagged["host"], flagged["benchmark"], strict=True)
        ]
    table.add_row(str(len(pairs)), str(len(alarms)), "; ".join(alarms[:10]) or "-")
    return table


if __name__ == "__main__":
    sys.exit(main())
