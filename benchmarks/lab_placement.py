"""What pinning the lab's guests changes: the same guests, pinned and floating, in turns.

The lab pins every host process of its User-Mode Linux guest, and QEMU's
vCPU thread, to one CPU (``runners.lab.placement``). This measures the
choice on a lab that is up: the guests' processes are placed (pinned, then
floating: every CPU allowed, the scheduler decides) in alternation, and in
each placement the null system call, a page fault and a pipe round trip are
measured on the native host and each guest (a ``--fast``-sized run per
turn). Printed: per placement, each guest's median and ratio to native in
every turn, and their spread from turn to turn.

Run (root, lab up): ``python -m benchmarks.lab_placement [--turns 3] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from pathlib import Path

import pyperf
from rich.console import Console
from rich.table import Table

from ringbench.files import atomic_write_json
from ringbench.results import RunDir
from runners.cli.run import cmd_run
from runners.execute import RunConfig
from runners.lab.paths import LabPaths
from runners.lab.placement import Placement, place_running
from runners.lab.state import StateFile

BENCHES = ["syscall-null", "fault-anon", "sched-pipe-1cpu"]
# gVisor: the Sentry and the processes it traces, placed as UML's are (runners.lab.oci)
KINDS = {"uml": "guest", "gvisor": "guest", "tcg": "emulator", "kvm": "emulator"}
CONFIG = RunConfig(processes=3, values=5, warmups=1, min_time_s=0.01)


def median(run_dir: Path, host: str, bench: str) -> float:
    suite = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path(host)))
    return float(statistics.median(suite.get_benchmark(bench).get_values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--inventory", type=Path, default=LabPaths.default().inventory)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    console = Console()
    loaded = StateFile.load(LabPaths.default().state_file)
    if loaded is None:
        console.print("no lab is up: run 'ringbench lab up' first")
        return 2
    state = loaded.state
    pinned = Placement.from_json(state.placement) if state.placement else Placement.default()
    guests = [h for h in KINDS if h in state.hosts and state.hosts[h].state == "up"]
    figures: dict[str, list[dict[str, float]]] = {"pinned": [], "floating": []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.turns):
            for label, placement in (("floating", Placement(None)), ("pinned", pinned)):
                for host in guests:
                    pids = [p.pid for p in state.processes if p.host == host]
                    place_running(KINDS[host], pids, placement)
                results = Path(tmp) / f"{label}-{turn}"
                cmd_run(
                    Console(file=io.StringIO()),
                    local=False,
                    inventory=args.inventory,
                    host_patterns=["native", *guests],
                    bench_names=BENCHES,
                    config=CONFIG,
                    results=results,
                )
                (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
                row = {
                    f"{h} {b}": median(run_dir, h, b) for h in ["native", *guests] for b in BENCHES
                }
                figures[label].append(row)
                console.print(f"turn {turn + 1} {label}: done")
    for host in guests:  # leave the lab as it was
        pids = [p.pid for p in state.processes if p.host == host]
        place_running(KINDS[host], pids, pinned)
    table = Table(title="the lab's guests pinned and floating, turn by turn (ratio to native)")
    for column in ("guest", "benchmark", "placement", "per turn", "spread (max/min)"):
        table.add_column(column)
    for host in guests:
        for bench in BENCHES:
            for label, rows in figures.items():
                ratios = [r[f"{host} {bench}"] / r[f"native {bench}"] for r in rows]
                cells = ", ".join(
                    f"{r[f'{host} {bench}'] * 1e6:.2f} us (x{q:.3g})"
                    for r, q in zip(rows, ratios, strict=True)
                )
                table.add_row(host, bench, label, cells, f"{max(ratios) / min(ratios):.2f}")
    console.print(table)
    if args.json:
        atomic_write_json(args.json, {"format_version": 1, "figures": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
