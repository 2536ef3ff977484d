"""Parsers of the independent tools that `nox -s perf` compares against (captured output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reference import parse_perf_bench_syscall, parse_stress_ng_cpuid

DATA = Path(__file__).parent / "data"


def test_perf_bench_syscall_basic() -> None:
    text = (DATA / "perf-bench-syscall-basic.txt").read_text()
    assert parse_perf_bench_syscall(text) == pytest.approx(0.228330e-6)


def test_stress_ng_x86cpuid() -> None:
    text = (DATA / "stress-ng-x86cpuid.txt").read_text()
    assert parse_stress_ng_cpuid(text) == pytest.approx(4237.63e-9)


def test_unrecognised_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="usecs/op"):
        parse_perf_bench_syscall("perf: command not found")
    with pytest.raises(ValueError, match="nanosecs"):
        parse_stress_ng_cpuid("stress-ng: error")
