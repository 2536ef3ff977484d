"""Results into one tidy DataFrame: one row per measured value.

``load(paths)`` reads run directories (``results/<run-id>/``), a results root
holding many runs, or single ``hosts/<host>.json`` pyperf suites, and returns
the frame of DESIGN.md (a file that cannot be read, or holds a value out of
range, raises :class:`UserError` naming it: :mod:`ringbench.results.read`).
pyperf hoists metadata common to every run up to the benchmark and the
suite; a process's metadata is the three levels merged, the innermost
winning, exactly as ``pyperf.Run.get_metadata`` sees it.

Columns, in this order:

======================  ============================================================
run                     run id (the run directory's name)
host                    inventory name of the host
virt_class              declared class, else the probe's (``bare-metal``,
                        ``paravirtualized``, ``binary-translation``,
                        ``hardware-assisted``, ``container``,
                        ``application-kernel``)
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
seccomp_mode            the host's seccomp mode (0 off, 1 strict, 2 filter), NaN if unknown
seccomp_filters         seccomp filters on the harness's shell, NaN if unknown
container_engine        ``podman``, ``docker``, ``gvisor`` ... ("" for none or unknown)
oci_runtime             ``runsc`` ... where the probe can tell ("" otherwise)
======================  ============================================================

The last four come from each host's probe document (``seccomp``,
``runtime``), not from its suite: a run without one, or an older one whose
probe did not read them, leaves them unknown.

String columns are pandas categoricals. The files are found and read by
:mod:`ringbench.results` (which owns the results directory); here the
columns are built, once per process, then repeated per value: a million
values of 700 host files load in well under a second
(``benchmarks/analysis_speed.py``).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from ringbench.errors import UserError
from ringbench.results import Processes, probe_files, read_processes, suite_files
from ringbench.results import keys as k
from ringbench.results.layout import LEGACY_PROBE_SUFFIX, PROBES, SUFFIX, host_of, run_of
from ringbench.results.text import cut, one_line

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
# Read from the hosts' probe documents, per host.
PROBE_NUMERIC = ["seccomp_mode", "seccomp_filters"]
PROBE_STRING = ["container_engine", "oci_runtime"]
COLUMNS = [*KEYS, "value_s", *STRING_META, *NUMERIC_META, *PROBE_NUMERIC, *PROBE_STRING]
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
    columns["value_s"] = procs.array  # checked: every value a number in range
    for column in NUMERIC_META:
        bench = _numbers(procs.bench_column(column))
        overrides = procs.overrides.get(column, {})
        per_process = np.repeat(bench, shape.processes)
        if overrides:
            per_process[list(overrides)] = _numbers(list(overrides.values()))
        columns[column] = np.repeat(per_process, shape.counts)
    columns.update(_probe_columns(files, procs, shape))
    return pd.DataFrame({c: columns[c] for c in COLUMNS}, copy=False)


_SECCOMP_RANGES = {"mode": 2, "filters": 2**31 - 1}
_RUNTIME_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _probe_runtime(probe: Path | None) -> tuple[float, float, str, str]:
    """``(seccomp_mode, seccomp_filters, container_engine, oci_runtime)`` from the probe
    document ``probe``; NaN or "" for what it does not say (no document, an unreadable one,
    a value of the wrong type or out of range)."""
    out: list[Any] = [math.nan, math.nan, "", ""]
    try:
        if probe is None or probe.stat().st_size > PROBE_MAX_BYTES:
            return out[0], out[1], out[2], out[3]
        doc = orjson.loads(probe.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return out[0], out[1], out[2], out[3]
    doc = doc if isinstance(doc, dict) else {}
    seccomp = doc.get("seccomp")
    seccomp = seccomp if isinstance(seccomp, dict) else {}
    for i, (key, high) in enumerate(_SECCOMP_RANGES.items()):
        value = seccomp.get(key)
        if type(value) is int and 0 <= value <= high:
            out[i] = float(value)
    runtime = doc.get("runtime")
    runtime = runtime if isinstance(runtime, dict) else {}
    for i, key in enumerate(("engine", "oci_runtime"), start=2):
        value = runtime.get(key)
        if isinstance(value, str) and _RUNTIME_NAME.fullmatch(value):
            out[i] = value
    return out[0], out[1], out[2], out[3]


def _listing(directory: Path) -> set[str]:
    try:
        return {p.name for p in directory.iterdir()}
    except OSError:
        return set()


def _probe_paths(files: list[Path]) -> dict[tuple[str, str], Path | None]:
    """The probe document of each suite's (run, host): ``probes/<host>.json``, else a
    format 1 run's ``<host>.probe.json`` (one listing per run, not a look-up per host)."""
    listings: dict[Path, tuple[set[str], set[str]]] = {}
    out: dict[tuple[str, str], Path | None] = {}
    for suite in files:
        run, host = run_of(suite), host_of(suite)
        if run not in listings:
            listings[run] = (_listing(run / PROBES), _listing(run))
        probes, legacy = listings[run]
        if f"{host}{SUFFIX}" in probes:
            out[run.name, host] = run / PROBES / f"{host}{SUFFIX}"
        elif f"{host}{LEGACY_PROBE_SUFFIX}" in legacy:
            out[run.name, host] = run / f"{host}{LEGACY_PROBE_SUFFIX}"
        else:
            out[run.name, host] = None
    return out


def _probe_columns(files: list[Path], procs: Processes, shape: _Shape) -> dict[str, Any]:
    """The :data:`PROBE_NUMERIC` and :data:`PROBE_STRING` columns: each benchmark takes
    the values of its (run, host)'s probe document."""
    found = {key: _probe_runtime(path) for key, path in _probe_paths(files).items()}
    unknown = (math.nan, math.nan, "", "")
    hosts = procs.bench_column(k.HOST)
    per_bench = [
        found.get((r, str(h)), unknown) for r, h in zip(procs.bench_run, hosts, strict=True)
    ]
    columns: dict[str, Any] = {}
    for i, column in enumerate(PROBE_NUMERIC):
        values = np.asarray([row[i] for row in per_bench], dtype=np.float64)
        columns[column] = np.repeat(values, shape.bench_values)
    for i, column in enumerate(PROBE_STRING, start=len(PROBE_NUMERIC)):
        columns[column] = shape.categorical([row[i] for row in per_bench], {})
    return columns


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


PROBE_MAX_BYTES = 16 * 2**20  # a probe document is a few KiB
PROBE_TEXT_MAX = 4096  # characters of one field of a probe document, as shown


def _probe_text(value: object) -> str:
    """A field of a probe document as text: "" for none, bounded."""
    if value is None or isinstance(value, dict | list):
        return "" if not value else cut(str(value), PROBE_TEXT_MAX)
    return cut(str(value), PROBE_TEXT_MAX)


def _probe_row(file: Path) -> dict[str, Any]:
    """One row of :func:`load_hosts`; UserError naming the file when it cannot be one.

    The host is the one the file is named after (a name checked when it was written),
    never the document's own ``host`` field: what a host wrote is data."""
    size = file.stat().st_size
    if size > PROBE_MAX_BYTES:
        raise UserError(f"{file}: {size} bytes, more than a probe document holds")
    doc = orjson.loads(file.read_bytes())
    if not isinstance(doc, dict):
        raise UserError(f"{file}: not a probe document written by ringbench (not an object)")
    layers = doc.get("layers") or []
    facts = doc.get("facts") or {}
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise UserError(f"{file}: 'layers' is not a list of objects")
    if not isinstance(facts, dict):
        raise UserError(f"{file}: 'facts' is not an object")

    def evidence(layer: dict[str, Any]) -> str:
        items = layer.get("evidence") or []
        items = items if isinstance(items, list) else [items]
        return "; ".join(_probe_text(i) for i in items)

    disagreements = doc.get("disagreements") or []
    disagreements = disagreements if isinstance(disagreements, list) else [disagreements]
    return {
        "run": run_of(file).name,
        "host": host_of(file),
        "virt_class": _probe_text(doc.get("virt_class")),
        "virt_class_declared": _probe_text(doc.get("virt_class_declared")),
        "hypervisor": _probe_text(doc.get("hypervisor")),
        "layers": cut(
            " > ".join(_probe_text(layer.get("technology")) for layer in layers), PROBE_TEXT_MAX
        )
        or "none found",
        "evidence": cut(
            " | ".join(
                f"{_probe_text(layer.get('technology'))}: {evidence(layer)}" for layer in layers
            ),
            4 * PROBE_TEXT_MAX,
        ),
        "warning": _probe_text(doc.get("warning")),
        "disagreements": cut("; ".join(_probe_text(d) for d in disagreements), PROBE_TEXT_MAX),
        **{k: _fact(facts.get(k)) for k in HOST_COLUMNS[9:15]},
        "collected": _probe_text(doc.get("collected")),
    }


def _fact(value: object) -> object:
    """A fact as it is when it is a number of 64 bits at most, else as bounded text."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    return _probe_text(value)


def load_hosts(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, host) from the hosts' probe documents: what each host is.

    ``layers`` are outermost first (``KVM > User-Mode Linux``); ``evidence``
    gives each layer's evidence, ``layer: item; item``, layers separated by
    `` | ``; ``disagreements`` what the probe's sources said against each other.
    ``host`` is the host the document's file is named after. A document that
    cannot be read is left out and named, one line each, in ``attrs["skipped"]``;
    every text is bounded (:data:`PROBE_TEXT_MAX`), shown as it came (escape it
    where it is shown).
    """
    rows = []
    skipped = []
    for file in sorted(set(chain.from_iterable(probe_files(p) for p in _paths(paths)))):
        try:
            rows.append(_probe_row(file))
        except UserError as exc:
            skipped.append(one_line(exc))
        except Exception as exc:  # whatever the file holds: one line, left out
            skipped.append(one_line(f"{file}: not a probe document written by ringbench ({exc})"))
    out = pd.DataFrame(rows, columns=HOST_COLUMNS)
    out.attrs["skipped"] = skipped
    return out
