"""The analysis: intervals that cover, ratios without bias, flags that fire when they should."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import analysis
from analysis import load
from analysis.mechanisms import mechanisms
from analysis.references import beside_published, published
from analysis.stats import (
    SEGMENT_SIZES,
    _process_order,
    bootstrap,
    paired_ratio_columns,
    ratio_columns,
    summarize,
)
from analysis.tidy import COLUMNS
from analysis.validity import across_runs, validity
from runners.cli import main
from suites.build import BuildInfo
from tests.analysis_data import Host, frame
from tests.sshd import Sshd
from tests.test_remote_run import QUICK, inventory, the_run

TRUE_RATIO = 1.5
TRIALS = 200


def trials(rng: np.random.Generator, processes: int = 5) -> pd.DataFrame:
    """200 independent runs of a baseline and an environment TRUE_RATIO dearer."""
    return pd.concat(
        [
            frame(
                [
                    Host("base", medians={"syscall-null": 100e-9}),
                    Host("env", baseline="base", medians={"syscall-null": TRUE_RATIO * 100e-9}),
                ],
                rng,
                run=f"run{t:03d}",
                processes=processes,
            )
            for t in range(TRIALS)
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize("processes", [3, 5, 10])
def test_intervals_cover_the_true_median_and_ratio(processes: int) -> None:
    df = trials(np.random.default_rng(processes), processes)
    boot = bootstrap(df)
    summary = summarize(df, boot)
    truth = np.where(summary["host"] == "base", 100e-9, TRUE_RATIO * 100e-9)
    covered = (summary["ci_low_s"] <= truth) & (truth <= summary["ci_high_s"])
    assert covered.mean() >= 0.90, covered.mean()

    table = analysis.overhead(df, boot)
    assert len(table) == TRIALS
    ratio_covered = (table["ratio_low"] <= TRUE_RATIO) & (table["ratio_high"] >= TRUE_RATIO)
    assert ratio_covered.mean() >= 0.90, ratio_covered.mean()
    # Unbiased: the mean log estimate sits on the truth, well inside a typical interval.
    log_error = np.log(table["ratio"]).mean() - math.log(TRUE_RATIO)
    half_width = (np.log(table["ratio_high"]) - np.log(table["ratio_low"])).mean() / 2
    assert abs(log_error) < 0.1 * half_width, (log_error, half_width)
    added = (TRUE_RATIO - 1) * 100
    assert abs(table["added_ns"].mean() - added) < 0.1 * added


def _ratios(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The env/base ratio of every run: paired (as the overhead table has it) and the
    ratio of the two figures (from their replicates)."""
    boot = bootstrap(df)
    index = boot.lookup()
    runs = df["run"].unique()
    num = [index[(r, "env", "syscall-null")] for r in runs]
    den = [index[(r, "base", "syscall-null")] for r in runs]
    two_figures = ratio_columns(
        boot.point[num], boot.point[den], boot.replicates[num], boot.replicates[den]
    )
    return paired_ratio_columns(boot, num, den), two_figures


def _width(cols: pd.DataFrame) -> float:
    return float((np.log(cols["ratio_high"]) - np.log(cols["ratio_low"])).median())


def test_a_phase_common_to_a_pair_cancels_in_its_ratio() -> None:
    """Process k of both hosts share the machine's phase (the interleaved turn, +-10%): the
    paired ratio and its interval are those without the phases; the ratio of the two
    figures widens with them."""
    rng = np.random.default_rng(5)
    calm = trials(rng, processes=10)
    phases = np.exp(rng.normal(0, 0.10, (TRIALS, 10)))
    run_number = calm["run"].str.slice(3).astype(int).to_numpy()
    phased = calm.assign(value_s=calm["value_s"] * phases[run_number, calm["process"]])
    (calm_paired, calm_figures), (paired, figures) = _ratios(calm), _ratios(phased)
    assert paired["paired"].all()
    for column in ("ratio", "ratio_low", "ratio_high"):
        assert np.allclose(paired[column], calm_paired[column], rtol=1e-9)
    assert _width(figures) > 1.3 * _width(calm_figures)
    covered = (paired["ratio_low"] <= TRUE_RATIO) & (paired["ratio_high"] >= TRUE_RATIO)
    assert covered.mean() >= 0.90, covered.mean()
    table = analysis.overhead(phased)
    assert np.allclose(table["ratio"], paired["ratio"]), "the overhead table's ratio is paired"


def test_without_the_same_processes_a_ratio_is_not_paired() -> None:
    rng = np.random.default_rng(6)
    df = trials(rng, processes=5)
    df = df[(df["run"] == "run000") & ((df["host"] == "base") | (df["process"] < 4))]
    paired, figures = _ratios(df)
    assert not paired["paired"].any()
    pd.testing.assert_frame_equal(paired.drop(columns="paired"), figures)


def test_the_values_are_ordered_as_lexsort_orders_them() -> None:
    """The bootstrap's sort by process, then value: lexsort's order exactly, ties in row
    order, for processes of one size, of several sizes, and beyond the sizes it batches."""
    rng = np.random.default_rng(8)
    for sizes in ([334] * 30, [10, 40, 10, 3, 1, 40], list(range(1, SEGMENT_SIZES + 5))):
        pcode = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        rng.shuffle(pcode)
        vals = rng.choice(rng.random(50), len(pcode))  # many ties
        assert np.array_equal(_process_order(pcode, vals), np.lexsort((vals, pcode)))


def test_intervals_are_reproducible_and_independent_of_what_else_is_loaded() -> None:
    rng = np.random.default_rng(7)
    one = frame([Host("a", medians={"syscall-null": 1e-7, "trap-cpuid": 1e-6})], rng)
    other = frame([Host("b", medians={"syscall-null": 2e-7})], rng, run="20261126T000000Z-111111")
    alone = summarize(one).set_index(["host", "benchmark"])
    together = summarize(pd.concat([other, one], ignore_index=True))
    together = together[together["run"] == str(one["run"].iat[0])].set_index(["host", "benchmark"])
    pd.testing.assert_frame_equal(alone, together.loc[alone.index], check_categorical=False)


def test_order_statistic_draws_match_a_literal_resample() -> None:
    """The shortcut (drawing a resample's median from its exact law) against resampling."""
    rng = np.random.default_rng(3)
    values = np.sort(rng.lognormal(0, 0.3, 9))
    df = pd.DataFrame({"run": "r", "host": "h", "benchmark": "b", "process": 0, "value_s": values})
    boot = bootstrap(df, n_boot=20000)
    literal = np.median(rng.choice(values, size=(20000, 9)), axis=1)
    for q in (5, 25, 50, 75, 95):
        assert np.percentile(boot.replicates[0], q) == pytest.approx(np.percentile(literal, q))


def test_a_ratio_is_unresolved_when_the_difference_is_within_the_noise() -> None:
    rng = np.random.default_rng(11)
    df = frame(
        [
            Host("base", medians={"syscall-null": 100e-9}),
            Host("same", baseline="base", medians={"syscall-null": 100.5e-9}),
            Host("dearer", baseline="base", medians={"syscall-null": 130e-9}),
        ],
        rng,
    )
    table = analysis.overhead(df).set_index("host")
    assert table.at["same", "verdict"] == "same"
    assert table.at["dearer", "verdict"] == "dearer"
    assert table.at["dearer", "ratio_low"] > 1.2


def clean_hosts() -> list[Host]:
    medians = {"syscall-null": 100e-9, "trap-cpuid": 1e-6}
    return [
        Host("native", medians=dict(medians)),
        Host("guest", virt_class="paravirtualized", baseline="native", medians=dict(medians)),
    ]


def checks_of(df: pd.DataFrame) -> set[tuple[str, str, str]]:
    flags = validity(df, summarize(df))
    return set(zip(flags["host"], flags["check"], flags["severity"], strict=True))


def test_clean_metadata_raises_no_flag() -> None:
    df = frame(clean_hosts(), np.random.default_rng(1))
    assert checks_of(df) == set()
    assert (analysis.overhead(df)["flagged"] == "").all()


@pytest.mark.parametrize(
    ("column", "value", "check", "severity"),
    [
        ("binary_sha256", "cd" * 32, "binary", "invalid"),
        ("machine", "other-box", "machine", "invalid"),
        ("cpu_model_name", "QEMU Virtual CPU", "cpu-model", "confounded"),
        ("kernel", "6.18.0", "kernel", "confounded"),
        ("mitigations", "spectre_v1=usercopy", "mitigations", "confounded"),
        ("thp", "always", "thp", "confounded"),
        ("cpu_governor", "powersave", "governor", "confounded"),
        ("clocksource", "kvm-clock", "clocksource", "confounded"),
        ("clock_check", "OFF: host clock disagrees with controller", "clock", "suspect"),
        ("steal_ticks", 3.0, "steal", "suspect"),
        ("virt_class_warning", "inventory says container, probe found KVM", "probe", "suspect"),
    ],
)
def test_each_flag_fires_on_crafted_metadata(
    column: str, value: object, check: str, severity: str
) -> None:
    hosts = clean_hosts()
    hosts[1].meta = {column: value}
    df = frame(hosts, np.random.default_rng(2))
    assert checks_of(df) == {("guest", check, severity)}
    flagged = analysis.overhead(df)["flagged"]
    assert all(check in f.split(",") for f in flagged)


def test_unknown_facts_are_no_difference() -> None:
    hosts = clean_hosts()
    hosts[1].meta = {"mitigations": "", "thp": ""}  # a chroot without /sys reads nothing
    assert checks_of(frame(hosts, np.random.default_rng(2))) == set()


def test_spread_and_a_missing_baseline_figure_are_flagged() -> None:
    hosts = clean_hosts()
    hosts[1].medians["fault-anon"] = 2e-6
    df = frame(hosts, np.random.default_rng(4), process_sigma=0.2)
    flags = validity(df, summarize(df))
    assert ("guest", "fault-anon", "baseline", "invalid") in set(
        zip(flags["host"], flags["benchmark"], flags["check"], flags["severity"], strict=True)
    )
    assert "spread" in set(flags["check"])
    assert not analysis.overhead(df)["benchmark"].eq("fault-anon").any()


IO = {"io-write-sync": 1e-3, "io-direct-read": 100e-6, "io-pread": 2e-6}
UML = {"kernel": "6.1.0-uml", "virt_layers": "KVM > User-Mode Linux"}


def durability(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(host, benchmark) -> detail of every durability finding, with and without the
    bootstrap at hand (the same findings either way)."""
    boot = bootstrap(df)
    flags = validity(df, summarize(df, boot), boot)
    pd.testing.assert_frame_equal(flags, validity(df, summarize(df, boot)))
    found = flags[flags["check"] == "durability"]
    assert set(found["severity"]) <= {"suspect"}
    return dict(
        zip(zip(found["host"], found["benchmark"], strict=True), found["detail"], strict=True)
    )


def test_a_guest_cheaper_than_the_disk_beneath_it_is_flagged() -> None:
    """UML's synchronous write at x0.83 and direct read at x0.56 of native, as measured."""
    uml = Host(
        "uml",
        virt_class="paravirtualized",
        baseline="native",
        medians={"io-write-sync": 0.83e-3, "io-direct-read": 56e-6, "io-pread": 1.5e-6},
        meta=UML,
    )
    df = frame([Host("native", medians=dict(IO)), uml], np.random.default_rng(12))
    found = durability(df)
    assert set(found) == {("uml", "io-write-sync"), ("uml", "io-direct-read")}  # not io-pread
    write = found[("uml", "io-write-sync")]
    assert re.fullmatch(
        r"x0\.8\d\d \[0\.\d{3}-0\.\d{3}\] of native: cheaper than the disk beneath it; the layer "
        r"may not honour fdatasync \(its writes may stop in the host's page cache\)",
        write,
    ), write
    read = found[("uml", "io-direct-read")]
    assert read.startswith("x0.5") and "may not honour O_DIRECT" in read
    table = analysis.overhead(df).set_index("benchmark")
    assert table["ratio_high"]["io-write-sync"] < 1
    assert "durability" in table.at["io-write-sync", "flagged"].split(",")
    assert "durability" in table.at["io-direct-read", "flagged"].split(",")
    assert "durability" not in table.at["io-pread", "flagged"]


@pytest.mark.parametrize(
    ("virt_class", "meta", "factor"),
    [
        ("container", {}, 0.8),  # the baseline's own kernel and disk: not a layered device
        ("hardware-assisted", {}, 0.8),  # the baseline's very system, reached another way
        ("paravirtualized", UML, 1.0),  # a guest as dear as its disk
        ("paravirtualized", UML, 0.995),  # cheaper, within the noise
        ("paravirtualized", UML, 1.5),  # dearer, as a layer should be
    ],
)
def test_durability_is_not_flagged_without_its_premises(
    virt_class: str, meta: dict[str, object], factor: float
) -> None:
    guest = Host(
        "guest",
        virt_class=virt_class,
        baseline="native",
        medians={b: factor * m for b, m in IO.items()},
        meta=meta,
    )
    df = frame([Host("native", medians=dict(IO)), guest], np.random.default_rng(13))
    assert durability(df) == {}


@pytest.mark.parametrize(
    ("baseline_class", "meta"),
    [
        ("hardware-assisted", {"kernel": "6.2.0"}),  # its own kernel release
        ("hardware-assisted", {"virt_layers": "KVM > KVM"}),  # a layer the baseline lacks
        ("bare-metal", {}),  # a guest of a bare-metal baseline
    ],
)
def test_durability_needs_one_sign_of_a_kernel_of_its_own(
    baseline_class: str, meta: dict[str, object]
) -> None:
    guest = Host(
        "kvm",
        baseline="native",
        medians={b: 0.5 * m for b, m in IO.items()},
        meta=meta,
    )
    native = Host("native", virt_class=baseline_class, medians=dict(IO))
    found = durability(frame([native, guest], np.random.default_rng(14)))
    assert set(found) == {("kvm", "io-write-sync"), ("kvm", "io-direct-read")}


def test_across_runs_names_what_changed() -> None:
    rng = np.random.default_rng(5)
    a = frame(clean_hosts(), rng, run="20261125T000000Z-aaaaaa")
    changed = clean_hosts()
    changed[1].meta = {"kernel": "6.2.0"}
    changed[0].meta = {"cpu_model_name": "Intel Xeon"}
    b = frame(changed[:1], rng, run="20261126T000000Z-bbbbbb")
    b = pd.concat([b, frame(changed[1:], rng, run="20261126T000000Z-bbbbbb")], ignore_index=True)
    found = set(zip(*(across_runs(a, b)[c] for c in ("host", "check", "severity")), strict=True))
    assert found == {("native", "cpu-model", "invalid"), ("guest", "kernel", "confounded")}
    compared = analysis.compare(a, b)
    assert set(compared["host"]) == {"native", "guest"}
    assert compared["ratio"].between(0.9, 1.1).all()
    assert compared.set_index("host").loc["guest", "flagged"].str.contains("kernel").all()


def test_mechanisms_subtract_and_compare_with_their_intervals() -> None:
    base = {
        "syscall-null": 100e-9,
        "fault-anon": 1100e-9,
        "io-pread": 2e-6,
        "io-direct-read": 12e-6,
        "mem-chase-4k": 150e-9,
        "mem-chase-huge": 50e-9,
    }
    guest = {**base, "syscall-null": 300e-9, "fault-anon": 4300e-9}  # entry x3, MMU share x4
    df = frame(
        [Host("native", medians=base), Host("guest", baseline="native", medians=guest)],
        np.random.default_rng(6),
    )
    mech = mechanisms(df).set_index(["host", "mechanism"])
    mmu = mech.loc[("guest", "MMU share of a page fault")]
    assert mmu["cost_ns"] == pytest.approx(4000, rel=0.05)
    assert mmu["baseline_ns"] == pytest.approx(1000, rel=0.05)
    assert mmu["ratio_low"] < 4 < mmu["ratio_high"]
    assert mmu["added_low_ns"] < 3000 < mmu["added_high_ns"]
    assert mech.loc[("guest", "ring transition"), "ratio"] == pytest.approx(3, rel=0.05)
    device = mech.loc[("guest", "emulated device request")]
    assert device["part_ns"] == pytest.approx(2000, rel=0.05)
    assert device["total_ns"] == pytest.approx(12000, rel=0.05)
    walk = mech.loc[("native", "two-dimensional page walk")]
    assert walk["cost_ns"] == pytest.approx(100, rel=0.1) and math.isnan(walk["added_ns"])
    assert mech.loc[("guest", "VM exit (cpuid)"), "note"] == "trap-cpuid not measured"


def test_published_ratios_are_set_beside_the_measured_ones() -> None:
    refs = published()
    assert {"adams2006", "barham2003"} <= set(refs["source"])
    assert (refs["ratio"] > 0).all()
    adams = refs[(refs["source"] == "adams2006") & (refs["operation"] == "syscall")]
    assert set(adams["env_class"]) == {"binary-translation", "hardware-assisted"}
    measured = pd.DataFrame(
        {
            "benchmark": ["syscall-null", "syscall-null", "mem-chase-4k"],
            "virt_class": ["paravirtualized", "binary-translation", "paravirtualized"],
            "host": ["uml", "tcg", "uml"],
            "ratio": [300.0, 3.0, 1.1],
            "ratio_low": [290.0, 2.8, 1.0],
            "ratio_high": [310.0, 3.2, 1.2],
        }
    )
    beside = beside_published(measured)
    uml = beside[(beside["host"] == "uml") & (beside["environment"].str.contains("User-Mode"))]
    assert uml["published_ratio"].iat[0] == pytest.approx(24.7 / 0.45)
    assert set(beside[beside["host"] == "tcg"]["source"]) == {"adams2006", "barham2003"}
    assert "mem-chase-4k" not in set(beside["benchmark"])


def test_load_of_a_real_local_run_has_the_documented_columns(
    harness: BuildInfo, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    args = ["run", "--local", "--bench", "syscall-stat", "--bench", "trap-ud2", *QUICK]
    assert main([*args, "--results", str(results)]) == 0
    df = load(the_run(results))
    assert list(df.columns) == COLUMNS
    assert set(df["benchmark"]) == {"syscall-stat", "trap-ud2"}
    assert len(df) == 2 * 2 * 3  # benchmarks x processes x values
    assert set(df["process"]) == {0, 1}
    assert (df["value_s"] > 0).all() and (df["value_s"] < 1e-3).all()
    assert set(df["binary_sha256"]) == {harness.sha256}
    assert df["virt_class"].iat[0] in {"bare-metal", "hardware-assisted", "container"}
    assert df["kernel"].iat[0] and df["cpu_model_name"].iat[0]
    summary = summarize(df)
    assert (summary["ci_low_s"] <= summary["median_s"]).all()
    assert (summary["median_s"] <= summary["ci_high_s"]).all()


def test_overhead_and_compare_commands_on_real_runs_over_ssh(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path
) -> None:
    """Two hosts through a real sshd, one the baseline of the other, measured twice."""
    servers = {"guest": sshd_factory("guest")}
    inv = inventory(tmp_path, servers, extra="")
    text = inv.read_text().replace("machine: m-guest", "machine: box0\n      baseline: native")
    inv.write_text(text)
    results = tmp_path / "results"
    args = ["run", "--inventory", str(inv), "--bench", "syscall-null", "--bench", "trap-rdtsc"]
    for _ in range(2):
        assert main([*args, *QUICK, "--results", str(results)]) == 0
    first, second = sorted(p for p in results.iterdir() if p.is_dir())

    out = tmp_path / "analysis"
    console = Console(record=True, width=160)
    from runners.cli.analysis import cmd_compare, cmd_overhead

    assert cmd_overhead(console, second.name, results, out) == 0
    text = console.export_text()
    assert "guest" in text and "syscall-null" in text and "ring transition" in text
    document = json.loads((out / "overhead.json").read_text())
    assert document["format_version"] == 2 and document["run"] == second.name
    # The calibration: a line printed and written; trap-rdtsc a known truth unless emulated.
    calibration = document["calibration"]
    assert calibration["line"].startswith("calibration: ") and calibration["line"] in text
    known = {r["benchmark"] for r in calibration["rows"]}
    assert known <= {"syscall-null", "trap-rdtsc"}
    guest_class = next(r["virt_class"] for r in document["overhead"] if r["host"] == "guest")
    assert ("trap-rdtsc" in known) == (guest_class != "binary-translation")
    assert calibration["flagged"] == any(not r["ok"] for r in calibration["rows"])
    rows = {r["benchmark"]: r for r in document["overhead"]}
    assert set(rows) == {"syscall-null", "trap-rdtsc"}
    # The same machine, the same kernel: sshd adds nothing to a system call.
    assert 0.5 < rows["syscall-null"]["ratio"] < 2
    assert rows["syscall-null"]["ratio_low"] <= rows["syscall-null"]["ratio_high"]
    assert (out / "overhead-heatmap.png").stat().st_size > 0

    console = Console(record=True, width=160)
    assert cmd_compare(console, first.name, second.name, results) == 0
    text = console.export_text()
    assert f"{second.name} against {first.name}" in text
    assert text.count("syscall-null") == 2  # one row per host


def test_overhead_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["overhead", "--results", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    bad = tmp_path / "20261125T000000Z-abcdef"
    bad.mkdir()
    (bad / "manifest.json").write_text("{}")
    (bad / "h.json").write_text("{not json")
    assert main(["overhead", str(bad), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "h.json" in err and err.strip().count("\n") == 0
