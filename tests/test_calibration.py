"""Known-truth calibration: the ratios that are x1.00 by construction, judged against it."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import analysis
from analysis import calibration as known_truths
from analysis.calibration import (
    COLUMNS,
    SAME_KERNEL,
    SAME_KERNEL_BENCHMARKS,
    UNTRAPPED,
    flagged,
    summary_line,
    worst,
)
from analysis.export import OVERHEAD_FORMAT, overhead_document
from analysis.validity import host_facts
from runners.cli.analysis import cmd_overhead
from tests.analysis_data import Host, frame
from tests.history_data import run_id, write_run

# True medians (s) of a baseline: the calibrated benchmarks and two that are not.
BASE = {
    "syscall-null": 100e-9,
    "syscall-read": 250e-9,
    "trap-rdtsc": 20e-9,
    "mem-copy": 2e-6,
    "trap-cpuid": 1e-6,
    "fault-anon": 1e-6,
}
QUIET = {"process_sigma": 0.005, "value_sigma": 0.01}  # intervals of about +-1%


def native() -> Host:
    return Host("native", medians=dict(BASE))


def container(**medians: float) -> Host:
    return Host("container", virt_class="container", baseline="native", medians=BASE | medians)


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(overhead, calibration) of a synthetic run."""
    over = analysis.overhead(df)
    return over, known_truths(over, df)


def as_tidy(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of one run drawn with different noise, as one tidy frame (categoricals again)."""
    df = pd.concat(parts, ignore_index=True)
    for column in df.columns:
        if isinstance(parts[0][column].dtype, pd.CategoricalDtype):
            df[column] = df[column].astype(str).astype("category")
    return df


def test_a_container_on_its_baselines_kernel_at_x1_passes() -> None:
    df = frame([native(), container()], np.random.default_rng(1), **QUIET)
    over, rows = table(df)
    assert list(rows.columns) == COLUMNS
    assert set(rows["benchmark"]) == set(SAME_KERNEL_BENCHMARKS)  # not trap-cpuid, fault-anon
    assert set(rows["why"]) == {SAME_KERNEL} and (rows["truth"] == 1.0).all()
    assert rows["ok"].all() and not flagged(rows)
    assert rows["deviation"].max() < 0.03 and rows["half_width"].max() < 0.05
    assert np.allclose(rows["deviation"], (rows["ratio"] - 1).abs())
    w = worst(rows)
    assert w is not None and w["deviation"] == rows["deviation"].max()
    line = summary_line(rows, over)
    assert line.startswith("calibration: 4 known-truth ratios, worst ")
    assert f"% off (container {w['benchmark']}), all intervals within +-5%" in line


def test_a_container_at_x1_06_is_flagged() -> None:
    df = frame([native(), container(**{"syscall-null": 106e-9})], np.random.default_rng(2), **QUIET)
    over, rows = table(df)
    bad = rows.set_index("benchmark").loc["syscall-null"]
    assert not bad["ok"] and bad["deviation"] == pytest.approx(0.06, abs=0.015)
    assert bad["half_width"] < 0.05  # off, not loose
    assert rows[rows["benchmark"] != "syscall-null"]["ok"].all()
    assert flagged(rows)
    line = summary_line(rows, over)
    assert line.startswith(
        "calibration: 4 known-truth ratios, FLAGGED: container syscall-null x1.0"
    )
    assert line.endswith("% off (limit 3%)") and line.count(";") == 0


def test_a_wide_interval_is_flagged() -> None:
    rng = np.random.default_rng(3)
    quiet = frame([native()], rng, **QUIET)
    noisy = frame([container()], rng, process_sigma=0.12, value_sigma=0.01)
    over, rows = table(as_tidy([quiet, noisy]))
    assert (rows["half_width"] > 0.05).all() and not rows["ok"].any()
    assert flagged(rows)
    line = summary_line(rows, over)
    assert "FLAGGED: " in line and "has an interval of +-" in line and "(limit +-5%)" in line


def test_binary_translations_rdtsc_is_not_a_known_truth() -> None:
    tcg = Host(
        "tcg",
        virt_class="binary-translation",
        baseline="native",
        medians=BASE | {"trap-rdtsc": 60e-9},
        meta={"kernel": "6.1.0-amd64", "virt_layers": "QEMU TCG"},
    )
    df = frame([native(), tcg], np.random.default_rng(4), **QUIET)
    over, rows = table(df)
    assert not over.empty and rows.empty and not flagged(rows)
    assert summary_line(rows, over) == (
        "calibration: no known-truth ratio in this run (no container on its baseline's kernel "
        "measured syscall-null, syscall-read, trap-rdtsc or mem-copy; no host whose user code "
        "runs on the CPU measured trap-rdtsc)"
    )


def test_a_container_on_another_kernel_gives_only_trap_rdtsc() -> None:
    other = container()
    other.meta = {"kernel": "6.2.0"}
    df = frame([native(), other], np.random.default_rng(5), **QUIET)
    _, rows = table(df)
    assert list(rows["benchmark"]) == ["trap-rdtsc"] and list(rows["why"]) == [UNTRAPPED]
    assert rows["ok"].all()


def test_rdtsc_under_user_mode_linux_and_kvm_is_a_known_truth() -> None:
    uml = Host(
        "uml",
        virt_class="paravirtualized",
        baseline="native",
        medians=BASE | {"syscall-null": 30e-6},  # a system call is a ptrace round trip
        meta={"kernel": "6.1.0-uml", "virt_layers": "KVM > User-Mode Linux"},
    )
    kvm = Host("kvm", baseline="native", medians=BASE | {"trap-cpuid": 40e-6})
    df = frame([native(), uml, kvm], np.random.default_rng(6), **QUIET)
    _, rows = table(df)
    assert set(zip(rows["host"], rows["benchmark"], rows["why"], strict=True)) == {
        ("uml", "trap-rdtsc", UNTRAPPED),
        ("kvm", "trap-rdtsc", UNTRAPPED),
    }
    assert rows["ok"].all()


def test_a_layer_known_to_trap_rdtsc_takes_no_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # the module itself: ``analysis.calibration`` is also the name of its function
    module = importlib.import_module("analysis.calibration")
    monkeypatch.setattr(module, "RDTSC_TRAPPING_LAYERS", frozenset({"VMware"}))
    vmware = Host("vmware", baseline="native", medians=dict(BASE), meta={"virt_layers": "VMware"})
    kvm = Host("kvm", baseline="native", medians=dict(BASE))
    _, rows = table(frame([native(), vmware, kvm], np.random.default_rng(7), **QUIET))
    assert list(rows["host"]) == ["kvm"]


@pytest.mark.parametrize(
    ("meta", "benchmarks"),
    [
        ({"kernel": ""}, ["trap-rdtsc"]),  # an unknown kernel is no evidence of the same one
        ({"machine": "other-box"}, []),  # another machine: nothing is known by construction
        ({"binary_sha256": "cd" * 32}, []),  # another harness
    ],
)
def test_what_is_not_known_is_no_known_truth(
    meta: dict[str, object], benchmarks: list[str]
) -> None:
    host = container()
    host.meta = meta
    _, rows = table(frame([native(), host], np.random.default_rng(8), **QUIET))
    assert list(rows["benchmark"]) == benchmarks


def test_facts_from_the_tidy_frame_or_its_host_facts_agree() -> None:
    df = frame([native(), container()], np.random.default_rng(9), **QUIET)
    over = analysis.overhead(df)
    pd.testing.assert_frame_equal(known_truths(over, df), known_truths(over, host_facts(df)))


def test_a_run_without_baselines_says_so() -> None:
    df = frame([native()], np.random.default_rng(10))
    over, rows = table(df)
    assert over.empty and rows.empty and list(rows.columns) == COLUMNS
    assert summary_line(rows, over) == (
        "calibration: no known-truth ratio in this run (no host has a baseline)"
    )


def test_a_ratio_that_is_not_a_number_is_not_ok() -> None:
    """A pure function of two small frames: a baseline figure of zero gives no ratio."""
    over = pd.DataFrame(
        {
            "run": ["r"],
            "host": ["c"],
            "virt_class": ["container"],
            "baseline": ["n"],
            "benchmark": ["mem-copy"],
            "ratio": [math.nan],
            "ratio_low": [math.nan],
            "ratio_high": [math.nan],
        }
    )
    facts = pd.DataFrame(
        {
            "run": ["r", "r"],
            "host": ["c", "n"],
            "virt_class": ["container", "bare-metal"],
            "kernel": ["6.1.0", "6.1.0"],
        }
    )
    rows = known_truths(over, facts)
    assert len(rows) == 1 and not rows["ok"].iat[0] and flagged(rows)
    assert summary_line(rows, over) == (
        "calibration: 1 known-truth ratio, FLAGGED: c mem-copy has no ratio"
    )


def test_overhead_json_carries_the_calibration() -> None:
    df = frame([native(), container(**{"syscall-null": 106e-9})], np.random.default_rng(2), **QUIET)
    over, rows = table(df)
    empty = pd.DataFrame()
    doc = overhead_document("r", empty, over, empty, empty, empty, rows)
    assert doc["format_version"] == OVERHEAD_FORMAT == 2
    cal = json.loads(json.dumps(doc, allow_nan=False))["calibration"]
    assert cal["flagged"] is True and cal["line"] == summary_line(rows, over)
    assert cal["worst"] == {"host": "container", "benchmark": "syscall-null"}
    assert cal["worst_deviation"] == pytest.approx(rows["deviation"].max())
    assert cal["limits"] == {"deviation": 0.03, "half_width": 0.05}
    assert [r["benchmark"] for r in cal["rows"]] == list(rows["benchmark"])
    nothing = overhead_document("r", empty, over.iloc[0:0], empty, empty, empty, rows.iloc[0:0])
    assert nothing["calibration"]["worst"] is None
    assert nothing["calibration"]["worst_deviation"] is None
    assert nothing["calibration"]["flagged"] is False


# --- ringbench overhead on a run directory in the real on-disk format ------------------

LAB_FACTS = {
    "native": {"virt_class": "hardware-assisted", "virt_layers": "KVM"},
    "container": {"virt_class": "container", "virt_layers": "KVM > namespaces (unshare/chroot)"},
    "uml": {
        "virt_class": "paravirtualized",
        "kernel": "6.1.0-uml",
        "virt_layers": "KVM > User-Mode Linux",
    },
}
IO = {"io-write-sync": 1e-3, "io-direct-read": 100e-6, "io-pread": 2e-6}


def lab_run(results: Path, container_syscall: float) -> str:
    """A run of the local lab's shape: a container and a UML guest against native; UML's
    synchronous write and direct read cheaper than native's disk (x0.83, x0.56)."""
    figures = {
        "native": BASE | IO,
        "container": BASE | IO | {"syscall-null": container_syscall},
        "uml": BASE
        | {"syscall-null": 30e-6, "io-write-sync": 0.83e-3, "io-direct-read": 56e-6}
        | {"io-pread": 1.5e-6},
    }
    write_run(results, 0, figures, LAB_FACTS, baseline="native")
    return run_id(0)


@pytest.mark.parametrize("container_syscall", [100e-9, 106e-9])
def test_overhead_command_prints_and_writes_the_calibration(
    tmp_path: Path, container_syscall: float
) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    run = lab_run(results, container_syscall)
    console = Console(record=True, width=200)
    assert cmd_overhead(console, run, results, out, plots=False) == 0
    text = console.export_text()
    assert "calibration: ratios whose truth is known" in text  # the table's title
    doc = json.loads((out / "overhead.json").read_text())
    assert doc["format_version"] == 2
    cal = doc["calibration"]
    assert cal["line"] in text
    hosts = {(r["host"], r["benchmark"]) for r in cal["rows"]}
    assert hosts == {("container", b) for b in SAME_KERNEL_BENCHMARKS} | {("uml", "trap-rdtsc")}
    if container_syscall == 100e-9:
        assert cal["flagged"] is False
        assert cal["line"].startswith("calibration: 5 known-truth ratios, worst ")
        assert cal["line"].endswith("all intervals within +-5%")
    else:
        assert cal["flagged"] is True
        assert "calibration: 5 known-truth ratios, FLAGGED: container syscall-null x1.06" in text
        assert "! off" in text  # the table marks the row
    # The durability flag travels with the overhead table and shows in the findings.
    flagged_rows = {r["benchmark"] for r in doc["overhead"] if "durability" in r["flagged"]}
    assert flagged_rows == {"io-write-sync", "io-direct-read"}
    assert {r["host"] for r in doc["flags"] if r["check"] == "durability"} == {"uml"}
    assert "durability" in text and "cheaper than the disk beneath it" in text


def test_overhead_command_on_a_run_without_baselines(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, 0, {"native": dict(BASE)})
    console = Console(record=True, width=200)
    assert cmd_overhead(console, run_id(0), results, tmp_path / "out", plots=False) == 0
    text = console.export_text()
    assert "calibration: no known-truth ratio in this run (no host has a baseline)" in text
    doc = json.loads((tmp_path / "out" / "overhead.json").read_text())
    assert doc["calibration"]["rows"] == [] and doc["calibration"]["flagged"] is False
