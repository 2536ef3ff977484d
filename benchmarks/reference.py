"""Independent, established tools that measure the same operations as ringbench.

- ``perf bench syscall basic`` (Linux's perf, Debian package linux-perf):
  ``getppid()`` in a loop, the same operation as ringbench's ``syscall-null``.
- ``stress-ng --x86cpuid`` (Debian package stress-ng): executes ``cpuid`` in
  a loop over a fixed mix of leaves and reports nanoseconds per instruction.
  ringbench's ``trap-cpuid`` runs leaf 0; under a hypervisor every leaf exits,
  so both measure the cost of one cpuid VM exit.

The parsers are pure functions, tested on captured output in ``tests/data/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess

TIMEOUT_S = 300.0


class ToolMissing(Exception):
    """The reference tool is not installed."""


def parse_perf_bench_syscall(text: str) -> float:
    """Seconds per call from ``perf bench syscall basic`` output."""
    match = re.search(r"^\s*([0-9.]+)\s+usecs/op\s*$", text, re.MULTILINE)
    if not match:
        raise ValueError("no 'usecs/op' line in perf bench output")
    return float(match.group(1)) * 1e-6


def parse_stress_ng_cpuid(text: str) -> float:
    """Seconds per cpuid instruction from ``stress-ng --x86cpuid --metrics-brief``."""
    match = re.search(r"x86cpuid\s+([0-9.]+)\s+nanosecs per cpuid instruction", text)
    if not match:
        raise ValueError("no 'nanosecs per cpuid instruction' line in stress-ng output")
    return float(match.group(1)) * 1e-9


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        raise ToolMissing(f"{argv[0]} is not installed (nox -s perf installs it on Debian)")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout + proc.stderr


def perf_bench_syscall(loops: int, cpu: int) -> float:
    return parse_perf_bench_syscall(
        _run(["taskset", "-c", str(cpu), "perf", "bench", "syscall", "basic", "--loop", str(loops)])
    )


def stress_ng_cpuid(cpu: int, seconds: int = 1) -> float:
    return parse_stress_ng_cpuid(
        _run(
            [
                "stress-ng",
                "--x86cpuid",
                "1",
                "--timeout",
                f"{seconds}s",
                "--taskset",
                str(cpu),
                "--metrics-brief",
            ]
        )
    )
