"""How fast a million values load and reach the overhead table (``nox -s perf``).

Target (issue 6): a million values, from files to the overhead table with
its intervals, in under 2 s. Two shapes of a million values, written as
ringbench result directories (pyperf suites with ringbench's metadata):

- one run: 20 hosts (one baseline, 19 environments) x 30 benchmarks x 5
  processes x 334 values: long runs, 600 (host, benchmark) groups;
- a history: 84 runs x 4 hosts x 30 benchmarks x 5 processes x 20 values:
  many short runs, 10080 groups. Reported, not a target: the bootstrap costs
  per group (2000 replicates of 5 processes), not per value, and a history is
  summarized once per run.

Prints the figures and the verdict; exits 1 when the target is missed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import analysis

TARGET_S = 2.0


def write_run(root: Path, run: str, hosts: int, benches: int, procs: int, values: int) -> int:
    rng = np.random.default_rng(abs(hash(run)) % 2**32)
    run_dir = root / run
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"format_version": 1, "run_id": run}))
    for h in range(hosts):
        name = f"h{h:02d}"
        suite = {
            "version": "1.0",
            "metadata": {
                "ringbench_format": 1,
                "host": name,
                "baseline": "h00",
                "virt_class": "hardware-assisted" if h == 0 else "container",
                "machine": "box",
                "binary_sha256": "ab" * 32,
                "kernel": "6.1.0",
                "unit": "second",
            },
            "benchmarks": [
                {
                    "metadata": {
                        "name": f"bench-{b:02d}",
                        "family": "syscall",
                        "mechanism": "ring-transition",
                    },
                    "runs": [
                        {
                            "metadata": {"clock_check": "ok", "steal_ticks": 0},
                            "values": (1e-7 * (1 + h / 10) * rng.lognormal(0, 0.03, values))
                            .round(12)
                            .tolist(),
                        }
                        for _ in range(procs)
                    ],
                }
                for b in range(benches)
            ],
        }
        (run_dir / f"{name}.json").write_text(json.dumps(suite))
    return hosts * benches * procs * values


def measure(paths: list[Path]) -> tuple[int, float, float, int]:
    start = time.perf_counter()
    df = analysis.load(paths)
    loaded = time.perf_counter()
    table = analysis.overhead(df)
    done = time.perf_counter()
    return len(df), loaded - start, done - loaded, len(table)


def main() -> int:
    console = Console()
    table = Table(title="analysis speed: files to the overhead table")
    for column in ("shape", "values", "load", "overhead table", "total", "target", "verdict"):
        table.add_column(column, justify="right" if column != "shape" else "left")
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_run(root / "one", "20261125T000000Z-000001", 20, 30, 5, 334)
        for r in range(84):
            write_run(root / "history", f"20261125T{r:06d}Z-00{r:04x}", 4, 30, 5, 20)
        for shape, path, target in (
            ("one run, 20 hosts", root / "one", TARGET_S),
            ("history, 84 runs", root / "history", None),
        ):
            values, load_s, over_s, rows = measure([path])
            total = load_s + over_s
            verdict = "reported" if target is None else ("met" if total < target else "MISSED")
            missed |= verdict == "MISSED"
            table.add_row(
                shape,
                f"{values:,}",
                f"{load_s:.2f} s",
                f"{over_s:.2f} s ({rows} rows)",
                f"{total:.2f} s",
                "-" if target is None else f"< {target:.0f} s",
                verdict,
            )
    console.print(table)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
