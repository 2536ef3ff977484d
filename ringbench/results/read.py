"""Read many suite files fast: every harness process's metadata, column by column.

A million values of full-suite runs are about 700 host files of 150 pyperf
runs each; what costs is not decoding the JSON but touching each run's
metadata in Python. :func:`read_processes` merges pyperf's three levels
(suite, benchmark, run; the innermost wins, as ``pyperf.Run.get_metadata``
sees it) once per benchmark, and per run only for the keys that its runs
carry themselves, so the work per process is a few dictionary look-ups
(``benchmarks/analysis_speed.py`` measures it).

Whatever a file holds is data: a file that is not a ringbench suite, or of
another format, raises :class:`UserError` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringbench.errors import UserError
from ringbench.results import keys
from ringbench.results.format import READABLE, RESULT_FORMAT


@dataclass(slots=True)
class Processes:
    """The harness processes of many suites: entry ``i`` of every list is process ``i``.

    ``columns[key]`` is the metadata value (None where absent); ``params`` the
    benchmark's parameters as ``key=value`` joined by commas; ``index`` the
    process's position within its benchmark; ``counts`` how many values it
    has; ``values`` all the values, process after process.
    """

    run: list[str] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    params: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def _params(meta: dict[str, Any]) -> str:
    return ",".join(
        f"{k[len(keys.PARAM_PREFIX) :]}={v}"
        for k, v in sorted(meta.items())
        if k.startswith(keys.PARAM_PREFIX)
    )


def _document(path: Path) -> tuple[dict[str, Any], list[Any]]:
    try:
        data = json.loads(path.read_bytes())
        suite_meta = data.get("metadata") or {}
        benchmarks = data["benchmarks"]
        if not isinstance(suite_meta, dict) or not isinstance(benchmarks, list):
            raise TypeError("'metadata' or 'benchmarks' of the wrong type")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UserError(f"{path}: not a pyperf suite written by ringbench ({exc})") from None
    fmt = suite_meta.get(keys.FORMAT)
    if fmt is not None and fmt not in READABLE:
        raise UserError(
            f"{path}: results format {fmt!r}, this ringbench reads {RESULT_FORMAT}: upgrade it"
        )
    return suite_meta, benchmarks


def _add_file(out: Processes, path: Path, wanted: Sequence[str]) -> None:
    suite_meta, benchmarks = _document(path)
    run_id = path.parent.name
    for bench in benchmarks:
        if not isinstance(bench, dict):
            raise UserError(f"{path}: a benchmark is not an object")
        bench_meta = bench.get("metadata") or {}
        runs = bench.get("runs") or []
        if not isinstance(bench_meta, dict) or not isinstance(runs, list):
            raise UserError(f"{path}: a benchmark's metadata or runs are of the wrong type")
        meta = {**suite_meta, **bench_meta}
        positions = [i for i, r in enumerate(runs) if isinstance(r, dict) and r.get("values")]
        measured = [runs[i] for i in positions]
        if not measured:
            continue  # calibration-only pyperf runs carry no values
        run_metas = [r.get("metadata") or {} for r in measured]
        if not all(isinstance(m, dict) for m in run_metas):
            raise UserError(f"{path}: a run's metadata is not an object")
        own = set().union(*run_metas)
        n = len(measured)
        for key in wanted:
            column = out.columns[key]
            if key in own:
                default = meta.get(key)
                column.extend([m.get(key, default) for m in run_metas])
            else:
                column.extend([meta.get(key)] * n)
        if any(k.startswith(keys.PARAM_PREFIX) for k in own):
            out.params.extend(_params({**meta, **m}) for m in run_metas)
        else:
            out.params.extend([_params(meta)] * n)
        out.run.extend([run_id] * n)
        out.index.extend(positions)
        for run in measured:
            values = run["values"]
            if not isinstance(values, list):
                raise UserError(f"{path}: a run's values are not a list")
            out.counts.append(len(values))
            out.values.extend(values)


def read_processes(files: Iterable[Path], wanted: Sequence[str]) -> Processes:
    """The processes of every suite file in ``files``, with the metadata keys ``wanted``."""
    out = Processes(columns={key: [] for key in wanted})
    for path in files:
        _add_file(out, path, wanted)
    return out
