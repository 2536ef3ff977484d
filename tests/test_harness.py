"""The harness binary itself: the JSON-lines protocol, calibration, bad arguments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ringbench.errors import UnsupportedBenchmark
from suites.build import BuildInfo
from suites.catalog import Catalog
from suites.protocol import parse_run_output


def run(harness: BuildInfo, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(harness.path), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_list_is_one_json_document(harness: BuildInfo) -> None:
    out = run(harness, "list")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["format"] == 1 and data["timer"] == "CLOCK_MONOTONIC"
    assert out.stderr == ""


def test_every_benchmark_speaks_the_protocol(
    harness: BuildInfo, catalog: Catalog, workdir: Path
) -> None:
    """Each benchmark prints only JSON lines and ends well, or says why it cannot run."""
    for bench in catalog.benchmarks:
        out = run(
            harness,
            "run",
            bench.name,
            "--min-time",
            "0.002",
            "--values",
            "2",
            "--warmups",
            "1",
            "--dir",
            str(workdir),
        )
        assert out.returncode in (0, 3), f"{bench.name}: exit {out.returncode}: {out.stderr}"
        for line in out.stdout.splitlines():
            assert isinstance(json.loads(line), dict), f"{bench.name}: {line!r}"
        if out.returncode == 3:
            assert not bench.supported
            with pytest.raises(UnsupportedBenchmark):
                parse_run_output(out.stdout)
            continue
        result = parse_run_output(out.stdout)
        assert result.bench == bench.name
        assert len(result.values) == 2 and len(result.warmups) == 1
        assert all(v.value_s > 0 for v in result.values)
        assert out.stderr == "", f"{bench.name}: stderr {out.stderr!r}"
        assert list(workdir.iterdir()) == [], f"{bench.name} left files behind"


@pytest.mark.parametrize("bench", ["syscall-null", "trap-cpuid", "fault-anon"])
def test_calibration_reaches_min_time(harness: BuildInfo, bench: str, workdir: Path) -> None:
    min_time = 0.02
    out = run(
        harness, "run", bench, "--min-time", str(min_time), "--values", "3", "--dir", str(workdir)
    )
    result = parse_run_output(out.stdout)
    cal = result.calibration
    assert cal.calibrated and cal.steps
    loops = [step[0] for step in cal.steps]
    assert loops == sorted(set(loops)) and loops[0] == 1, "the count only grows, from 1"
    # a scaled step follows a step long enough to estimate from (an eighth of min-time)
    for (a, e), (b, _) in zip(cal.steps, cal.steps[1:], strict=False):
        if b != 2 * a:
            assert e >= min_time / 8, f"scaled from a step of {e} s"
    assert cal.steps[-1][1] >= min_time, "the last step reached min-time"
    assert all(s[1] < min_time for s in cal.steps[:-1]), "calibration stopped at the first"
    assert cal.loops == loops[-1]
    # every value measures the calibrated count (how long each took is the machine's say)
    assert all(v.loops == cal.loops for v in result.values)


def test_given_loops_are_used_as_given(harness: BuildInfo) -> None:
    result = parse_run_output(
        run(harness, "run", "syscall-null", "--loops", "1000", "--values", "2").stdout
    )
    assert not result.calibration.calibrated and result.calibration.steps == ()
    assert [v.loops for v in result.values] == [1000, 1000]


def test_timer_and_loop_cost_are_measured_and_small(harness: BuildInfo) -> None:
    result = parse_run_output(run(harness, "run", "syscall-null", "--min-time", "0.01").stdout)
    cal = result.calibration
    assert 0 < cal.timer_s < 1e-5 and 0 <= cal.loop_s < 1e-7
    assert cal.overhead_fraction < 0.01 and not cal.subtracted


def test_end_record_carries_rusage_and_clock(harness: BuildInfo) -> None:
    result = parse_run_output(run(harness, "run", "proc-fork", "--min-time", "0.01").stdout)
    assert result.end_realtime_ns >= result.start_realtime_ns
    assert result.end_monotonic_ns > result.start_monotonic_ns
    assert {"minflt", "nvcsw", "utime_s"} <= set(result.rusage)


def test_pinning_is_reported(harness: BuildInfo) -> None:
    result = parse_run_output(
        run(harness, "run", "syscall-null", "--cpu", "0", "--min-time", "0.005").stdout
    )
    assert result.cpu == 0
    last = max(os.sched_getaffinity(0))
    result = parse_run_output(
        run(harness, "run", "syscall-null", "--cpu", "auto", "--min-time", "0.005").stdout
    )
    assert result.cpu == last


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["run", "no-such-bench"], 2, "no-such-bench"),
        (["run", "syscall-null", "--loops", "abc"], 2, "--loops"),
        (["run", "syscall-null", "--loops", "-5"], 2, "--loops"),
        (["run", "syscall-null", "--values", "0"], 2, "--values"),
        (["run", "syscall-null", "--min-time", "-1"], 2, "--min-time"),
        (["run", "syscall-null", "--min-time", "nan"], 2, "--min-time"),
        (["run", "syscall-null", "--cpu", "4096"], 2, "--cpu"),
        (["run", "syscall-null", "--cpu", "first"], 2, "--cpu"),
        (["run", "syscall-null", "--param", "bogus=1"], 2, "bogus"),
        (["run", "syscall-null", "--frobnicate"], 2, "--frobnicate"),
        (["explode"], 2, "explode"),
        (
            ["run", "syscall-open-close", "--dir", "/nonexistent/ringbench"],
            1,
            "/nonexistent/ringbench",
        ),
        (["run", "io-pread", "--dir", "/proc"], 1, "/proc"),
    ],
)
def test_bad_arguments_get_one_line_and_nonzero_exit(
    harness: BuildInfo, args: list[str], code: int, words: str
) -> None:
    out = run(harness, *args)
    assert out.returncode == code, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], out.stderr
    for line in out.stdout.splitlines():
        assert json.loads(line)["type"] in ("error", "start")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runsc") is None,
    reason="needs root and runsc (gVisor; the lab installs it)",
)
def test_under_gvisor_the_counted_fault_benchmarks_say_why_they_cannot_run(
    harness: BuildInfo, tmp_path: Path
) -> None:
    """gVisor's kernel serves its workload's page faults without counting them: the fault
    benchmarks that check each touch was a fault are unsupported there, with that reason,
    and the one that counts no fault (fault-mprotect) runs. A real runsc sandbox (its state
    in a directory of the test's own)."""
    sandbox = ["runsc", "--root", str(tmp_path / "runsc"), "--platform=ptrace"]
    for bench, supported in (("fault-anon", False), ("fault-cow", False), ("fault-mprotect", True)):
        argv = [*sandbox, "--network=none", "do", str(harness.path), "run", bench]
        out = subprocess.run(
            [*argv, "--values", "2", "--min-time", "0.005", "--dir", "/tmp"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if supported:
            assert parse_run_output(out.stdout).values, out.stderr
            continue
        with pytest.raises(UnsupportedBenchmark, match=r"counts no page faults .* gVisor"):
            parse_run_output(out.stdout)
