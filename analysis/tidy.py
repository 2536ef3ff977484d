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

String columns are pandas categoricals: a million values load in well under
a second (``benchmarks/analysis_speed.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runners.errors import UserError

RESULT_FORMAT = 1

KEYS = ["run", "host", "virt_class", "baseline", "benchmark", "family", "mechanism", "process"]
STRING_META = [
    "operation",
    "machine",
    "virt_class_declared",
    "virt_class_detected",
    "virt_layers",
    "virt_class_warning",
    "binary_sha256",
    "cpu_model_name",
    "kernel",
    "mitigations",
    "thp",
    "cpu_governor",
    "clocksource",
    "clock_check",
    "date",
    "params",
]
NUMERIC_META = ["clock_skew_s", "steal_ticks", "loops"]
COLUMNS = [*KEYS, "value_s", *STRING_META, *NUMERIC_META]
# Facts that are per host, not per process: the validity checks compare these.
HOST_FACTS = [
    "machine",
    "binary_sha256",
    "cpu_model_name",
    "kernel",
    "mitigations",
    "thp",
    "cpu_governor",
    "clocksource",
    "virt_class_declared",
    "virt_class_detected",
    "virt_layers",
    "virt_class_warning",
]


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One or many run directories, results roots or suite files into the tidy frame.

    Raises :class:`UserError` naming the file when one cannot be read.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files = sorted(set(chain.from_iterable(_suite_files(Path(p)) for p in paths)))
    records: list[dict[str, Any]] = []
    counts: list[int] = []
    values: list[list[float]] = []
    for file in files:
        for record, vals in _processes(file):
            records.append(record)
            counts.append(len(vals))
            values.append(vals)
    return _frame(records, counts, values)


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
    if isinstance(paths, str | Path):
        paths = [paths]
    rows = []
    for file in sorted(set(chain.from_iterable(_probe_files(Path(p)) for p in paths))):
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


def _probe_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        path = path.parent
    yield from (p for s in _suite_files(path) if (p := s.with_suffix(".probe.json")).is_file())


def _suite_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory or results file")
    if (path / "manifest.json").is_file():
        yield from (
            p for p in path.glob("*.json") if p.name != "manifest.json" and ".probe." not in p.name
        )
        return
    runs = [p for p in sorted(path.iterdir()) if (p / "manifest.json").is_file()]
    if not runs:
        raise UserError(f"{path}: neither a run directory (no manifest.json) nor a results root")
    for run in runs:
        yield from _suite_files(run)


def _processes(file: Path) -> Iterator[tuple[dict[str, Any], list[float]]]:
    """(metadata, values) per pyperf run, i.e. per harness process."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        suite_meta: dict[str, Any] = data.get("metadata", {})
        benchmarks: list[dict[str, Any]] = data["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{file}: not a pyperf suite written by ringbench ({exc})") from exc
    fmt = suite_meta.get("ringbench_format")
    if fmt is not None and fmt != RESULT_FORMAT:
        raise UserError(
            f"{file}: results format {fmt}, this ringbench reads {RESULT_FORMAT}: upgrade it"
        )
    run_id = file.parent.name
    for bench in benchmarks:
        bench_meta = {**suite_meta, **bench.get("metadata", {})}
        for index, run in enumerate(bench.get("runs", [])):
            vals = run.get("values") or []
            if not vals:
                continue  # a calibration-only pyperf run carries no values
            meta = {**bench_meta, **run.get("metadata", {})}
            meta["run"] = run_id
            meta["benchmark"] = meta.get("name", "")
            meta["process"] = index
            yield meta, vals


def _params(meta: dict[str, Any]) -> str:
    return ",".join(f"{k[6:]}={v}" for k, v in sorted(meta.items()) if k.startswith("param_"))


def _frame(
    records: list[dict[str, Any]], counts: list[int], values: list[list[float]]
) -> pd.DataFrame:
    """Columns built per process, then repeated per value (categorical codes, not strings)."""
    repeat = np.asarray(counts, dtype=np.int64)
    columns: dict[str, Any] = {}
    for key in KEYS + STRING_META:
        if key == "process":
            continue
        if key == "params":
            cells = [_params(r) for r in records]
        else:
            cells = [str(r.get(key) or "") for r in records]
        codes, categories = pd.factorize(np.asarray(cells, dtype=object), sort=True)
        columns[key] = pd.Categorical.from_codes(
            np.repeat(codes, repeat), categories=pd.Index(categories, dtype=object)
        )
    columns["process"] = np.repeat(
        np.asarray([r["process"] for r in records], dtype=np.int64), repeat
    )
    columns["value_s"] = np.fromiter(
        chain.from_iterable(values), dtype=np.float64, count=int(repeat.sum())
    )
    for key in NUMERIC_META:
        numeric = np.asarray(
            [np.nan if r.get(key) is None else float(r[key]) for r in records], dtype=np.float64
        )
        columns[key] = np.repeat(numeric, repeat)
    return pd.DataFrame(columns)[COLUMNS]
