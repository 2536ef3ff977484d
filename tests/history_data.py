"""Synthetic run directories in the real on-disk format, for a history of many runs.

``write_run`` writes ``<store>/<run-id>/``: one pyperf suite per host
(``hosts/<host>.json``; at the run's root with ``legacy=True``, as results
format 1 kept them) as :mod:`runners.record` writes it (suite metadata common to every run, the
catalog's tags per benchmark, one pyperf run per harness process), then
``manifest.json`` last, as a real run finishes, with the run's settings in
its ``config`` as ``ringbench run`` records them. Each figure is the median
the caller gives; the processes scatter around it by ``sigma`` (lognormal),
the values within a process by as much again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analysis.tidy import HOST_FACTS
from ringbench.files import atomic_write_json
from ringbench.results import RESULT_FORMAT, RunDir
from tests.analysis_data import CLEAN

START = datetime(2026, 11, 1, tzinfo=UTC)
MECHANISMS = {"syscall": "ring-transition", "fault": "mmu", "sched": "scheduler"}
# The host facts of the analysis tests' clean metadata, as one run records them.
FACTS = {
    **{k: v for k, v in CLEAN.items() if k in HOST_FACTS and v},
    "virt_layers": "KVM",
}


def run_id(i: int) -> str:
    """The i-th run's id, one hour after the one before: ids and creation sort alike."""
    return f"{START + timedelta(hours=i):%Y%m%dT%H%M%SZ}-{i:06x}"


def created(i: int) -> str:
    return (START + timedelta(hours=i)).isoformat(timespec="seconds")


def write_run(
    store: Path,
    i: int,
    figures: dict[str, dict[str, float]],
    facts: dict[str, dict[str, str]] | None = None,
    *,
    baseline: str = "",
    processes: int = 5,
    values: int = 5,
    sigma: float = 0.003,
    status: str = "complete",
    config: dict[str, object] | None = None,
    legacy: bool = False,
) -> Path:
    """Run number ``i``: ``figures`` maps host -> benchmark -> median (s); ``facts``
    host -> metadata that differs from ``FACTS`` (``kernel``, ...); ``config``
    overrides the settings recorded in the manifest (``{"min_time_s": 0.005}``);
    ``legacy`` writes the layout and format 1 of an older ringbench."""
    rng = np.random.default_rng(i)
    path = store / run_id(i)
    path.mkdir(parents=True)
    fmt = 1 if legacy else RESULT_FORMAT
    for host, medians in figures.items():
        suite_meta = {
            "ringbench_format": fmt,
            "host": host,
            "baseline": baseline if host != baseline else "",
            "virt_class": "hardware-assisted" if host in (baseline, "native") else "container",
            "unit": "second",
            "clock_check": "ok",
            "clock_skew_s": 0.0,
            **FACTS,
            **(facts or {}).get(host, {}),
        }
        benchmarks = []
        for bench, median in medians.items():
            family = bench.split("-")[0]
            level = rng.normal(0, sigma, processes)
            runs = [
                {
                    "metadata": {"steal_ticks": 0, "loops": 1000, "date": created(i)},
                    "values": (median * np.exp(lvl + rng.normal(0, sigma, values))).tolist(),
                }
                for lvl in level
            ]
            meta = {"name": bench, "family": family, "mechanism": MECHANISMS.get(family, "")}
            benchmarks.append({"metadata": {**meta, "operation": "call"}, "runs": runs})
        suite = {"version": "1.0", "metadata": suite_meta, "benchmarks": benchmarks}
        suite_path = path / f"{host}.json" if legacy else RunDir(path).suite_path(host)
        suite_path.parent.mkdir(exist_ok=True)
        suite_path.write_text(json.dumps(suite), encoding="utf-8")
    atomic_write_json(
        path / "manifest.json",
        {
            "format_version": fmt,
            "run_id": path.name,
            "created": created(i),
            "updated": created(i),
            "status": status,
            "config": {**settings(processes, values), **(config or {})},
        },
    )
    return path


def settings(processes: int = 5, values: int = 5) -> dict[str, object]:
    """A manifest's ``config`` as ``ringbench run`` writes it (runners.execute.RunConfig)."""
    return {
        "processes": processes,
        "values": values,
        "warmups": 1,
        "min_time_s": 0.01,
        "cpu": "auto",
        "workdir": ".",
        "process_timeout_s": 180.0,
    }


FIGURES = {"native": {"syscall-null": 1e-7, "fault-anon": 2e-6}}


def index_concurrently(store: Path, writer: int, rounds: int, start: object) -> None:
    """A writer of the concurrency test (a child process): wait for the others, then
    ``rounds`` times write a run of its own and update the index, as they do.

    Summarizing a run is slowed down by a random few tens of milliseconds, so that
    writers read the index, summarize and write back in overlapping windows, as a
    dashboard summarizing many runs does beside a run that finishes."""
    import random
    import time

    from analysis import history

    summarize_run = history.summarize_run

    def slow(path: Path) -> dict[str, object]:
        time.sleep(random.uniform(0.01, 0.08))
        return summarize_run(path)

    history.summarize_run = slow  # type: ignore[assignment]
    start.wait(timeout=120)  # type: ignore[attr-defined]  # a multiprocessing Barrier
    for r in range(rounds):
        write_run(store, writer * rounds + r, FIGURES)
        history.update_index(store)
