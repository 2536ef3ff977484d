"""Synthetic tidy frames drawn from known distributions, with clean metadata.

A host's values are two-level lognormal, like the harness's: each process
has its own level (``process_sigma``), each value scatters around it
(``value_sigma``). The population median of such values is exactly
``median_s``, so a ratio of two hosts' medians is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.tidy import COLUMNS, NUMERIC_META

CLEAN = {
    "operation": "call",
    "machine": "box",
    "virt_class_declared": "",
    "virt_class_warning": "",
    "binary_sha256": "ab" * 32,
    "cpu_model_name": "AMD EPYC",
    "kernel": "6.1.0",
    "mitigations": "spectre_v1=usercopy | spectre_v2=Retpolines",
    "thp": "madvise",
    "cpu_governor": "performance",
    "clocksource": "tsc",
    "placement": "",
    "disk": "",
    "clock_check": "ok",
    "date": "2026-11-25 00:00:00+00:00",
    "params": "",
}


@dataclass
class Host:
    name: str
    virt_class: str = "hardware-assisted"
    baseline: str = ""
    medians: dict[str, float] = field(default_factory=dict)  # benchmark -> true median (s)
    meta: dict[str, object] = field(default_factory=dict)  # overrides of CLEAN


def frame(
    hosts: list[Host],
    rng: np.random.Generator,
    run: str = "20261125T000000Z-000000",
    processes: int = 5,
    values: int = 10,
    process_sigma: float = 0.02,
    value_sigma: float = 0.03,
) -> pd.DataFrame:
    parts = []
    for host in hosts:
        for bench, median in host.medians.items():
            level = rng.normal(0, process_sigma, processes)
            vals = median * np.exp(level[:, None] + rng.normal(0, value_sigma, (processes, values)))
            n = processes * values
            cols: dict[str, object] = {
                "run": run,
                "host": host.name,
                "virt_class": host.virt_class,
                "baseline": host.baseline,
                "benchmark": bench,
                "family": bench.split("-")[0],
                "mechanism": "ring-transition",
                "process": np.repeat(np.arange(processes), values),
                "value_s": vals.ravel(),
                **CLEAN,
                "virt_class_detected": host.virt_class,
                "virt_layers": "KVM",
                "clock_skew_s": np.zeros(n),
                "steal_ticks": np.zeros(n),
                "loops": np.full(n, 1024.0),
            }
            cols.update(host.meta)
            parts.append(pd.DataFrame(cols))
    out = pd.concat(parts, ignore_index=True)[COLUMNS]
    for column in COLUMNS:
        if column not in ("process", "value_s", *NUMERIC_META):
            out[column] = out[column].astype("category")
    return out
