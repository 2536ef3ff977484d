"""The harness's protocol: what ``ringbench-bench`` prints, parsed (``suites/PROTOCOL.md``).

Three documents, one format version (:data:`FORMAT`, the ``format`` field of
each): the JSON lines of ``run`` (:func:`parse_run_output`), the catalog of
``list`` (:func:`suites.catalog.parse_catalog`) and the ``probe`` object
(:func:`parse_probe_output`). Pure functions over text, tested on captured
output under ``tests/data/``; whatever the harness printed is data, and
anything out of format raises :class:`ProtocolError`.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any

from ringbench.errors import HarnessError, ProtocolError, UnsupportedBenchmark

FORMAT = 1


@dataclass(frozen=True, slots=True)
class Sample:
    """One warmup or value: ``loops`` operations took ``elapsed_s``."""

    index: int
    loops: int
    elapsed_s: float
    value_s: float

    def __post_init__(self) -> None:
        if self.loops < 1:
            raise ValueError(f"loops must be >= 1, got {self.loops}")
        if not (math.isfinite(self.value_s) and self.value_s > 0):
            raise ValueError(f"value must be a positive number of seconds, got {self.value_s}")


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


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """Everything one harness process reported."""

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
        if not self.values:
            raise ValueError("a process must report at least one value")

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


def _sample(rec: dict[str, Any], line: int) -> Sample:
    try:
        return Sample(
            index=_get(rec, "index", int, line),
            loops=_get(rec, "loops", int, line),
            elapsed_s=_num(rec, "elapsed_s", line),
            value_s=_num(rec, "value_s", line),
        )
    except ValueError as exc:
        raise ProtocolError(f"harness output line {line}: {exc}") from exc


def _calibration(rec: dict[str, Any], line: int) -> Calibration:
    steps = []
    for step in _get(rec, "steps", list, line):
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


def parse_probe_output(text: str) -> dict[str, Any]:
    """The ``cpuid`` object of what ``ringbench-bench probe`` printed."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise ProtocolError("printed something that is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProtocolError(f"does not speak probe format {FORMAT}")
    cpuid = doc.get("cpuid")
    if not isinstance(cpuid, dict):
        raise ProtocolError("printed no cpuid object")
    return cpuid


def parse_records(text: str) -> list[dict[str, Any]]:
    """Split harness stdout into JSON objects, one per non-empty line."""
    records = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"harness output line {number} is not JSON: {raw[:80]!r}") from exc
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
            raise ProtocolError(f"harness output line {number} has no 'type': {raw[:80]!r}")
        rec["_line"] = number
        records.append(rec)
    return records


def parse_run_output(text: str) -> ProcessResult:
    """Turn the stdout of one ``ringbench-bench run`` into a :class:`ProcessResult`.

    Raises :class:`UnsupportedBenchmark` for an ``unsupported`` record,
    :class:`HarnessError` for an ``error`` record and :class:`ProtocolError`
    for anything out of format or out of order.
    """
    records = parse_records(text)
    for rec in records:
        if rec["type"] == "unsupported":
            raise UnsupportedBenchmark(str(rec.get("bench", "?")), str(rec.get("reason", "?")))
        if rec["type"] == "error":
            raise HarnessError(str(rec.get("message", "harness reported an error")))
    if not records or records[0]["type"] != "start":
        raise ProtocolError("harness output does not begin with a 'start' record")
    start = records[0]
    line = start["_line"]
    if start.get("format") != FORMAT:
        raise ProtocolError(f"harness speaks format {start.get('format')!r}, expected {FORMAT}")
    calibration: Calibration | None = None
    warmups: list[Sample] = []
    values: list[Sample] = []
    end: dict[str, Any] | None = None
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
            raise ProtocolError(f"harness output line {line}: unexpected '{kind}' record here")
    if calibration is None or end is None:
        raise ProtocolError("harness output ended before its 'calibration' and 'end' records")
    if end.get("status") != "ok":
        raise HarnessError(f"harness ended with status {end.get('status')!r}")
    rusage = _get(end, "rusage", dict, end["_line"])
    steal = end.get("steal_ticks")
    params = _get(start, "params", dict, start["_line"])
    try:
        return ProcessResult(
            bench=_get(start, "bench", str, start["_line"]),
            pid=_get(start, "pid", int, start["_line"]),
            cpu=_get(start, "cpu", int, start["_line"]),
            arch=_get(start, "arch", str, start["_line"]),
            params={str(k): int(v) for k, v in params.items()},
            start_realtime_ns=_get(start, "realtime_ns", int, start["_line"]),
            end_realtime_ns=_get(end, "realtime_ns", int, end["_line"]),
            start_monotonic_ns=_get(start, "monotonic_ns", int, start["_line"]),
            end_monotonic_ns=_get(end, "monotonic_ns", int, end["_line"]),
            calibration=calibration,
            warmups=tuple(warmups),
            values=tuple(values),
            rusage={str(k): float(v) for k, v in rusage.items()},
            steal_ticks=steal if isinstance(steal, int) and not isinstance(steal, bool) else None,
        )
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"harness output: {exc}") from exc
