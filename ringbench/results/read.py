"""Read many suite files fast: every harness process's metadata, column by column.

A million values of full-suite runs are about 700 host files of 150 pyperf
runs each. The JSON is decoded by orjson (the standard library's decoder
takes 1.4 s for those files on this project's machines, orjson 0.3 s); what
costs after that is touching each run's metadata in Python.
:func:`read_processes` merges pyperf's three levels (suite, benchmark, run;
the innermost wins, as ``pyperf.Run.get_metadata`` sees it) file by file and
key by key, keeping what a benchmark's processes share once per benchmark
and, per process, only the keys its own pyperf run carries
(``benchmarks/analysis_speed.py`` measures it).

Whatever a file holds is data: a file that is not a ringbench suite, of
another format, larger than :data:`SUITE_MAX_BYTES`, or holding a value out
of range raises :class:`UserError` naming it, on one line. In range: every
value a finite number, ``0 < value <`` :data:`VALUE_MAX_S` seconds (checked
at once for all the files, by numpy, the file found only for an error); the numeric
metadata read (``loops``, ``steal_ticks``, ``clock_skew_s``) within
:data:`RANGES`; every string read at most :data:`TEXT_MAX` characters
(:data:`NAME_MAX` for names); a suite in ``hosts/`` names its own host.
The checks are made column by column, as the reading is.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ringbench.errors import UserError
from ringbench.results import keys
from ringbench.results.format import READABLE
from ringbench.results.layout import HOSTS, host_of, run_of
from ringbench.results.text import one_line

SUITE_MAX_BYTES = 256 * 2**20  # a full-suite host file of 150 processes is about 1 MiB
VALUE_MAX_S = 1e6  # seconds per operation: anything slower is not a measurement
TEXT_MAX = 4096  # characters of a string of metadata (a kernel version, mitigations)
NAME_MAX = 256  # characters of a name (host, benchmark, family, class)
# The numeric metadata read, and the range each must lie in (ends included).
RANGES: dict[str, tuple[float, float]] = {
    keys.LOOPS: (1, 2**63 - 1),
    keys.STEAL_TICKS: (0, 2**63 - 1),
    keys.CLOCK_SKEW_S: (-1e9, 1e9),
}
NAMES = frozenset(
    {
        keys.HOST,
        keys.BASELINE,
        keys.MACHINE,
        keys.NAME,
        keys.FAMILY,
        keys.MECHANISM,
        keys.VIRT_CLASS,
        keys.VIRT_CLASS_DETECTED,
        keys.VIRT_CLASS_DECLARED,
    }
)
_SCALARS = {str, int, float, bool, type(None)}
_NUMBERS = {int, float, type(None)}


@dataclass(slots=True)
class Processes:
    """The harness processes of many suites, in two levels.

    Per benchmark (entry ``b`` of the ``bench_*`` lists): its run id, the
    ``wanted`` metadata every process of it shares (``bench_meta[key][b]``,
    None where absent), its parameters as
    ``key=value`` joined by commas, and how many processes it has. Per
    process (entry ``i`` of ``index``, ``counts``): its position within its
    benchmark and its number of values; ``values`` holds all of them,
    process after process. ``overrides[key]`` maps a process's number to the
    value its own pyperf run carries for ``key`` (``params`` included), for
    the few keys that runs carry themselves. ``array`` is ``values`` as floats,
    checked (every value in range) once for all the files read.
    """

    wanted: tuple[str, ...]
    bench_run: list[str] = field(default_factory=list)
    bench_meta: dict[str, list[Any]] = field(default_factory=dict)
    bench_params: list[str] = field(default_factory=list)
    bench_processes: list[int] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    overrides: dict[str, dict[int, Any]] = field(default_factory=dict)
    array: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def bench_column(self, key: str) -> list[Any]:
        """``key``'s value per benchmark."""
        return self.bench_meta[key]


def _params(meta: dict[str, Any], names: Iterable[str]) -> str:
    if not names:
        return ""
    return ",".join(f"{k[len(keys.PARAM_PREFIX) :]}={meta[k]}" for k in sorted(names))


_MARK = "\x00" + keys.PARAM_PREFIX


def _param_names(meta: Iterable[str]) -> set[str]:
    """The parameter keys among ``meta``'s (one substring search when there are none)."""
    names = list(meta)
    if _MARK not in "\x00" + "\x00".join(names):
        return set()
    return {k for k in names if k.startswith(keys.PARAM_PREFIX)}


_VALUES = methodcaller("get", "values")
_METADATA = methodcaller("get", "metadata", {})
_RUNS = methodcaller("get", "runs", [])


def _all_of(items: list[Any], kind: type) -> bool:
    """Whether every item is exactly of type ``kind`` (one pass in C)."""
    return set(map(type, items)) <= {kind}


def _document(path: Path) -> tuple[dict[str, Any], list[Any]]:
    try:
        size = path.stat().st_size
        if size > SUITE_MAX_BYTES:
            raise UserError(f"{path}: {size} bytes, more than a suite holds ({SUITE_MAX_BYTES})")
        data = orjson.loads(path.read_bytes())
        suite_meta = data.get("metadata") or {}
        benchmarks = data["benchmarks"]
        if not isinstance(suite_meta, dict) or not isinstance(benchmarks, list):
            raise TypeError("'metadata' or 'benchmarks' of the wrong type")
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{path}: not a pyperf suite written by ringbench ({one_line(exc)})"
        ) from None
    fmt = suite_meta.get(keys.FORMAT)
    if fmt is not None and (type(fmt) is not int or fmt not in READABLE):
        raise UserError(
            f"{path}: results format {one_line(repr(fmt), 40)}, this ringbench reads "
            f"{', '.join(map(str, sorted(READABLE)))}: upgrade it"
        )
    return suite_meta, benchmarks


def _column_problem(key: str, cells: list[Any]) -> str | None:
    """What is out of range among ``cells`` of metadata ``key`` (one pass per check, in C);
    None when nothing is."""
    kinds = set(map(type, cells))
    if key in RANGES:
        if not kinds <= _NUMBERS:
            return f"'{key}' holds a {_kind(kinds - _NUMBERS)}, not a number"
        numbers = [c for c in cells if c is not None] if type(None) in kinds else cells
        low, high = RANGES[key]
        if numbers and not (low <= min(numbers) and max(numbers) <= high):
            worst = min(numbers) if min(numbers) < low else max(numbers)
            return f"'{key}' is {one_line(worst, 40)}, not within {low:g} to {high:g}"
        return None
    if not kinds <= _SCALARS:
        return f"'{key}' holds a {_kind(kinds - _SCALARS)}, not text"
    limit = NAME_MAX if key in NAMES else TEXT_MAX
    if str in kinds:
        texts = cells if len(kinds) == 1 else [c for c in cells if type(c) is str]
        longest = max(map(len, texts))
        if longest > limit:
            return f"'{key}' holds a string of {longest} characters, more than {limit}"
    if float in kinds and not all(math.isfinite(c) for c in cells if type(c) is float):
        return f"'{key}' holds a number that is not finite"  # pragma: no cover - orjson refuses
    return None


def _kind(kinds: set[type]) -> str:
    return "/".join(sorted(k.__name__ for k in kinds))


def _check(key: str, cells: list[Any], path: Path) -> None:
    problem = _column_problem(key, cells)
    if problem is not None:
        raise UserError(f"{path}: {problem}")


def _value_problem(value: object) -> str:
    if type(value) not in (int, float):
        return f"a value is {one_line(repr(value), 40)}, not a number"
    if not value > 0:  # type: ignore[operator]  # an int or a float
        return f"a value is {one_line(value, 40)} s: a time must be above 0"
    return f"a value is {one_line(value, 40)} s, not below {VALUE_MAX_S:g} s per operation"


def _checked_values(out: Processes, starts: list[int], files: list[Path]) -> None:
    """``out.array``: every value as a float, checked in one pass over all the files
    (numpy); :class:`UserError` naming the file of the first value out of range or that
    is not a number (found file by file only then)."""
    array: npt.NDArray[Any] | None
    try:
        array = np.asarray(out.values)  # its type says whether every value is a number
    except (TypeError, ValueError):  # a list among them
        array = None
    if array is None or array.dtype.kind not in "fiu":  # find the culprit, file by file
        for start, end, path in zip(starts, [*starts[1:], len(out.values)], files, strict=True):
            for value in out.values[start:end]:
                if type(value) not in (int, float):
                    raise UserError(f"{path}: {_value_problem(value)}")
        array = np.asarray(out.values, dtype=np.float64)  # numbers: ints beyond 64 bits
    array = array.astype(np.float64, copy=False)
    bad = ~((array > 0) & (array < VALUE_MAX_S))  # NaN too
    if bad.any():
        first = int(np.argmax(bad))
        path = files[int(np.searchsorted(starts, first, side="right")) - 1]
        raise UserError(f"{path}: {_value_problem(out.values[first])}")
    out.array = array


def _dicts(items: list[Any], what: str, path: Path) -> list[dict[str, Any]]:
    """``items`` when each is an object; a missing one (None) is an empty object."""
    if not _all_of(items, dict):
        items = [{} if i is None else i for i in items]
        if not _all_of(items, dict):
            raise UserError(f"{path}: {what} is not an object")
    return items


def _add_file(out: Processes, path: Path) -> None:
    """Add one suite file. The work is done file by file, key by key (comprehensions over
    the file's benchmarks and runs, type checks by ``map`` in C), not benchmark by
    benchmark: that is what makes a million values fast."""
    suite_meta, benchmarks = _document(path)
    for key in suite_meta.keys() & out.wanted:
        cell = suite_meta[key]
        kind = type(cell)
        if kind is str and len(cell) <= NAME_MAX and key not in RANGES:
            continue  # the common case, decided without building a column
        _check(key, [cell], path)
    if not _all_of(benchmarks, dict):
        raise UserError(f"{path}: a benchmark is not an object")
    bench_metas = _dicts(list(map(_METADATA, benchmarks)), "a benchmark's metadata", path)
    bench_runs = [r if r is not None else [] for r in map(_RUNS, benchmarks)]
    if not _all_of(bench_runs, list):
        raise UserError(f"{path}: a benchmark's runs are not a list")
    # The runs with values (calibration-only pyperf runs carry none), and their benchmarks.
    flat = list(chain.from_iterable(bench_runs))
    if not _all_of(flat, dict):
        raise UserError(f"{path}: a run is not an object")
    series = list(map(_VALUES, flat))
    if all(series):  # the common case: every run measured
        kept = bench_runs
        positions: Iterable[int] = chain.from_iterable(map(range, map(len, bench_runs)))
    else:
        keep = [[i for i, r in enumerate(runs) if r.get("values")] for runs in bench_runs]
        kept = [[runs[i] for i in k] for runs, k in zip(bench_runs, keep, strict=True)]
        positions = chain.from_iterable(keep)
        series = [v for v in series if v]
    chosen = [b for b, runs in enumerate(kept) if runs]
    if not chosen:
        return
    measured = list(chain.from_iterable(kept[b] for b in chosen))
    per_bench = [len(kept[b]) for b in chosen]
    run_metas = _dicts(list(map(_METADATA, measured)), "a run's metadata", path)
    if not _all_of(series, list):
        raise UserError(f"{path}: a run's values are not a list")
    metas = [bench_metas[b] for b in chosen] if len(chosen) < len(bench_metas) else bench_metas
    present = set().union(*metas)
    columns: dict[str, list[Any]] = {}
    for key in out.wanted:
        default = suite_meta.get(key)
        if key in present:
            columns[key] = [m.get(key, default) for m in metas]
            _check(key, columns[key], path)
        else:
            columns[key] = [default] * len(metas)
    if path.parent.name == HOSTS and keys.HOST in columns:
        _check_host(columns[keys.HOST], path)
    for key, cells in columns.items():
        out.bench_meta[key].extend(cells)
    suite_params = _param_names(suite_meta)
    if suite_params or _param_names(present):
        params = [suite_params | _param_names(m) for m in metas]
        merged = [{**suite_meta, **m} for m in metas]
        texts = [_params(m, p) for m, p in zip(merged, params, strict=True)]
        _check("params", texts, path)
        out.bench_params.extend(texts)
    else:
        params = [set()] * len(metas)
        merged = [suite_meta] * len(metas)
        out.bench_params.extend([""] * len(metas))
    first = len(out.counts)
    numbers = range(first, first + len(measured))
    own = set().union(*run_metas)
    owner: list[int] = []
    if own:
        owner = list(chain.from_iterable([j] * n for j, n in enumerate(per_bench)))
    for key in own.intersection(out.wanted):
        try:  # the common case: every run carries the key
            values = list(map(itemgetter(key), run_metas))
        except KeyError:
            bench_values = columns[key]
            values = [m.get(key, bench_values[j]) for m, j in zip(run_metas, owner, strict=True)]
        _check(key, values, path)
        if key == keys.HOST and path.parent.name == HOSTS:
            _check_host(values, path)
        out.overrides.setdefault(key, {}).update(zip(numbers, values, strict=True))
    if _param_names(own):
        column = out.overrides.setdefault("params", {})
        for number, m, j in zip(numbers, run_metas, owner, strict=True):
            column[number] = _params({**merged[j], **m}, params[j] | _param_names(m))
        _check("params", list(column.values())[-len(run_metas) :], path)
    out.bench_run.extend([run_of(path).name] * len(metas))
    out.bench_processes.extend(per_bench)
    out.index.extend(positions)
    out.counts.extend(map(len, series))
    out.values.extend(chain.from_iterable(series))


def _check_host(cells: list[Any], path: Path) -> None:
    """A suite in ``hosts/`` is of the host its file is named after."""
    host = host_of(path)
    others = {c for c in cells if c is not None and c != host}
    if others:
        other = one_line(repr(sorted(map(str, others))[0]), 80)
        raise UserError(f"{path}: its metadata names host {other}, not {host!r}")


def read_processes(files: Iterable[Path], wanted: Sequence[str]) -> Processes:
    """The processes of every suite file in ``files``, with the metadata keys ``wanted``.

    :class:`UserError` naming the file, on one line, when one cannot be read or holds
    something out of range (whatever the error: what a file holds is data).
    """
    out = Processes(tuple(wanted), bench_meta={key: [] for key in wanted})
    # Decoding creates and drops millions of containers; the cyclic collector would walk
    # them again and again (a quarter of the time here) though none is part of a cycle.
    enabled = gc.isenabled()
    gc.disable()
    starts: list[int] = []
    read: list[Path] = []
    try:
        for path in files:
            starts.append(len(out.values))
            read.append(path)
            try:
                _add_file(out, path)
            except UserError:
                raise
            except Exception as exc:  # any shape a file can take: one line
                raise UserError(
                    f"{path}: not a suite this ringbench can read "
                    f"({type(exc).__name__}: {one_line(exc, 120)})"
                ) from None
        _checked_values(out, starts, read)
    finally:
        if enabled:
            gc.enable()
    return out
