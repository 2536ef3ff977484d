"""What ``ringbench-bench count -- CMD`` and ``ringbench-bench time -- CMD`` print, parsed
(``suites/PROTOCOL.md``, "`count`" and "`time`").

One ``count`` record (or one ``error`` record): the events of a command and of
all its descendants, counted under ptrace by the same static binary on every
host; one ``time`` record: its wall time and rusage, untraced. The same
defences as :mod:`suites.protocol`: the text is bounded before it is parsed,
every number is range-checked, anything out of format raises
:class:`ProtocolError` with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

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
T = TypeVar("T")


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

    def record(self) -> dict[str, Any]:
        """The harness's ``count`` record again (what :func:`parse_count_output` reads)."""
        rusage = {k: int(v) if k in RUSAGE_COUNTS else v for k, v in self.rusage.items()}
        return {
            "type": "count",
            "exit_code": self.exit_code,
            "signal": self.signal,
            "wall_s": self.wall_s,
            "by_number": [[nr, n] for nr, n in sorted(self.by_number.items())],
            **self.counts,
            **rusage,
        }


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


@dataclass(frozen=True)
class CommandTime:
    """One untraced run of a command: its wall time and the kernel's rusage of it and
    the descendants it waited for (``utime_s``, ``stime_s``, faults, context switches)."""

    exit_code: int
    signal: int
    wall_s: float
    rusage: dict[str, float]

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.signal == 0

    def record(self) -> dict[str, Any]:
        """The harness's ``time`` record again (what :func:`parse_time_output` reads)."""
        rusage = {k: int(v) if k in RUSAGE_COUNTS else v for k, v in self.rusage.items()}
        return {"type": "time", "exit_code": self.exit_code, "signal": self.signal,
                "wall_s": self.wall_s, **rusage}  # fmt: skip


def parse_time_output(text: str) -> CommandTime:
    """Turn the stdout of one ``ringbench-bench time`` into a :class:`CommandTime`; the
    errors of :func:`parse_count_output`."""
    return _parse(text, "time", _time)


def _time(rec: dict[str, Any]) -> CommandTime:
    exit_code, signal, rusage = _ending(rec)
    return CommandTime(exit_code, signal, rusage.pop("wall_s"), rusage)


def _parse(text: str, kind: str, build: Callable[[dict[str, Any]], T]) -> T:
    """The one ``kind`` record of ``text`` made into an object by ``build``; every failure
    a :class:`HarnessError` (an ``error`` record) or a one-line :class:`ProtocolError`."""
    if len(text) > MAX_COUNT_CHARS:
        raise ProtocolError(f"{kind} output is longer than {MAX_COUNT_CHARS} characters")
    try:
        records = parse_records(text)
        for rec in records:
            if rec["type"] == "error":
                raise HarnessError(_message(rec, "message"))
        if len(records) != 1 or records[0]["type"] != kind:
            raise ProtocolError(f"{kind} output is not one '{kind}' record")
        return build(records[0])
    except (HarnessError, ProtocolError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"{kind} output: {type(exc).__name__}: {excerpt(str(exc))}") from None


def _ending(rec: dict[str, Any]) -> tuple[int, int, dict[str, float]]:
    """(exit code, signal, rusage with ``wall_s``) of a ``count`` or ``time`` record."""
    line = rec["_line"]
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
    return exit_code, signal, rusage


def parse_count_output(text: str) -> CommandCount:
    """Turn the stdout of one ``ringbench-bench count`` into a :class:`CommandCount`.

    Raises :class:`HarnessError` for an ``error`` record (the command did not
    start or did not finish in time) and :class:`ProtocolError` for anything
    out of format or out of range; never another exception.
    """
    return _parse(text, "count", _count)


def _count(rec: dict[str, Any]) -> CommandCount:
    line = rec["_line"]
    counts = {key: _uint(rec, key, line) for key in COUNTS}
    by_number = _by_number(rec, line)
    if sum(by_number.values()) + counts["other_numbers"] != counts["syscalls"]:
        raise ProtocolError(
            f"harness output line {line}: the system calls by number do not add up to 'syscalls'"
        )
    exit_code, signal, rusage = _ending(rec)
    return CommandCount(
        exit_code=exit_code,
        signal=signal,
        wall_s=rusage.pop("wall_s"),
        by_number=by_number,
        counts=counts,
        rusage=rusage,
    )
