"""What ``ringbench-bench count -- CMD`` prints, parsed (``suites/PROTOCOL.md``, "Counting a
command").

One ``count`` record (or one ``error`` record): the events of a command and of
all its descendants, counted under ptrace by the same static binary on every
host. The same defences as :mod:`suites.protocol`: the text is bounded before
it is parsed, every number is range-checked, anything out of format raises
:class:`ProtocolError` with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringbench.errors import HarnessError, ProtocolError
from suites.protocol import (
    MAX_SECONDS,
    RUSAGE_COUNTS,
    RUSAGE_TIMES,
    _get,
    _message,
    _num,
    excerpt,
    parse_records,
)

MAX_COUNT_CHARS = 64 * 1024  # one record: at most 1024 numbers of at most 20 digits each
MAX_NR = 1024  # the harness counts system calls numbered 0..1023 one by one
COUNTS = (
    "syscalls",
    "other_numbers",
    "forks",
    "threads",
    "execs",
    "fsyncs",
    "bytes_read",
    "bytes_written",
    "tasks_max",
)
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class CommandCount:
    """The events of one counted command (and its descendants).

    ``by_number`` maps a system call number to how often it was entered;
    ``forks`` counts new processes (fork, vfork, clone without a thread),
    ``threads`` new threads, ``execs`` successful execs (the command's own
    included). ``utime_s``, ``stime_s`` and the four rusage counts are the
    kernel's, for the command and the descendants it waited for, in the traced
    run: tracing stops the command twice per system call, so its context
    switches and system time hold the tracer's share (the timed runs, which
    are not traced, give the CPU times the model uses).
    """

    exit_code: int
    signal: int
    wall_s: float
    by_number: dict[int, int]
    counts: dict[str, int]
    rusage: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.counts[name] if name in self.counts else self.rusage[name]

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.signal == 0


def _uint(rec: dict[str, Any], key: str, line: int) -> int:
    value = _get(rec, key, int, line)
    if not 0 <= value <= UINT64_MAX:
        raise ProtocolError(f"harness output line {line}: '{key}' {value} out of range")
    return int(value)


def _by_number(rec: dict[str, Any], line: int) -> dict[int, int]:
    pairs = _get(rec, "by_number", list, line)
    if len(pairs) > MAX_NR:
        raise ProtocolError(f"harness output line {line}: more than {MAX_NR} system call numbers")
    out: dict[int, int] = {}
    for pair in pairs:
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
        )
        if not ok or not 0 <= pair[0] < MAX_NR or not 0 < pair[1] <= UINT64_MAX:
            raise ProtocolError(
                f"harness output line {line}: 'by_number' entry {excerpt(repr(pair), 40)} "
                "is not [number 0..1023, count]"
            )
        if pair[0] in out:
            raise ProtocolError(f"harness output line {line}: system call {pair[0]} twice")
        out[pair[0]] = pair[1]
    return out


def parse_count_output(text: str) -> CommandCount:
    """Turn the stdout of one ``ringbench-bench count`` into a :class:`CommandCount`.

    Raises :class:`HarnessError` for an ``error`` record (the command did not
    start or did not finish in time) and :class:`ProtocolError` for anything
    out of format or out of range; never another exception.
    """
    if len(text) > MAX_COUNT_CHARS:
        raise ProtocolError(f"count output is longer than {MAX_COUNT_CHARS} characters")
    try:
        records = parse_records(text)
        for rec in records:
            if rec["type"] == "error":
                raise HarnessError(_message(rec, "message"))
        if len(records) != 1 or records[0]["type"] != "count":
            raise ProtocolError("count output is not one 'count' record")
        return _count(records[0])
    except (HarnessError, ProtocolError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"count output: {type(exc).__name__}: {excerpt(str(exc))}") from None


def _count(rec: dict[str, Any]) -> CommandCount:
    line = rec["_line"]
    counts = {key: _uint(rec, key, line) for key in COUNTS}
    by_number = _by_number(rec, line)
    if sum(by_number.values()) + counts["other_numbers"] != counts["syscalls"]:
        raise ProtocolError(
            f"harness output line {line}: the system calls by number do not add up to 'syscalls'"
        )
    rusage: dict[str, float] = {key: float(_uint(rec, key, line)) for key in RUSAGE_COUNTS}
    for key in (*RUSAGE_TIMES, "wall_s"):
        value = _num(rec, key, line)
        if not 0 <= value < MAX_SECONDS:
            raise ProtocolError(f"harness output line {line}: '{key}' {value} out of range")
        rusage[key] = value
    exit_code = _get(rec, "exit_code", int, line)
    signal = _get(rec, "signal", int, line)
    if not -1 <= exit_code <= 255 or not 0 <= signal <= 128:
        raise ProtocolError(f"harness output line {line}: exit code or signal out of range")
    return CommandCount(
        exit_code=exit_code,
        signal=signal,
        wall_s=rusage.pop("wall_s"),
        by_number=by_number,
        counts=counts,
        rusage=rusage,
    )
