"""The JSON-lines parser, on captured output of the real harness (tests/data/run-*.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringbench.errors import HarnessError, ProtocolError, UnsupportedBenchmark
from suites.protocol import parse_run_output

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "run-syscall-null.jsonl").read_text()


def test_a_captured_run() -> None:
    result = parse_run_output(GOOD)
    assert result.bench == "syscall-null" and result.cpu == 1
    assert len(result.warmups) == 1 and len(result.values) == 3
    assert result.calibration.calibrated
    assert result.loops == result.calibration.loops == result.calibration.steps[-1][0]
    assert all(150e-9 < v.value_s < 400e-9 for v in result.values)
    assert result.wall_s > 0 and result.rusage["minflt"] > 0


def test_unsupported_and_error_records() -> None:
    with pytest.raises(UnsupportedBenchmark, match="O_DIRECT not supported") as info:
        parse_run_output((DATA / "run-unsupported.jsonl").read_text())
    assert info.value.bench == "io-direct-read"
    with pytest.raises(HarnessError, match="cannot create a file in /proc"):
        parse_run_output((DATA / "run-error.jsonl").read_text())


def test_output_cut_short_is_a_protocol_error() -> None:
    """A connection dropped mid-output leaves a prefix: never taken for a result."""
    lines = GOOD.splitlines()
    for keep in range(len(lines)):
        with pytest.raises(ProtocolError):
            parse_run_output("\n".join(lines[:keep]))
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_run_output(GOOD[: len(GOOD) // 2])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda ls: [ls[1], ls[0], *ls[2:]], "begin with a 'start'"),
        (lambda ls: [ls[0], *ls[2:]], "unexpected 'warmup'"),
        (lambda ls: [*ls, ls[-1]], "record after 'end'"),
        (lambda ls: [ls[0].replace('"format":1', '"format":2'), *ls[1:]], "format 2"),
        (
            lambda ls: [*ls[:3], ls[3].replace('"value_s":', '"value_s":-1,"x":'), *ls[4:]],
            r"line 4: 'value_s' -1.0 s is outside \(0, 1e\+06\) s",
        ),
        (lambda ls: [*ls[:-1], "garbage"], "not JSON"),
        (lambda ls: [*ls[:-1], "[1, 2]"], "no 'type'"),
    ],
)
def test_records_out_of_order_or_out_of_format(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match=message):
        parse_run_output("\n".join(mangle(GOOD.splitlines())))
