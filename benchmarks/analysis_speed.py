"""How fast a million values load and reach the overhead table (``nox -s perf``).

Targets:

- issue 12: ``analysis.load`` of a million values stored as about 700 host
  files of full-suite runs (30 benchmarks x 5 processes x 10 values each,
  every pyperf run with the metadata the runners write: pid, date, duration,
  rusage, steal time...), written by pyperf itself as the runners write them,
  in under 1 s;
- issue 6: a million values, from files to the overhead table with its
  intervals, in under 2 s.

Shapes of a million values, written as ringbench result directories:

- a history as the runners write it: 175 runs x 4 hosts (700 files), the
  load target above;

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
import pyperf
from rich.console import Console
from rich.table import Table

import analysis
from ringbench.results import ResultStore

TARGET_S = 2.0
LOAD_TARGET_S = 1.0
HOSTS = ("native", "container", "uml", "tcg")
FAMILIES = ("syscall", "trap", "fault", "sched", "process", "io", "net", "memory")


def host_facts(host: str) -> dict[str, object]:
    """What the runners' host metadata holds for a lab host (runners.record.host_metadata)."""
    return {
        "ringbench_format": 1,
        "host": host,
        "virt_class": "hardware-assisted" if host == "native" else "container",
        "virt_class_detected": "hardware-assisted",
        "virt_class_declared": "hardware-assisted",
        "virt_layers": "KVM",
        "machine": "box",
        "baseline": "native",
        "binary_sha256": "ab" * 32,
        "source_sha256": "cd" * 32,
        "compiler": "gcc (Debian 12.2.0-14) 12.2.0",
        "processes": 5,
        "hostname": host,
        "kernel": "6.1.0-28-amd64",
        "arch": "x86_64",
        "platform": "Linux-6.1.0-28-amd64-x86_64",
        "kernel_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
        "kernel_cmdline": "BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro quiet",
        "boot_time": "2026-11-30 08:00:00",
        "cpu_count": 2,
        "cpu_model_name": "AMD EPYC 7B13",
        "cpu_vendor": "AuthenticAMD",
        "cpu_hypervisor_flag": "yes",
        "clocksource": "kvm-clock",
        "thp": "madvise",
        "aslr": "2",
        "mitigations": "spectre_v1=usercopy/swapgs barriers | spectre_v2=Retpolines",
        "mem_total_kib": 24000000,
        "hugepages_total": 0,
    }


def write_lab_run(root: Path, run: str, rng: np.random.Generator) -> int:
    """One full-suite run of the four lab hosts, each suite dumped by pyperf as the
    runners dump it (``RunDir.write_suite``)."""
    run_dir = ResultStore(root).create(run)
    (run_dir.manifest_path).write_text(json.dumps({"format_version": 1, "run_id": run}))
    count = 0
    for host in HOSTS:
        benchmarks = []
        for b in range(30):
            runs = []
            for p in range(5):
                meta = {
                    **host_facts(host),
                    "name": f"bench-{b:02d}",
                    "unit": "second",
                    "loops": 4096,
                    "family": FAMILIES[b % len(FAMILIES)],
                    "mechanism": f"mechanism {b % 5}",
                    "operation": "call",
                    "description": f"operation number {b}",
                    "pid": int(rng.integers(1000, 60000)),
                    "date": f"2026-11-30 09:{b:02d}:{p:02d}",
                    "duration": 0.2 + float(rng.random()) * 0.01,
                    "min_time": 0.01,
                    "timer_s": 2e-8 * (1 + float(rng.random()) / 10),
                    "loop_overhead_s": 1e-10,
                    "overhead_fraction": 0.0005,
                    "overhead_subtracted": "no",
                    "clock_skew_s": 0.0,
                    "clock_check": "ok",
                    "cpu_affinity": "1",
                    "steal_ticks": int(rng.integers(0, 3)),
                    "rusage_minflt": int(rng.integers(90, 100)),
                    "rusage_majflt": 0,
                    "rusage_nvcsw": int(rng.integers(1, 5)),
                    "rusage_nivcsw": int(rng.integers(0, 9)),
                }
                if p == 0:
                    meta["calibrate_loops"] = 4096
                values = (1e-7 * rng.lognormal(0, 0.03, 10)).tolist()
                runs.append(
                    pyperf.Run(
                        values, warmups=[(4096, values[0])], metadata=meta, collect_metadata=False
                    )
                )
                count += len(values)
            benchmarks.append(pyperf.Benchmark(runs))
        run_dir.write_suite(host, benchmarks)
    return count


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


def _timed_load(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    df = analysis.load(path)
    return len(df), time.perf_counter() - start


def main() -> int:
    console = Console()
    table = Table(title="analysis speed: files to the overhead table")
    for column in ("shape", "values", "load", "overhead table", "total", "target", "verdict"):
        table.add_column(column, justify="right" if column != "shape" else "left")
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(12)
        for r in range(175):
            write_lab_run(root / "lab", f"20261130T{r // 60:02d}{r % 60:02d}00Z-{r:06x}", rng)
        files = sum(len(r.suite_files()) for r in ResultStore(root / "lab").runs())
        best = min(_timed_load(root / "lab") for _ in range(3))
        verdict = "met" if best[1] < LOAD_TARGET_S else "MISSED"
        missed |= verdict == "MISSED"
        table.add_row(
            f"load only: {files} host files of 175 lab runs",
            f"{best[0]:,}",
            f"{best[1]:.2f} s",
            "-",
            f"{best[1]:.2f} s",
            f"< {LOAD_TARGET_S:.0f} s",
            verdict,
        )
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
