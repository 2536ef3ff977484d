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

Whatever a file holds is data: a file that is not a ringbench suite, or of
another format, raises :class:`UserError` naming it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import orjson

from ringbench.errors import UserError
from ringbench.results import keys
from ringbench.results.format import READABLE, RESULT_FORMAT


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
    the few keys that runs carry themselves.
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
        data = orjson.loads(path.read_bytes())
        suite_meta = data.get("metadata") or {}
        benchmarks = data["benchmarks"]
        if not isinstance(suite_meta, dict) or not isinstance(benchmarks, list):
            raise TypeError("'metadata' or 'benchmarks' of the wrong type")
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a pyperf suite written by ringbench ({exc})") from None
    fmt = suite_meta.get(keys.FORMAT)
    if fmt is not None and fmt not in READABLE:
        raise UserError(
            f"{path}: results format {fmt!r}, this ringbench reads {RESULT_FORMAT}: upgrade it"
        )
    return suite_meta, benchmarks


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
    for key in out.wanted:
        default = suite_meta.get(key)
        if key in present:
            out.bench_meta[key].extend([m.get(key, default) for m in metas])
        else:
            out.bench_meta[key].extend([default] * len(metas))
    suite_params = _param_names(suite_meta)
    if suite_params or _param_names(present):
        params = [suite_params | _param_names(m) for m in metas]
        merged = [{**suite_meta, **m} for m in metas]
        out.bench_params.extend(_params(m, p) for m, p in zip(merged, params, strict=True))
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
            bench_values = out.bench_meta[key][-len(metas) :]
            values = [m.get(key, bench_values[j]) for m, j in zip(run_metas, owner, strict=True)]
        out.overrides.setdefault(key, {}).update(zip(numbers, values, strict=True))
    if _param_names(own):
        column = out.overrides.setdefault("params", {})
        for number, m, j in zip(numbers, run_metas, owner, strict=True):
            column[number] = _params({**merged[j], **m}, params[j] | _param_names(m))
    out.bench_run.extend([path.parent.name] * len(metas))
    out.bench_processes.extend(per_bench)
    out.index.extend(positions)
    out.counts.extend(map(len, series))
    out.values.extend(chain.from_iterable(series))


def read_processes(files: Iterable[Path], wanted: Sequence[str]) -> Processes:
    """The processes of every suite file in ``files``, with the metadata keys ``wanted``."""
    out = Processes(tuple(wanted), bench_meta={key: [] for key in wanted})
    # Decoding creates and drops millions of containers; the cyclic collector would walk
    # them again and again (a quarter of the time here) though none is part of a cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        for path in files:
            _add_file(out, path)
    finally:
        if enabled:
            gc.enable()
    return out
