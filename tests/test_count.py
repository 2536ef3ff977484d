"""``ringbench-bench count``: the events of a real command and its descendants, under ptrace."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ringbench.errors import HarnessError, ProtocolError
from suites.build import BuildInfo
from suites.counting import CommandCount, CommandTime, parse_count_output, parse_time_output

SYS_GETPPID = 110  # x86_64
SYS_WRITE = 1


def harness_run(
    harness: BuildInfo,
    mode: str,
    *command: str,
    options: tuple[str, ...] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``ringbench-bench MODE [OPTIONS] -- COMMAND`` (``count`` or ``time``), as it ended."""
    return subprocess.run(
        [str(harness.path), mode, *options, "--", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def counted(harness: BuildInfo, *command: str, options: tuple[str, ...] = ()) -> CommandCount:
    out = harness_run(harness, "count", *command, options=options)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return parse_count_output(out.stdout)


def test_every_system_call_of_a_known_loop_is_counted(harness: BuildInfo) -> None:
    """The harness's own null system call with a given count: exactly that many getppid()."""
    result = counted(
        harness, str(harness.path), "run", "syscall-null", "--loops", "1000",
        "--values", "1", "--warmups", "0",
    )  # fmt: skip
    assert result.succeeded
    assert result.by_number[SYS_GETPPID] == 1000
    assert result["execs"] == 1 and result["forks"] == 0 and result["threads"] == 0
    assert result["syscalls"] == sum(result.by_number.values()) + result["other_numbers"]


def test_forks_and_execs_of_descendants_are_followed(harness: BuildInfo) -> None:
    sh = shutil.which("sh")
    true = shutil.which("true")
    assert sh and true
    result = counted(harness, sh, "-c", f"for i in 1 2 3 4 5 6 7; do {true}; done")
    assert result["forks"] == 7, "one fork per external command"
    assert result["execs"] == 8, "the shell and seven true"
    assert result["tasks_max"] == 2


def test_threads_are_told_from_processes(harness: BuildInfo) -> None:
    program = (
        "import threading\n"
        "ts = [threading.Thread(target=lambda: None) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
    )
    result = counted(harness, sys.executable, "-S", "-c", program)
    assert result["threads"] == 4 and result["forks"] == 0


def test_bytes_and_fsyncs(harness: BuildInfo, workdir: Path) -> None:
    dd = shutil.which("dd")
    assert dd
    result = counted(
        harness, dd, "if=/dev/zero", "of=out", "bs=4096", "count=10", "conv=fsync",
        options=("--dir", str(workdir)),
    )  # fmt: skip
    assert (workdir / "out").stat().st_size == 40960, "ran in --dir"
    assert result["bytes_written"] >= 40960 and result["bytes_read"] >= 40960
    assert result["fsyncs"] == 1
    assert result.by_number[SYS_WRITE] >= 10


def test_a_signal_reaches_the_command_and_its_death_is_reported(harness: BuildInfo) -> None:
    caught = counted(harness, "sh", "-c", "trap 'exit 3' USR1; kill -USR1 $$; sleep 5")
    assert caught.exit_code == 3 and not caught.succeeded
    killed = counted(harness, "sh", "-c", "kill -9 $$")
    assert killed.signal == 9 and killed.exit_code == -1


def test_the_command_gets_default_signal_dispositions(harness: BuildInfo) -> None:
    """The harness ignores SIGPIPE; the counted command must not inherit that (an ignored
    signal survives exec): its SigIgn mask has no bit 13."""
    script = "ign=$(grep SigIgn /proc/self/status | cut -f2); exit $(( 0x$ign >> 12 & 1 ))"
    assert counted(harness, "sh", "-c", script).exit_code == 0


def test_a_command_that_does_not_finish_is_killed_with_one_line(harness: BuildInfo) -> None:
    out = harness_run(harness, "count", "sleep", "30", options=("--timeout", "0.5"))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "ringbench-bench: error: the command (or a process it left running) "
        "did not finish within 0.5 s: killed"
    )
    with pytest.raises(HarnessError, match=r"did not finish within 0\.5 s"):
        parse_count_output(out.stdout)


def test_a_command_that_cannot_run_is_one_line(harness: BuildInfo, workdir: Path) -> None:
    out = harness_run(harness, "count", str(workdir / "no-such-program"))
    assert out.returncode == 1
    assert "cannot run it (not found or not executable)" in out.stderr
    assert len(out.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "missing command"),
        (("--",), "missing command"),
        (("--timeout", "x", "--", "true"), "--timeout x"),
        (("--bogus", "--", "true"), "unexpected argument '--bogus'"),
    ],
)
def test_usage_errors(harness: BuildInfo, args: tuple[str, ...], message: str) -> None:
    out = subprocess.run(
        [str(harness.path), "count", *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 2 and message in out.stderr


GOOD = {
    "type": "count", "exit_code": 0, "signal": 0, "wall_s": 0.5, "syscalls": 3,
    "by_number": [[0, 1], [1, 2]], "other_numbers": 0, "forks": 0, "threads": 0, "execs": 1,
    "fsyncs": 0, "bytes_read": 10, "bytes_written": 20, "tasks_max": 1, "utime_s": 0.1,
    "stime_s": 0.1, "minflt": 5, "majflt": 0, "nvcsw": 1, "nivcsw": 1,
}  # fmt: skip


def edited(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


def test_a_good_record_parses() -> None:
    result = parse_count_output(edited())
    assert result.by_number == {0: 1, 1: 2} and result["bytes_written"] == 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (edited(syscalls=4), "do not add up"),
        (edited(by_number=[[0, 1], [0, 2]]), "twice"),
        (edited(by_number=[[5000, 3]]), "is not \\[number"),
        (edited(by_number=[[0, "x"]]), "is not \\[number"),
        (edited(forks=-1), "out of range"),
        (edited(wall_s=1e300), "out of range"),
        (edited(exit_code=999), "out of range"),
        (edited(execs=True), "not int"),
        (json.dumps({"type": "start"}), "not one 'count' record"),
        (edited() + "\n" + edited(), "not one 'count' record"),
        ("x" * 70_000, "longer than"),
        ("{", "harness output line 1"),
    ],
)
def test_hostile_count_output_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        parse_count_output(text)
    assert "\n" not in str(info.value)


# --- time: the same command, untraced ------------------------------------------------


def timed(harness: BuildInfo, *command: str, options: tuple[str, ...] = ()) -> CommandTime:
    out = harness_run(harness, "time", *command, options=options)
    assert out.returncode == 0, out.stderr
    return parse_time_output(out.stdout)


def test_time_reports_the_commands_wall_time_and_its_descendants_cpu(harness: BuildInfo) -> None:
    """A shell that sleeps 0.3 s and burns CPU in a child it waits for: the wall time holds
    the sleep; the CPU time is the child's (RUSAGE_CHILDREN of the command's waits)."""
    burn = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"
    result = timed(harness, "sh", "-c", f"sleep 0.3; sh -c '{burn}'")
    assert result.succeeded
    assert result.wall_s >= 0.3
    assert result.rusage["utime_s"] + result.rusage["stime_s"] > 0.01
    assert result.wall_s >= result.rusage["utime_s"]


def test_time_is_not_traced(harness: BuildInfo) -> None:
    """The timed command is nobody's tracee (a traced one would show its tracer's pid)."""
    script = "exit $(grep TracerPid /proc/self/status | cut -f2)"
    assert timed(harness, "sh", "-c", script).exit_code == 0


def test_time_kills_what_the_command_left_running(harness: BuildInfo, workdir: Path) -> None:
    marker = workdir / "left"
    script = f"(sleep 2; touch {marker}) & exit 4"
    result = timed(harness, "sh", "-c", script)
    assert result.exit_code == 4 and result.wall_s < 1.5
    subprocess.run(["sleep", "2.5"], check=True)
    assert not marker.exists(), "the background process of the command's group was killed"


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        (("sleep", "30"), ("--timeout", "0.5"), "did not finish within 0.5 s: killed"),
        (("no-such-program-here",), (), "cannot run it (No such file or directory)"),
        (("true",), ("--dir", "/no/such/dir"), "cannot set up its streams or its directory"),
    ],
)
def test_time_failures_are_one_line(
    harness: BuildInfo, command: tuple[str, ...], options: tuple[str, ...], message: str
) -> None:
    out = harness_run(harness, "time", *command, options=options)
    assert out.returncode == 1
    assert out.stderr.strip() == f"ringbench-bench: error: {command[0]}: {message}" or (
        out.stderr.strip() == f"ringbench-bench: error: the command {message}"
    )
    with pytest.raises(HarnessError, match=re.escape(message)):
        parse_time_output(out.stdout)


def test_hostile_time_output_is_one_line() -> None:
    good = {
        "type": "time", "exit_code": 0, "signal": 0, "wall_s": 1.5, "utime_s": 1.0,
        "stime_s": 0.2, "minflt": 5, "majflt": 0, "nvcsw": 1, "nivcsw": 1,
    }  # fmt: skip
    assert parse_time_output(json.dumps(good)).wall_s == 1.5
    for bad, message in (
        ({**good, "wall_s": -1}, "out of range"),
        ({**good, "nvcsw": "many"}, "not int"),
        ({**good, "type": "count"}, "not one 'time' record"),
    ):
        with pytest.raises(ProtocolError, match=message) as info:
            parse_time_output(json.dumps(bad))
        assert "\n" not in str(info.value)
