"""The harness's protocol: what ``ringbench-bench`` prints, parsed (``suites/PROTOCOL.md``).

Three documents, one format version (:data:`FORMAT`, the ``format`` field of
each): the JSON lines of ``run`` (:func:`parse_run_output`), the catalog of
``list`` (:func:`suites.catalog.parse_catalog`) and the ``probe`` object
(:func:`parse_probe_output`). Pure functions over text, tested on captured
output under ``tests/data/`` and on hostile output (tests/test_hostile_parsing.py).

Whatever a host printed is data: bounded before it is parsed (a document of
at most :data:`MAX_RUN_CHARS`, lines of at most :data:`MAX_LINE_CHARS`, JSON
nested at most three deep, integers of at most :data:`MAX_INT_DIGITS` digits,
finite numbers only, no key twice), then every number is checked against the
range it can take. Anything out of format or out of range raises
:class:`ProtocolError` with one line that says what was wrong and quotes at
most :func:`excerpt` of it; no other exception leaves these parsers.
:func:`load_json`, :func:`parse_uint` and :func:`excerpt` are the same
defences for the other readers of host text (``runners/hostfacts.py``,
``runners/probe.py``).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ringbench.errors import HarnessError, ProtocolError, UnsupportedBenchmark

FORMAT = 1

MAX_LINE_CHARS = 64 * 1024  # one record; the longest the harness prints is ~2 KiB
MAX_RUN_CHARS = 8 * 1024 * 1024  # one process's output; 10,000 values take ~1.5 MB
MAX_PROBE_CHARS = 64 * 1024
MAX_INT_DIGITS = 20  # 2**64 has 20 digits
MAX_NUMBER_CHARS = 40  # "%.17g" prints at most 24
MAX_MESSAGE_CHARS = 200  # of a harness's error or reason, as shown
INT64_MAX = 2**63 - 1
MAX_LOOPS = 2**40  # RB_MAX_LOOPS
MAX_STEPS = 64  # calibration doubles from 1 to at most 2**40 (41 steps), then scales
MAX_SECONDS = 1e6  # any time the harness reports: elapsed, per operation, min-time, CPU time
MAX_RATIO = 1e12  # overhead_fraction
MAX_PID = 2**31 - 1
MAX_CPU = 65535
MAX_PARAMS = 16
# CLOCK_REALTIME (and boot times) must lie in 2000..2100.
EPOCH_2000_S = 946_684_800
EPOCH_2100_S = 4_102_444_800
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # benchmark and parameter names
ARCH = re.compile(r"[A-Za-z0-9_.-]{1,32}")
RUSAGE_COUNTS = ("minflt", "majflt", "nvcsw", "nivcsw")
RUSAGE_TIMES = ("utime_s", "stime_s")
_UINT = re.compile(rf"[0-9]{{1,{MAX_INT_DIGITS}}}")


def excerpt(text: str, limit: int = 80, *, keep: str = "") -> str:
    """At most ``limit`` characters of ``text`` as shown, printable: every other character
    escaped as ``repr`` escapes it (``\\x1b``, ``\\n``, ``\\udc80``), except those in
    ``keep``; ``...`` marks a cut."""
    parts: list[str] = []
    length = 0
    for ch in text[:limit]:
        part = ch if ch.isprintable() or ch in keep else repr(ch)[1:-1]
        if length + len(part) > limit:
            break
        parts.append(part)
        length += len(part)
    shown = "".join(parts)
    return shown if len(parts) == len(text) else f"{shown}..."


def parse_uint(text: str, what: str, *, lo: int = 0, hi: int = INT64_MAX) -> int:
    """A decimal integer of host text (ASCII digits, at most 20), in ``lo..hi``."""
    if not _UINT.fullmatch(text):
        raise ProtocolError(f"{what}: '{excerpt(text, 40)}' is not an integer of 1 to 20 digits")
    value = int(text)
    if not lo <= value <= hi:
        raise ProtocolError(f"{what}: {value} is outside {lo}..{hi}")
    return value


class _Refused(ValueError):
    """A JSON token refused while parsing (turned into a ProtocolError by load_json)."""


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text} is out of range")
    return value


def _json_constant(text: str) -> NoReturn:
    raise _Refused(f"{text} is not a number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f"the key '{excerpt(key, 40)}' appears twice")
        obj[key] = value
    return obj


def _depth(doc: Any, limit: int) -> bool:  # noqa: ANN401 - any JSON value
    """Whether ``doc`` nests objects and arrays at most ``limit`` deep."""
    todo: list[tuple[Any, int]] = [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > limit:
            return False
        children = node.values() if isinstance(node, dict) else node
        todo.extend((child, depth + 1) for child in children)
    return True


def load_json(text: str, what: str, *, max_chars: int, max_depth: int) -> Any:  # noqa: ANN401
    """``text`` as JSON, bounded: at most ``max_chars`` characters and ``max_depth`` levels,
    integers of at most 20 digits, finite numbers, no key twice; else :class:`ProtocolError`
    naming ``what``."""
    if len(text) > max_chars:
        raise ProtocolError(f"{what} is longer than {max_chars} characters")
    try:
        doc = json.loads(
            text,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except _Refused as exc:
        raise ProtocolError(f"{what}: {exc}") from None
    except RecursionError:
        raise ProtocolError(f"{what} is nested too deeply") from None
    except ValueError:
        raise ProtocolError(f"{what} is not JSON: '{excerpt(text)}'") from None
    if not _depth(doc, max_depth):
        raise ProtocolError(f"{what} is nested more than {max_depth} levels deep")
    return doc


def _int_in(name: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"'{name}' {value} is outside {lo}..{hi}")


def _seconds(name: str, value: float, *, zero: bool = False) -> None:
    """``0 < value < MAX_SECONDS`` (``0 <=`` with ``zero``)."""
    low_ok = value >= 0 if zero else value > 0
    if not (math.isfinite(value) and low_ok and value < MAX_SECONDS):
        bound = "[0" if zero else "(0"
        raise ValueError(f"'{name}' {value!r} s is outside {bound}, {MAX_SECONDS:g}) s")


def _realtime(name: str, value: int) -> None:
    if not EPOCH_2000_S * 10**9 <= value <= EPOCH_2100_S * 10**9:
        raise ValueError(f"'{name}' {value} is not a time between the years 2000 and 2100")


@dataclass(frozen=True, slots=True)
class Sample:
    """One warmup or value: ``loops`` operations took ``elapsed_s``."""

    index: int
    loops: int
    elapsed_s: float
    value_s: float

    def __post_init__(self) -> None:
        _int_in("index", self.index, 0, INT64_MAX)
        _int_in("loops", self.loops, 1, MAX_LOOPS)
        _seconds("elapsed_s", self.elapsed_s)
        _seconds("value_s", self.value_s)


@dataclass(frozen=True, slots=True)
class Calibration:
    """How the loop count was chosen, and what the timer and the loop cost."""

    loops: int
    calibrated: bool
    min_time_s: float
    steps: tuple[tuple[int, float], ...]
    timer_s: float
    loop_s: float
    overhead_fraction: float
    subtracted: bool
    max_batch: int

    def __post_init__(self) -> None:
        _int_in("loops", self.loops, 1, MAX_LOOPS)
        _seconds("min_time_s", self.min_time_s)
        if len(self.steps) > MAX_STEPS:
            raise ValueError(f"{len(self.steps)} calibration steps, more than {MAX_STEPS}")
        for loops, elapsed_s in self.steps:
            _int_in("loops", loops, 1, MAX_LOOPS)
            _seconds("elapsed_s", elapsed_s)
        _seconds("timer_s", self.timer_s, zero=True)
        _seconds("loop_s", self.loop_s, zero=True)
        if not (math.isfinite(self.overhead_fraction) and 0 <= self.overhead_fraction < MAX_RATIO):
            raise ValueError(f"'overhead_fraction' {self.overhead_fraction!r} is out of range")
        _int_in("max_batch", self.max_batch, 0, INT64_MAX)


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """Everything one harness process reported, each number checked against its range."""

    bench: str
    pid: int
    cpu: int
    arch: str
    params: dict[str, int]
    start_realtime_ns: int
    end_realtime_ns: int
    start_monotonic_ns: int
    end_monotonic_ns: int
    calibration: Calibration
    warmups: tuple[Sample, ...]
    values: tuple[Sample, ...]
    rusage: dict[str, float]
    steal_ticks: int | None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.bench):
            raise ValueError(f"'bench' '{excerpt(self.bench, 40)}' is not a benchmark name")
        if not ARCH.fullmatch(self.arch):
            raise ValueError(f"'arch' '{excerpt(self.arch, 40)}' is not an architecture")
        _int_in("pid", self.pid, 1, MAX_PID)
        _int_in("cpu", self.cpu, -1, MAX_CPU)
        if len(self.params) > MAX_PARAMS:
            raise ValueError(f"{len(self.params)} params, more than {MAX_PARAMS}")
        for key, value in self.params.items():
            if not NAME.fullmatch(key):
                raise ValueError(f"param '{excerpt(key, 40)}' is not a parameter name")
            _int_in(f"param {key}", value, -INT64_MAX - 1, INT64_MAX)
        _realtime("realtime_ns", self.start_realtime_ns)
        _realtime("realtime_ns", self.end_realtime_ns)
        _int_in("monotonic_ns", self.start_monotonic_ns, 0, INT64_MAX)
        _int_in("monotonic_ns", self.end_monotonic_ns, self.start_monotonic_ns, INT64_MAX)
        if not self.values:
            raise ValueError("a process must report at least one value")
        for kind, samples in (("warmup", self.warmups), ("value", self.values)):
            for i, sample in enumerate(samples):
                if sample.index != i:
                    raise ValueError(f"{kind} {i} has index {sample.index}")
                if sample.loops != self.calibration.loops:
                    raise ValueError(
                        f"{kind} {i} has {sample.loops} loops, calibration {self.calibration.loops}"
                    )
        if missing := [k for k in (*RUSAGE_COUNTS, *RUSAGE_TIMES) if k not in self.rusage]:
            raise ValueError(f"rusage lacks {', '.join(missing)}")
        for key in RUSAGE_COUNTS:
            count = self.rusage[key]
            if not 0 <= count < 2.0**63:
                raise ValueError(f"'rusage {key}' {count:.0f} is outside 0..2**63")
        for key in RUSAGE_TIMES:
            _seconds(f"rusage {key}", self.rusage[key], zero=True)
        if self.steal_ticks is not None:
            _int_in("steal_ticks", self.steal_ticks, 0, INT64_MAX)

    @property
    def loops(self) -> int:
        return self.values[0].loops

    @property
    def wall_s(self) -> float:
        return (self.end_monotonic_ns - self.start_monotonic_ns) / 1e9

    @property
    def median_s(self) -> float:
        """The process's figure: the median of its values."""
        return statistics.median(v.value_s for v in self.values)


def _get(rec: dict[str, Any], key: str, kind: type | tuple[type, ...], line: int) -> Any:  # noqa: ANN401
    value = rec.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        value = None
    if not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise ProtocolError(f"harness output line {line}: '{key}' missing or not {names}")
    return value


def _num(rec: dict[str, Any], key: str, line: int) -> float:
    return float(_get(rec, key, (int, float), line))


def _ints(rec: dict[str, Any], key: str, names: Sequence[str] | None, line: int) -> dict[str, int]:
    """The object ``key`` of ``rec`` whose values are all integers (``names``: these keys,
    required; others ignored)."""
    obj: dict[str, Any] = _get(rec, key, dict, line)
    wanted = obj if names is None else {name: obj.get(name) for name in names}
    out = {}
    for name, value in wanted.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(
                f"harness output line {line}: '{key}' '{excerpt(name, 40)}' missing or not int"
            )
        out[name] = value
    return out


def _sample(rec: dict[str, Any], line: int) -> Sample:
    return Sample(
        index=_get(rec, "index", int, line),
        loops=_get(rec, "loops", int, line),
        elapsed_s=_num(rec, "elapsed_s", line),
        value_s=_num(rec, "value_s", line),
    )


def _calibration(rec: dict[str, Any], line: int) -> Calibration:
    steps = []
    for step in _get(rec, "steps", list, line)[: MAX_STEPS + 1]:
        if not isinstance(step, dict):
            raise ProtocolError(f"harness output line {line}: a calibration step is not an object")
        steps.append((_get(step, "loops", int, line), _num(step, "elapsed_s", line)))
    return Calibration(
        loops=_get(rec, "loops", int, line),
        calibrated=_get(rec, "calibrated", bool, line),
        min_time_s=_num(rec, "min_time_s", line),
        steps=tuple(steps),
        timer_s=_num(rec, "timer_s", line),
        loop_s=_num(rec, "loop_s", line),
        overhead_fraction=_num(rec, "overhead_fraction", line),
        subtracted=_get(rec, "subtracted", bool, line),
        max_batch=_get(rec, "max_batch", int, line),
    )


def _cpuid_string(cpuid: dict[str, Any], key: str) -> str | None:
    value = cpuid.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ProtocolError(f"probe output: cpuid '{key}' is not a string of at most 64 characters")
    return excerpt(value, 64)


def parse_probe_output(text: str) -> dict[str, Any]:
    """The ``cpuid`` object of what ``ringbench-bench probe`` printed, its fields checked
    (strings made printable, unknown keys left out)."""
    doc = load_json(text, "probe output", max_chars=MAX_PROBE_CHARS, max_depth=2)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProtocolError(f"does not speak probe format {FORMAT}")
    cpuid = doc.get("cpuid")
    if not isinstance(cpuid, dict) or not isinstance(cpuid.get("available"), bool):
        raise ProtocolError("printed no cpuid object")
    if not cpuid["available"]:
        return {"available": False}
    bit = cpuid.get("hypervisor_bit")
    leaf = cpuid.get("hypervisor_max_leaf")
    if not isinstance(bit, bool):
        raise ProtocolError("probe output: cpuid 'hypervisor_bit' missing or not bool")
    if leaf is not None and (
        not isinstance(leaf, int) or isinstance(leaf, bool) or not 0 <= leaf < 2**32
    ):
        raise ProtocolError("probe output: cpuid 'hypervisor_max_leaf' is not a 32-bit integer")
    return {
        "available": True,
        "vendor": _cpuid_string(cpuid, "vendor"),
        "brand": _cpuid_string(cpuid, "brand"),
        "hypervisor_bit": bit,
        "hypervisor_vendor": _cpuid_string(cpuid, "hypervisor_vendor"),
        "hypervisor_max_leaf": leaf,
    }


def parse_records(text: str) -> list[dict[str, Any]]:
    """Split harness stdout into JSON objects, one per non-empty line (bounded)."""
    if len(text) > MAX_RUN_CHARS:
        raise ProtocolError(f"harness output is longer than {MAX_RUN_CHARS} characters")
    records = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        what = f"harness output line {number}"
        rec = load_json(raw, what, max_chars=MAX_LINE_CHARS, max_depth=3)
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
            raise ProtocolError(f"{what} has no 'type': '{excerpt(raw)}'")
        rec["_line"] = number
        records.append(rec)
    return records


def _message(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str):
        raise ProtocolError(
            f"harness output line {rec['_line']}: '{rec['type']}' record's '{key}' is not a string"
        )
    return excerpt(" ".join(value.split()), MAX_MESSAGE_CHARS)


def parse_run_output(text: str) -> ProcessResult:
    """Turn the stdout of one ``ringbench-bench run`` into a :class:`ProcessResult`.

    Raises :class:`UnsupportedBenchmark` for an ``unsupported`` record,
    :class:`HarnessError` for an ``error`` record and :class:`ProtocolError`
    for anything out of format, out of order or out of range; never another
    exception, whatever ``text`` is.
    """
    try:
        return _parse_run_output(text)
    except HarnessError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        # A check that should have caught this is missing; the host still gets one line.
        raise ProtocolError(f"harness output: {type(exc).__name__}: {excerpt(str(exc))}") from None


def _parse_run_output(text: str) -> ProcessResult:
    records = parse_records(text)
    for rec in records:
        if rec["type"] == "unsupported":
            raise UnsupportedBenchmark(_message(rec, "bench"), _message(rec, "reason"))
        if rec["type"] == "error":
            raise HarnessError(_message(rec, "message"))
    if not records or records[0]["type"] != "start":
        raise ProtocolError("harness output does not begin with a 'start' record")
    start = records[0]
    line = start["_line"]
    if start.get("format") != FORMAT:
        raise ProtocolError(
            f"harness speaks format {excerpt(repr(start.get('format')), 40)}, expected {FORMAT}"
        )
    calibration: Calibration | None = None
    warmups: list[Sample] = []
    values: list[Sample] = []
    end: dict[str, Any] | None = None
    try:
        for rec in records[1:]:
            kind, line = rec["type"], rec["_line"]
            if end is not None:
                raise ProtocolError(f"harness output line {line}: record after 'end'")
            if kind == "calibration" and calibration is None and not warmups and not values:
                calibration = _calibration(rec, line)
            elif kind == "warmup" and calibration is not None and not values:
                warmups.append(_sample(rec, line))
            elif kind == "value" and calibration is not None:
                values.append(_sample(rec, line))
            elif kind == "end":
                end = rec
            else:
                raise ProtocolError(
                    f"harness output line {line}: unexpected '{excerpt(kind, 40)}' record here"
                )
    except ValueError as exc:
        raise ProtocolError(f"harness output line {line}: {exc}") from None
    if calibration is None or end is None:
        raise ProtocolError("harness output ended before its 'calibration' and 'end' records")
    line = end["_line"]
    if end.get("status") != "ok":
        status = excerpt(repr(end.get("status")), 40)
        raise ProtocolError(f"harness output line {line}: 'end' with status {status}, not 'ok'")
    counts = _ints(end, "rusage", RUSAGE_COUNTS, line)
    times = {key: _num(end["rusage"], key, line) for key in RUSAGE_TIMES}
    steal = end.get("steal_ticks")
    if steal is not None and (not isinstance(steal, int) or isinstance(steal, bool)):
        raise ProtocolError(f"harness output line {line}: 'steal_ticks' is neither int nor null")
    try:
        return ProcessResult(
            bench=_get(start, "bench", str, start["_line"]),
            pid=_get(start, "pid", int, start["_line"]),
            cpu=_get(start, "cpu", int, start["_line"]),
            arch=_get(start, "arch", str, start["_line"]),
            params=_ints(start, "params", None, start["_line"]),
            start_realtime_ns=_get(start, "realtime_ns", int, start["_line"]),
            end_realtime_ns=_get(end, "realtime_ns", int, line),
            start_monotonic_ns=_get(start, "monotonic_ns", int, start["_line"]),
            end_monotonic_ns=_get(end, "monotonic_ns", int, line),
            calibration=calibration,
            warmups=tuple(warmups),
            values=tuple(values),
            rusage={**{key: float(value) for key, value in counts.items()}, **times},
            steal_ticks=steal,
        )
    except ValueError as exc:
        raise ProtocolError(f"harness output: {exc}") from None
