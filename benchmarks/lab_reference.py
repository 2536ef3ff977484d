"""ringbench's null system call against an independent tool in every lab environment.

In each host of the lab (native, container, User-Mode Linux, QEMU TCG), over
the same SSH connection ringbench uses, alternately: one ringbench
``syscall-null`` process (the deployed harness, pinned as a run pins it) and
one ``perf bench syscall basic`` (Linux's perf, ``getppid()`` in a loop, the
same operation; the lab's root file system carries linux-perf), pinned to
the same CPU with ``taskset``, its loop count sized to take about as long.
Each pair is measured seconds apart, so the machine's slow phases fall on
both; the figure is the median of the paired ratios (target: within 10% in
every environment).

Run (root, lab up): ``python -m benchmarks.lab_reference [--rounds 7] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.reference import parse_perf_bench_syscall
from ringbench.files import atomic_write_json
from runners.deploy import deploy
from runners.execute import RunConfig, measure_benchmark
from runners.inventory import load_inventory
from runners.lab.paths import LabPaths
from runners.plan import ConnectOptions, connect
from suites.build import build
from suites.catalog import load_catalog

TARGET = 0.10
CONFIG = RunConfig(processes=1, values=5, warmups=1, min_time_s=0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--inventory", type=Path, default=LabPaths.default().inventory)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    console = Console()
    info = build()
    bench = load_catalog(info.path).get("syscall-null")
    table = Table(title="null system call: ringbench against perf bench syscall basic, alternated")
    for column in (
        "host",
        "ringbench",
        "perf bench",
        "ratio (median of pairs)",
        "range",
        "verdict",
    ):
        table.add_column(column)
    figures: dict[str, dict[str, float]] = {}
    failed = False
    for host in load_inventory(args.inventory).hosts:
        conn = connect(host, ConnectOptions())
        try:
            binary = deploy(conn, info).path
            cpu = host.harness_cpu
            if cpu is None:  # the guest's last CPU, as --cpu auto picks
                cpu = int(conn.run(["nproc"], timeout_s=30).stdout.strip()) - 1
            config = dataclasses.replace(CONFIG, cpu=cpu)
            pairs = []
            for _ in range(args.rounds):
                outcome = measure_benchmark(conn, binary, bench, config)
                ours = outcome.processes[0].result.median_s
                loops = max(20_000, int(0.2 / ours))
                argv = ["taskset", "-c", str(cpu), "perf", "bench", "syscall", "basic"]
                result = conn.run([*argv, "--loop", str(loops)], timeout_s=600)
                pairs.append((ours, parse_perf_bench_syscall(result.stdout + result.stderr)))
        finally:
            conn.close()
        ratios = [a / b for a, b in pairs]
        ratio = statistics.median(ratios)
        ok = abs(ratio - 1) <= TARGET
        failed = failed or not ok
        figures[host.name] = {
            "ringbench_s": statistics.median(p[0] for p in pairs),
            "perf_s": statistics.median(p[1] for p in pairs),
            "ratio": ratio,
        }
        table.add_row(
            host.name,
            f"{figures[host.name]['ringbench_s'] * 1e9:.0f} ns",
            f"{figures[host.name]['perf_s'] * 1e9:.0f} ns",
            f"{ratio:.3f}",
            f"{min(ratios):.2f}-{max(ratios):.2f}",
            "met" if ok else "MISSED",
        )
    console.print(table)
    if args.json:
        atomic_write_json(args.json, {"format_version": 1, "target": TARGET, "hosts": figures})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
