"""ringbench's own targets, measured on this machine (``nox -s perf``).

1. Accuracy: the null system call and cpuid, ringbench beside an independent
   established tool, interleaved in the same run, and their ratio
   (target: null system call within 5%).
2. Precision: coefficient of variation across processes of ``syscall-null``
   and ``trap-cpuid`` with the default settings (target: at most 2%).
3. Cost: the full suite's wall time with the default settings (target: at
   most 90 s) and with ``--fast`` (at most 15 s).

Prints a table of figures, targets and verdicts, writes them to
``results/perf/<run-id>.json`` and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.reference import ToolMissing, perf_bench_syscall, stress_ng_cpuid
from ringbench.files import atomic_write_json
from ringbench.results import BenchStatus, new_run_id
from runners.execute import DEFAULT, RunConfig, measure_benchmark
from runners.transport import LocalConnection
from suites.build import BuildInfo, build
from suites.catalog import Catalog, load_catalog

PERF_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Figure:
    what: str
    ringbench: str
    reference: str
    ratio: str
    target: str
    met: bool | None
    value: float


def ringbench_median(info: BuildInfo, catalog: Catalog, name: str, cpu: int) -> float:
    """One fresh, pinned process of ``name``: the median of its values."""
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(processes=1, values=5, warmups=1, min_time_s=0.02, cpu=cpu, workdir=tmp)
        outcome = measure_benchmark(LocalConnection(), str(info.path), catalog.get(name), config)
    if outcome.status is not BenchStatus.SUCCESS:
        raise RuntimeError(f"{name}: {outcome.reason}")
    return outcome.processes[0].result.median_s


def compare(info: BuildInfo, catalog: Catalog, rounds: int, cpu: int) -> list[Figure]:
    """Alternate ringbench and the reference tools, ``rounds`` short rounds each.

    The host's speed drifts over seconds, so each round pairs a ringbench
    figure with the reference figure taken right after it, on the same CPU,
    and the result is the median of the paired ratios.
    """
    pairs: dict[str, list[tuple[float, float]]] = {"null": [], "cpuid": []}
    for _ in range(rounds):
        ours = ringbench_median(info, catalog, "syscall-null", cpu)
        pairs["null"].append((ours, perf_bench_syscall(max(50_000, int(0.1 / ours)), cpu)))
        ours = ringbench_median(info, catalog, "trap-cpuid", cpu)
        pairs["cpuid"].append((ours, stress_ng_cpuid(cpu)))
    figures = []
    for key, what, tool, target in (
        ("null", "null system call", "perf bench syscall basic", 0.05),
        ("cpuid", "cpuid", "stress-ng --x86cpuid", None),
    ):
        a = statistics.median(p[0] for p in pairs[key])
        b = statistics.median(p[1] for p in pairs[key])
        ratios = [x / y for x, y in pairs[key]]
        ratio = statistics.median(ratios)
        figures.append(
            Figure(
                what=what,
                ringbench=f"{a * 1e9:.1f} ns",
                reference=f"{b * 1e9:.1f} ns ({tool})",
                ratio=f"{ratio:.3f} ({min(ratios):.2f}-{max(ratios):.2f})",
                target=f"within {target:.0%}" if target is not None else "(reported)",
                met=abs(ratio - 1) <= target if target is not None else None,
                value=ratio,
            )
        )
    return figures


def spread(info: BuildInfo, catalog: Catalog, trials: int) -> list[Figure]:
    """CV of the per-process medians with the default settings, over several trials.

    This machine's host has slow phases lasting about a second (every
    operation, even the fastest value of a process, costs up to 30% more), so
    one trial's CV depends on whether such a phase fell inside it: the median
    over ``trials`` trials is the figure, with the range beside it.
    """
    figures = []
    for name in ("syscall-null", "trap-cpuid"):
        cvs = []
        for _ in range(trials):
            outcome = measure_benchmark(
                LocalConnection(), str(info.path), catalog.get(name), DEFAULT
            )
            if outcome.status is not BenchStatus.SUCCESS:
                raise RuntimeError(f"{name}: {outcome.reason}")
            medians = [p.result.median_s for p in outcome.processes]
            cvs.append(statistics.stdev(medians) / statistics.fmean(medians))
        cv = statistics.median(cvs)
        figures.append(
            Figure(
                what=f"cv across {DEFAULT.processes} processes, {name}",
                ringbench=f"{cv:.2%} (median of {trials}; {min(cvs):.2%}-{max(cvs):.2%})",
                reference="-",
                ratio="-",
                target="at most 2%",
                met=cv <= 0.02,
                value=cv,
            )
        )
    return figures


def wall_time(fast: bool, limit_s: float) -> Figure:
    """The full suite on this machine through the real command line."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "runners.cli",
            "run",
            "--local",
            "--results",
            str(Path(tmp) / "results"),
            "--dir",
            tmp,
        ]
        if fast:
            argv.append("--fast")
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
        elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ringbench run failed: {proc.stderr.strip()[-400:]}")
    return Figure(
        what=f"full suite wall time{' --fast' if fast else ''}",
        ringbench=f"{elapsed:.1f} s",
        reference="-",
        ratio="-",
        target=f"at most {limit_s:.0f} s",
        met=elapsed <= limit_s,
        value=elapsed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="paired comparison rounds")
    parser.add_argument("--cpu", type=int, default=1, help="CPU both tools are pinned to")
    parser.add_argument("--trials", type=int, default=5, help="trials of the spread measure")
    parser.add_argument("--skip-wall", action="store_true", help="skip the full-suite timings")
    args = parser.parse_args(argv)
    console = Console()
    info = build()
    catalog = load_catalog(info.path)
    console.print(f"ringbench-bench sha256 {info.sha256[:16]}, {info.compiler}")
    figures: list[Figure] = []
    try:
        with console.status("comparing with perf bench and stress-ng"):
            figures += compare(info, catalog, args.rounds, args.cpu)
    except ToolMissing as exc:
        console.print(f"[yellow]comparison skipped: {exc}[/yellow]")
    with console.status("spread across processes"):
        figures += spread(info, catalog, args.trials)
    if not args.skip_wall:
        with console.status("full suite, default settings"):
            figures.append(wall_time(False, 90.0))
        with console.status("full suite, --fast"):
            figures.append(wall_time(True, 15.0))
    table = Table(title="ringbench on this machine")
    for column in ("measure", "ringbench", "independent tool", "ratio", "target", "met"):
        table.add_column(column)
    for f in figures:
        met = "-" if f.met is None else ("yes" if f.met else "[red]NO[/red]")
        table.add_row(f.what, f.ringbench, f.reference, f.ratio, f.target, met)
    console.print(table)
    out = Path("results") / "perf" / f"{new_run_id()}.json"
    atomic_write_json(
        out,
        {
            "format_version": PERF_FORMAT,
            "binary_sha256": info.sha256,
            "figures": [asdict(f) for f in figures],
        },
    )
    console.print(f"figures written to {out}")
    return 1 if any(f.met is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
