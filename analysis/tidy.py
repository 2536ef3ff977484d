"""Results into one tidy DataFrame: one row per measured value.

``load(paths)`` reads run directories (``results/<run-id>/``), a results root
holding many runs, or single ``<host>.json`` pyperf suites, and returns the
frame of DESIGN.md. pyperf hoists metadata common to every run up to the
benchmark and the suite; a process's metadata is the three levels merged, the
innermost winning, exactly as ``pyperf.Run.get_metadata`` sees it.

Columns, in this order:

======================  ============================================================
run                     run id (the run directory's name)
host                    inventory name of the host
virt_class              declared class, else the probe's (``bare-metal``,
                        ``paravirtualized``, ``binary-translation``,
                        ``hardware-assisted``, ``container``)
baseline                the host this one is compared with ("" for none)
benchmark               catalog name, e.g. ``syscall-null``
family, mechanism       the catalog's tags
process                 0-based index of the harness process within the benchmark
value_s                 seconds per operation (one pyperf value)
operation               what one operation is (``call``, ``fault``, ...)
machine                 the physical machine the host runs on
virt_class_declared     from the inventory ("" when not declared)
virt_class_detected     from the probe
virt_layers             the layers found, outermost first
virt_class_warning      the probe's disagreement with the inventory ("" for none)
binary_sha256           the harness that measured
cpu_model_name, kernel, mitigations, thp, cpu_governor, clocksource
                        facts a comparison depends on
clock_skew_s            the process's clock against the controller's
clock_check             ``ok`` or why not
steal_ticks             steal time (USER_HZ ticks) during the process, NaN if unknown
loops                   operations per value
date                    the process's start (UTC)
params                  the benchmark's parameters, ``key=value`` joined by commas
======================  ============================================================

String columns are pandas categoricals. The files are found and read by
:mod:`ringbench.results` (which owns the results directory); here the
columns are built, once per process, then repeated per value: a million
values of 700 host files load in well under a second
(``benchmarks/analysis_speed.py``).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from ringbench.errors import UserError
from ringbench.results import Processes, probe_files, read_processes, suite_files
from ringbench.results import keys as k

KEYS = ["run", "host", "virt_class", "baseline", "benchmark", "family", "mechanism", "process"]
STRING_META = [
    k.OPERATION,
    k.MACHINE,
    k.VIRT_CLASS_DECLARED,
    k.VIRT_CLASS_DETECTED,
    k.VIRT_LAYERS,
    k.VIRT_CLASS_WARNING,
    k.BINARY_SHA256,
    k.CPU_MODEL_NAME,
    k.KERNEL,
    k.MITIGATIONS,
    k.THP,
    k.CPU_GOVERNOR,
    k.CLOCKSOURCE,
    k.PLACEMENT,
    k.DISK,
    k.CLOCK_CHECK,
    k.DATE,
    "params",
]
NUMERIC_META = [k.CLOCK_SKEW_S, k.STEAL_TICKS, k.LOOPS]
COLUMNS = [*KEYS, "value_s", *STRING_META, *NUMERIC_META]
# Facts that are per host, not per process: the validity checks compare these.
HOST_FACTS = list(k.HOST_FACTS)
# The metadata key behind each column that is not the key's own name.
SOURCE = {"benchmark": k.NAME}
_READ = [
    SOURCE.get(c, c)
    for c in [*KEYS, *STRING_META, *NUMERIC_META]
    if c not in ("run", "process", "params")
]


def _paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One or many run directories, results roots or suite files into the tidy frame.

    Raises :class:`UserError` naming the file when one cannot be read.
    """
    files = sorted(set(chain.from_iterable(suite_files(p) for p in _paths(paths))))
    procs = read_processes(files, _READ)
    shape = _Shape.of(procs)
    columns: dict[str, Any] = {}
    for column in [*KEYS, *STRING_META]:
        if column == "process":
            continue
        if column == "run":
            cells: list[Any] = procs.bench_run
        elif column == "params":
            cells = procs.bench_params
        else:
            cells = procs.bench_column(SOURCE.get(column, column))
        overrides = procs.overrides.get(SOURCE.get(column, column), {})
        columns[column] = shape.categorical(cells, overrides)
    columns["process"] = np.repeat(np.asarray(procs.index, dtype=np.int64), shape.counts)
    columns["value_s"] = _values(procs.values, files)
    for column in NUMERIC_META:
        bench = _numbers(procs.bench_column(column))
        overrides = procs.overrides.get(column, {})
        per_process = np.repeat(bench, shape.processes)
        if overrides:
            per_process[list(overrides)] = _numbers(list(overrides.values()))
        columns[column] = np.repeat(per_process, shape.counts)
    return pd.DataFrame({c: columns[c] for c in COLUMNS}, copy=False)


@dataclass(frozen=True)
class _Shape:
    """How entries per benchmark and per process repeat into rows per value."""

    processes: npt.NDArray[np.int64]  # per benchmark: its processes
    counts: npt.NDArray[np.int64]  # per process: its values
    bench_values: npt.NDArray[np.int64]  # per benchmark: its values

    @classmethod
    def of(cls, procs: Processes) -> _Shape:
        processes = np.asarray(procs.bench_processes, dtype=np.int64)
        counts = np.asarray(procs.counts, dtype=np.int64)
        if len(processes):
            starts = np.concatenate(([0], np.cumsum(processes)[:-1]))
            bench_values = np.add.reduceat(counts, starts)
        else:
            bench_values = np.zeros(0, dtype=np.int64)
        return cls(processes, counts, bench_values)

    def categorical(self, bench: list[Any], overrides: dict[int, Any]) -> pd.Categorical:
        """Cells per benchmark (and per process where ``overrides`` say) as a categorical of
        their text ("" for a missing or empty value), one entry per value."""
        if not overrides:
            codes, categories = _codes(bench)
            return _categorical(np.repeat(codes, self.bench_values), categories)
        cells = np.repeat(pd.Series(bench, dtype=object).to_numpy(), self.processes)
        cells[list(overrides)] = pd.Series(list(overrides.values()), dtype=object).to_numpy()
        codes, categories = _codes(list(cells))
        return _categorical(np.repeat(codes, self.counts), categories)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value or "")


def _codes(cells: list[Any]) -> tuple[npt.NDArray[np.integer[Any]], list[str]]:
    """Codes into the sorted texts of ``cells``: factorized over the cells, the text made once
    per distinct value (a value that cannot be hashed, a list or an object, by its text)."""
    series = pd.Series(cells, dtype=object)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
    except TypeError:
        codes, uniques = pd.factorize(series.map(_text), use_na_sentinel=False)
    texts = [_text(u) for u in uniques]
    text_codes, categories = pd.factorize(pd.Series(texts, dtype=object), sort=True)
    # the smallest code type, as pandas stores it: repeating a million int8 is cheap
    kind = np.int8 if len(categories) < 127 else np.int16 if len(categories) < 32767 else np.int32
    mapped = cast(npt.NDArray[np.integer[Any]], np.asarray(text_codes, dtype=kind)[codes])
    return mapped, list(categories)


def _categorical(codes: npt.NDArray[np.integer[Any]], categories: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(
        codes, categories=pd.Index(categories, dtype=object), validate=False
    )


_NUMERIC = {int, float, type(None)}


def _numbers(cells: list[Any]) -> npt.NDArray[np.float64]:
    """Numbers as floats; anything else (missing, text, a boolean, out of range) is NaN."""
    if set(map(type, cells)) <= _NUMERIC:
        try:
            return np.asarray(cells, dtype=np.float64)  # None becomes NaN
        except OverflowError:
            pass
    out = np.full(len(cells), np.nan)
    for i, value in enumerate(cells):
        if type(value) in (int, float):
            with contextlib.suppress(OverflowError):
                out[i] = float(value)
    return out


def _values(values: list[float], files: list[Path]) -> npt.NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        where = files[0] if len(files) == 1 else f"one of {len(files)} suite files"
        raise UserError(f"{where}: a value is not a number ({exc})") from None


HOST_COLUMNS = [
    "run",
    "host",
    "virt_class",
    "virt_class_declared",
    "hypervisor",
    "layers",
    "evidence",
    "warning",
    "disagreements",
    "kernel",
    "cpu_model_name",
    "cpu_count",
    "mem_total_kib",
    "clocksource",
    "arch",
    "collected",
]


def load_hosts(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, host) from the ``<host>.probe.json`` files: what each host is.

    ``layers`` are outermost first (``KVM > User-Mode Linux``); ``evidence``
    gives each layer's evidence, ``layer: item; item``, layers separated by
    `` | ``; ``disagreements`` what the probe's sources said against each other.
    """
    rows = []
    for file in sorted(set(chain.from_iterable(probe_files(p) for p in _paths(paths)))):
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
            layers = doc.get("layers") or []
            facts = doc.get("facts") or {}
        except (OSError, ValueError, AttributeError) as exc:
            raise UserError(f"{file}: not a probe document written by ringbench ({exc})") from exc
        rows.append(
            {
                "run": file.parent.name,
                "host": doc.get("host") or file.name.removesuffix(".probe.json"),
                "virt_class": doc.get("virt_class") or "",
                "virt_class_declared": doc.get("virt_class_declared") or "",
                "hypervisor": doc.get("hypervisor") or "",
                "layers": " > ".join(str(layer.get("technology")) for layer in layers)
                or "none found",
                "evidence": " | ".join(
                    f"{layer.get('technology')}: {'; '.join(layer.get('evidence') or [])}"
                    for layer in layers
                ),
                "warning": doc.get("warning") or "",
                "disagreements": "; ".join(str(d) for d in doc.get("disagreements") or []),
                **{k: facts.get(k) for k in HOST_COLUMNS[9:15]},
                "collected": doc.get("collected") or "",
            }
        )
    return pd.DataFrame(rows, columns=HOST_COLUMNS)
