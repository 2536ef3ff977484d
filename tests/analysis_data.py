"""Synthetic tidy frames drawn from known distributions, with clean metadata.

A host's values are two-level lognormal, like the harness's: each process
has its own level (``process_sigma``), each value scatters around it
(``value_sigma``). The population median of such values is exactly
``median_s``, so a ratio of two hosts' medians is known.

The probe's runtime columns (``seccomp_mode``, ``seccomp_filters``,
``container_engine``, ``oci_runtime``) are in every frame, unknown unless a
host sets them (:func:`podman`, :func:`podman_nosec`, :func:`gvisor`), whether
or not :data:`analysis.tidy.COLUMNS` lists them yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.tidy import COLUMNS, NUMERIC_META

RUNTIME_NUMERIC = ["seccomp_mode", "seccomp_filters"]
RUNTIME_TEXT = ["container_engine", "oci_runtime"]
FRAME_COLUMNS = [*COLUMNS, *(c for c in RUNTIME_NUMERIC + RUNTIME_TEXT if c not in COLUMNS)]
NUMERIC = {"process", "value_s", *NUMERIC_META, *RUNTIME_NUMERIC}

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
    "container_engine": "",
    "oci_runtime": "",
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
                "seccomp_mode": np.full(n, np.nan),
                "seccomp_filters": np.full(n, np.nan),
            }
            cols.update(host.meta)
            parts.append(pd.DataFrame(cols))
    out = pd.concat(parts, ignore_index=True)[FRAME_COLUMNS]
    for column in FRAME_COLUMNS:
        if column not in NUMERIC:
            out[column] = out[column].astype("category")
    return out


# The lab's runtimes as the probe records them (the contract of issue 16): Podman 4.3 with
# runc and its default seccomp profile (one filter), its twin with seccomp=unconfined, and
# gVisor (runsc, ptrace platform: its kernel 4.4.0, no Seccomp_filters line).
PODMAN = {
    "seccomp_mode": 2.0,
    "seccomp_filters": 1.0,
    "container_engine": "podman",
    "oci_runtime": "runc",
    "virt_layers": "KVM > Podman (runc)",
}
PODMAN_NOSEC = PODMAN | {"seccomp_mode": 0.0, "seccomp_filters": 0.0}
GVISOR = {
    "seccomp_mode": 0.0,
    "container_engine": "gvisor",
    "oci_runtime": "runsc",
    "kernel": "4.4.0",
    "cpu_model_name": "unknown",
    "virt_layers": "KVM > gVisor (ptrace)",
}


def podman(name: str = "podman", **medians: float) -> Host:
    return Host(name, "container", "native", dict(medians), dict(PODMAN))


def podman_nosec(name: str = "podman-nosec", **medians: float) -> Host:
    return Host(name, "container", "native", dict(medians), dict(PODMAN_NOSEC))


def gvisor(name: str = "gvisor", **medians: float) -> Host:
    return Host(name, "application-kernel", "native", dict(medians), dict(GVISOR))
