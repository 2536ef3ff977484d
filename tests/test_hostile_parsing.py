"""Whatever a host prints is data: hostile harness output, probe output and /proc text.

Each hostile output below made the landed code raise something other than a
ProtocolError (RecursionError, ValueError, OverflowError), or accept a number
that then poisoned the results. Every one must now be a ProtocolError with
one short, printable line, from the parsers and through a real benchmark
process (a script that prints the output, run as the harness binary).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pyperf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringbench.errors import HarnessError, ProtocolError, UnsupportedBenchmark
from ringbench.results import BenchStatus
from runners.classify import Classification
from runners.execute import FAST, BenchMeasurement, BenchOutcome, TimedProcess
from runners.hostfacts import (
    MAX_BATCH_CHARS,
    MAX_FACT_CHARS,
    MAX_FILE_CHARS,
    UNPARSABLE,
    HostReader,
    Metadata,
    collect_cpu,
    collect_memory,
    collect_system,
    parse_batch,
)
from runners.inventory import load_inventory
from runners.probe import ProbedHost
from runners.record import host_metadata, to_pyperf_benchmark
from runners.transport import LocalConnection
from suites.build import BuildInfo
from suites.catalog import Benchmark
from suites.protocol import (
    MAX_LINE_CHARS,
    MAX_PROBE_CHARS,
    MAX_RUN_CHARS,
    excerpt,
    parse_probe_output,
    parse_run_output,
)

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "run-syscall-null.jsonl").read_text().splitlines()
START, CAL, WARMUP, VALUE, END = 0, 1, 2, 3, 6
SHORT = 300  # what "one short line" means here


def edit(index: int, path: str, raw: str | None) -> str:
    """GOOD with the field ``path`` (``a.b`` for nested) of record ``index`` replaced by the
    raw JSON text ``raw`` (None: removed), which may be anything, even outside JSON."""
    lines = list(GOOD)
    rec = json.loads(lines[index])
    *parents, key = path.split(".")
    obj = rec
    for parent in parents:
        obj = obj[parent]
    if raw is None:
        del obj[key]
        lines[index] = json.dumps(rec)
    else:
        obj[key] = "@@RAW@@"
        lines[index] = json.dumps(rec).replace('"@@RAW@@"', raw)
    return "\n".join(lines)


def insert(index: int, line: str) -> str:
    return "\n".join([*GOOD[:index], line, *GOOD[index:]])


def with_error(message: str) -> str:
    return "\n".join([GOOD[START], json.dumps({"type": "error", "message": message})])


BIG = "9" * 400
HOSTILE: dict[str, tuple[str, str]] = {
    # name: (output, words of the one line)
    "a line of 100,000 [": ("[" * 100_000, f"longer than {MAX_LINE_CHARS}"),
    "60,000 [ on one line": ("[" * 60_000, "nested too deeply"),
    "records nested 4 deep": (edit(START, "params", '{"a":{"b":{"c":1}}}'), "nested more than 3"),
    "an integer of 4,301 digits": (edit(START, "pid", "1" * 4301), "an integer of 4301 digits"),
    "Infinity in a parameter": (edit(START, "params.x", "Infinity"), "Infinity is not a number"),
    "NaN in a parameter": (edit(START, "params.x", "NaN"), "NaN is not a number"),
    "-Infinity as elapsed_s": (edit(VALUE, "elapsed_s", "-Infinity"), "-Infinity is not a number"),
    "a 400-digit elapsed_s": (edit(VALUE, "elapsed_s", BIG), "an integer of 400 digits"),
    "a 400-digit float elapsed_s": (edit(VALUE, "elapsed_s", BIG + ".5"), "a number of 402"),
    "elapsed_s 1e400": (edit(VALUE, "elapsed_s", "1e400"), "1e400 is out of range"),
    "elapsed_s 1e300": (edit(VALUE, "elapsed_s", "1e300"), "'elapsed_s' 1e+300 s is outside"),
    "elapsed_s 0": (edit(VALUE, "elapsed_s", "0"), "'elapsed_s' 0.0 s is outside"),
    "value_s 2e6": (edit(VALUE, "value_s", "2e6"), "'value_s' 2000000.0 s is outside"),
    "steal_ticks 10**400": (edit(END, "steal_ticks", "1" + "0" * 400), "an integer of 401"),
    "steal_ticks 2**64": (
        edit(END, "steal_ticks", str(2**64)),
        "'steal_ticks' 18446744073709551616",
    ),
    "steal_ticks -1": (edit(END, "steal_ticks", "-1"), "'steal_ticks' -1 is outside"),
    "steal_ticks a string": (edit(END, "steal_ticks", '"12"'), "neither int nor null"),
    "rusage minflt 2**63": (edit(END, "rusage.minflt", str(2**63)), "'rusage minflt'"),
    "rusage utime_s -1": (edit(END, "rusage.utime_s", "-1"), "'rusage utime_s' -1.0 s"),
    "param beyond int64": (edit(START, "params.x", str(2**63)), "'param x' 9223372036854775808"),
    "realtime_ns 0": (edit(START, "realtime_ns", "0"), "between the years 2000 and 2100"),
    "realtime_ns in 2200": (edit(END, "realtime_ns", "7258118400000000000"), "years 2000"),
    "monotonic clock going back": (edit(END, "monotonic_ns", "1"), "'monotonic_ns' 1 is outside"),
    "loops 0": (edit(VALUE, "loops", "0"), "'loops' 0 is outside 1..1099511627776"),
    "loops 2**41": (edit(CAL, "loops", str(2**41)), "'loops' 2199023255552 is outside"),
    "a value of other loops": (edit(VALUE, "loops", "8192"), "value 0 has 8192 loops"),
    "a value index twice": (edit(VALUE + 1, "index", "0"), "value 1 has index 0"),
    "cpu 70000": (edit(START, "cpu", "70000"), "'cpu' 70000 is outside -1..65535"),
    "pid 0": (edit(START, "pid", "0"), "'pid' 0 is outside"),
    "100 steps": (edit(CAL, "steps", json.dumps([{"loops": 1, "elapsed_s": 1.0}] * 100)), "steps"),
    "a benchmark name with escapes": (
        edit(START, "bench", '"\\u001b[2Jsyscall"'),
        "'\\x1b[2Jsyscall' is not a benchmark name",
    ),
    "a record type with escapes": (
        insert(VALUE, '{"type":"\\u001b]0;pwned\\u0007"}'),
        "unexpected '\\x1b]0;pwned\\x07' record",
    ),
    "truncated output": ("\n".join(GOOD)[: len("\n".join(GOOD)) - 40], "not JSON"),
    "binary garbage": ("\x00\x7fELF\x1b[31m\ufffd\ufffd\udc80\x9b", "not JSON"),
    "an error record with a 1 MB message": (with_error("x" * 1_000_000), "longer than"),
    "an error message that is not a string": (
        "\n".join([GOOD[START], '{"type":"error","message":{"a":1}}']),
        "'message' is not a string",
    ),
    "duplicate start records": (insert(1, GOOD[START]), "unexpected 'start' record"),
    "a key twice": (insert(VALUE, GOOD[VALUE][:-1] + ',"type":"end"}'), "'type' appears twice"),
    "loops a string": (edit(VALUE, "loops", '"16384"'), "'loops' missing or not int"),
    "calibrated 1": (edit(CAL, "calibrated", "1"), "'calibrated' missing or not bool"),
    "a parameter a string": (edit(START, "params.x", '"12"'), "'params' 'x' missing or not int"),
    "a parameter a float": (edit(START, "params.x", "1.5"), "'params' 'x' missing or not int"),
    "rusage a list": (edit(END, "rusage", "[]"), "'rusage' missing or not dict"),
    "no rusage": (edit(END, "rusage", None), "'rusage' missing"),
    "no minflt": (edit(END, "rusage.minflt", None), "'rusage' 'minflt' missing"),
    "no pid": (edit(START, "pid", None), "'pid' missing or not int"),
    "status failed": (edit(END, "status", '"failed"'), "status 'failed', not 'ok'"),
    "more than 8 MiB": (
        "\n".join([*GOOD[:-1], *[GOOD[VALUE]] * (MAX_RUN_CHARS // len(GOOD[VALUE])), GOOD[END]]),
        f"longer than {MAX_RUN_CHARS}",
    ),
}


def one_short_line(message: str) -> None:
    assert len(message) < SHORT, message[:SHORT]
    assert message.isprintable(), message


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_run_output_is_a_protocol_error_of_one_short_line(name: str) -> None:
    text, words = HOSTILE[name]
    with pytest.raises(ProtocolError) as info:
        parse_run_output(text)
    message = str(info.value)
    assert words in message
    one_short_line(message)


def test_the_untouched_output_parses() -> None:
    """The table's edits break only what they name: GOOD itself, and an edit to an
    allowed value, parse."""
    assert parse_run_output("\n".join(GOOD)).values
    assert parse_run_output(edit(END, "steal_ticks", "null")).steal_ticks is None
    assert parse_run_output(edit(START, "params.x", str(2**63 - 1))).params["x"] == 2**63 - 1


def test_a_harness_error_or_reason_is_shown_short_and_printable() -> None:
    with pytest.raises(HarnessError) as info:
        parse_run_output(with_error("disk on fire\x1b[2J\n" + "y" * 10_000))
    assert not isinstance(info.value, ProtocolError)
    assert str(info.value).startswith("disk on fire\\x1b[2J y")
    one_short_line(str(info.value))
    reason = json.dumps({"type": "unsupported", "bench": "io-x", "reason": "\x07" * 5_000})
    with pytest.raises(UnsupportedBenchmark) as unsupported:
        parse_run_output(reason)
    one_short_line(str(unsupported.value))


@settings(max_examples=300, deadline=None, database=None)
@given(
    line=st.integers(0, len(GOOD) - 1),
    at=st.integers(0, 400),
    junk=st.text(max_size=40) | st.sampled_from(["[", "{", "1e999", "9" * 30, '"', "NaN", "-"]),
)
def test_any_splice_of_junk_is_a_result_or_a_harness_error(line: int, at: int, junk: str) -> None:
    lines = list(GOOD)
    lines[line] = lines[line][:at] + junk + lines[line][at:]
    try:
        parse_run_output("\n".join(lines))
    except HarnessError as exc:
        one_short_line(str(exc))


# --- probe output ---------------------------------------------------------------------

PROBE = {
    "format": 1,
    "arch": "x86_64",
    "cpuid": {
        "available": True,
        "vendor": "AuthenticAMD",
        "brand": "AMD EPYC",
        "hypervisor_bit": True,
        "hypervisor_vendor": "KVMKVMKVM",
        "hypervisor_max_leaf": 1073741825,
    },
}


def probe(**cpuid: object) -> str:
    return json.dumps({**PROBE, "cpuid": {**PROBE["cpuid"], **cpuid}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100_000, f"longer than {MAX_PROBE_CHARS}"),
        ("[" * 30_000, "nested too deeply"),
        (probe(hypervisor_max_leaf={"a": {"b": 1}}), "nested more than 2"),
        (probe().replace("1073741825", "9" * 4400), "an integer of 4400 digits"),
        (probe(hypervisor_max_leaf=2**40), "'hypervisor_max_leaf' is not a 32-bit"),
        (probe(hypervisor_bit="yes"), "'hypervisor_bit' missing or not bool"),
        (probe(vendor="V" * 1000), "'vendor' is not a string of at most 64"),
        (probe(brand=12), "'brand' is not a string"),
        (probe(available=None), "printed no cpuid object"),
        (probe().replace("1073741825", "NaN"), "NaN is not a number"),
        ("\x00\xff\x1b[31m garbage", "probe output is not JSON: '\\x00"),
        (json.dumps({**PROBE, "format": 2}), "does not speak probe format 1"),
    ],
)
def test_hostile_probe_output_is_a_protocol_error(text: str, words: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_probe_output(text)
    assert words in str(info.value)
    one_short_line(str(info.value))


def test_probe_strings_are_made_printable_and_unknown_keys_left_out() -> None:
    cpuid = parse_probe_output(probe(hypervisor_vendor="KVM\x1b[2J", extra="x" * 100))
    assert cpuid["hypervisor_vendor"] == "KVM\\x1b[2J"
    assert "extra" not in cpuid


# --- /proc and sysfs text -------------------------------------------------------------


def injected(files: dict[str, str]) -> HostReader:
    """A real reader of this machine whose answers for ``files`` are injected: hostile
    /proc text is a fault no real kernel produces on demand."""
    reader = HostReader(LocalConnection())
    reader._seen.update({path: ("f", text) for path, text in files.items()})
    return reader


@pytest.mark.parametrize(
    "btime", ["999999999999", "1" * 5000, "-5", "\u0661\u0662\u0663", "12abc", ""]
)
def test_a_boot_time_out_of_range_is_left_out_and_named(btime: str) -> None:
    meta: Metadata = {}
    collect_system(injected({"/proc/stat": f"cpu  1 2 3\nbtime {btime}\n"}), meta)
    assert "boot_time" not in meta
    assert meta[UNPARSABLE] == "boot_time"


def test_a_boot_time_in_range_is_kept() -> None:
    meta: Metadata = {}
    collect_system(injected({"/proc/stat": "btime 1700000000\n"}), meta)
    assert meta["boot_time"] == "2023-11-14 22:13:20" and UNPARSABLE not in meta


def test_memory_sizes_out_of_range_are_left_out_and_named() -> None:
    meta: Metadata = {}
    text = f"MemTotal:       {'9' * 400} kB\nHugePages_Total:  {2**64}\n"
    collect_memory(injected({"/proc/meminfo": text}), meta)
    assert "mem_total_kib" not in meta and "hugepages_total" not in meta
    assert meta[UNPARSABLE] == "hugepages_total mem_total_kib"
    collect_memory(injected({"/proc/meminfo": "MemTotal:  16384 kB\n"}), meta)
    assert meta["mem_total_kib"] == 16384


def test_text_facts_are_printable_and_bounded() -> None:
    meta: Metadata = {}
    hostname = "evil\x1b]0;owned\x07host"
    collect_system(injected({"/proc/sys/kernel/hostname": hostname}), meta)
    collect_cpu(
        injected({"/proc/cpuinfo": f"processor\t: 0\nmodel name\t: {'Z' * 100_000}\n"}), meta
    )
    assert meta["hostname"] == "evil\\x1b]0;owned\\x07host"
    assert meta["cpu_model_name"] == "Z" * MAX_FACT_CHARS + "..."


def test_a_batch_too_large_or_out_of_format_is_bounded() -> None:
    b = "ringbench-0123456789abcdef"
    with pytest.raises(ProtocolError, match=f"more than {MAX_BATCH_CHARS}"):
        parse_batch("x" * (MAX_BATCH_CHARS + 1), b)
    big = "y" * (MAX_FILE_CHARS + 1)
    out = f"\n{b} /a\nf\n{big}\n{b} /b\n?\ntext\n{b} /a\nf\nsecond answer"
    assert parse_batch(out, b) == {"/a": ("e", ""), "/b": ("e", "")}


def test_a_hostile_directory_listing_is_filtered_and_capped() -> None:
    listing = "\n".join(["../../etc", "a b", "\x1b[2J", *[f"v{i}" for i in range(1000)], "ok"])
    reader = HostReader(LocalConnection())
    reader._seen["/x"] = ("d", listing)
    names = reader.listdir("/x")
    assert names is not None and len(names) == 256
    assert all(n.startswith("v") or n in ("a", "b") for n in names)


def test_excerpt_escapes_and_cuts() -> None:
    assert excerpt("a\x1b\n\udc80b", 20) == "a\\x1b\\n\\udc80b"
    assert excerpt("x" * 100, 5) == "xxxxx..."
    assert excerpt("line\nnext\x00", 80, keep="\n") == "line\nnext\\x00"


# --- through a real process: the benchmark ends FAILED with its reason ----------------

BENCH = Benchmark("syscall-null", "syscall", "ring-transition", "s/call", "test", (), True, "")


def fake_harness(tmp_path: Path, stdout: bytes, exit_code: int, stderr: bytes = b"") -> str:
    """An executable that prints ``stdout`` (and ``stderr``) and exits ``exit_code``,
    standing in for the harness: a host's harness can print anything."""
    (tmp_path / "out").write_bytes(stdout)
    (tmp_path / "err").write_bytes(stderr)
    script = tmp_path / "ringbench-bench"
    script.write_text(
        f"#!/bin/sh\ncat '{tmp_path}/out'\ncat '{tmp_path}/err' >&2\nexit {exit_code}\n"
    )
    script.chmod(0o755)
    return str(script)


def measure(binary: str) -> BenchMeasurement:
    run = BenchMeasurement(LocalConnection("hostile"), binary, BENCH, FAST)
    run.step()
    assert not run.pending, "one bad process ends the benchmark"
    return run


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("exit_code", [0, 1])
def test_hostile_output_of_a_real_process_fails_the_benchmark(
    tmp_path: Path, name: str, exit_code: int
) -> None:
    text, words = HOSTILE[name]
    stdout = text.encode(errors="surrogateescape")
    run = measure(fake_harness(tmp_path, stdout, exit_code, b"boom\x1b[2J\n"))
    assert run.status is BenchStatus.FAILED
    # The reason names no host: the manifest keeps it under the host, and what shows it
    # says the host ("hostile syscall-null: failed: ...") once.
    assert not run.reason.startswith("hostile")
    if exit_code == 0:
        assert words in run.reason
    else:
        assert run.reason.startswith("harness exited 1: boom\\x1b[2J (stdout: ")
    one_short_line(run.reason)
    assert run.done == []


def test_a_process_that_exits_3_with_a_result_fails(tmp_path: Path) -> None:
    run = measure(fake_harness(tmp_path, "\n".join(GOOD).encode(), 3))
    assert run.status is BenchStatus.FAILED and "exited 3 (unsupported)" in run.reason


def test_a_process_killed_after_a_whole_result_fails(tmp_path: Path) -> None:
    run = measure(fake_harness(tmp_path, "\n".join(GOOD).encode(), 137, b"Killed\n"))
    assert run.status is BenchStatus.FAILED
    assert run.reason == "harness exited 137: Killed (after printing a whole result)"


def test_an_error_record_on_exit_1_is_the_reason(tmp_path: Path) -> None:
    run = measure(fake_harness(tmp_path, with_error("no space left").encode(), 1))
    assert run.status is BenchStatus.FAILED and run.reason == "no space left"


def test_a_good_output_still_measures(tmp_path: Path) -> None:
    run = BenchMeasurement(
        LocalConnection("hostile"), fake_harness(tmp_path, "\n".join(GOOD).encode(), 0), BENCH, FAST
    )
    run.step()
    assert run.status is BenchStatus.SUCCESS and len(run.done) == 1


# --- the harness's files vanish even on SIGKILL ---------------------------------------


def holds_a_file_in(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` has a file of ``directory`` open (named or not)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith(f"{directory}/"):
            return True
    return False


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the harness never opened its file"
        time.sleep(0.02)


@pytest.mark.parametrize("bench", ["io-pread", "io-write-sync", "io-direct-read", "fault-file"])
def test_sigkill_leaves_no_file_in_the_workdir(
    harness: BuildInfo, workdir: Path, bench: str
) -> None:
    proc = subprocess.Popen(
        [str(harness.path), "run", bench, "--min-time", "600", "--dir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        if first["type"] == "unsupported":
            pytest.skip(f"{bench}: {first['reason']}")
        assert first["type"] == "start"
        wait_for(lambda: holds_a_file_in(proc.pid, workdir))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert list(workdir.iterdir()) == [], f"{bench} left a file after SIGKILL"


# --- only range-checked numbers reach the results -------------------------------------


def test_only_storable_facts_reach_the_pyperf_metadata(tmp_path: Path) -> None:
    """Facts come from collectors that check them; any that is not a finite number within
    int64 (or a bounded string) is still left out here, and named, never written."""
    host = load_inventory(Path(__file__).parent.parent / "inventory.yaml").hosts[0]
    facts: Metadata = {
        "mem_total_kib": 10**400,
        "cpu_count": 4,
        "odd": math.nan,
        "far": math.inf,
        "long": "x" * 100_000,
        "lines": "a\nb",
        "blank": "  ",
        "kernel": "6.1.0",
        UNPARSABLE: "boot_time",
    }
    probed = ProbedHost(facts, Classification(()), None, {})
    build = BuildInfo(tmp_path / "rb", "0" * 64, "1" * 64, "cc", (), "x86_64")
    meta = host_metadata(host, probed, build, FAST)
    assert meta["cpu_count"] == 4 and meta["kernel"] == "6.1.0"
    assert not {"mem_total_kib", "odd", "far", "long", "lines", "blank"} & set(meta)
    assert meta[UNPARSABLE] == "blank boot_time far lines long mem_total_kib odd"
    proc = TimedProcess(parse_run_output("\n".join(GOOD)), 0.0, 4e9)
    bench = to_pyperf_benchmark(BenchOutcome(BENCH, BenchStatus.SUCCESS, (proc,)), meta)
    stored = tmp_path / "suite.json"
    pyperf.BenchmarkSuite([bench]).dump(str(stored))
    assert json.loads(stored.read_text())  # plain JSON: no NaN, no 400-digit integer
