"""The regression gate: decisions, false discoveries, the history's range, the ratio view,
exit codes, JUnit and Markdown; on synthetic stores and on real runs of the harness."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.history import history, history_before, run_settings, settings_key
from analysis.regress import (
    COLUMNS,
    HISTORY_MAX_RUNS,
    benjamini_hochberg,
    held_range,
    process_ratios,
    regressions,
    set_aside,
    welch_p,
)
from analysis.stats import summarize
from benchmarks.regress_gate import build_wrapper
from runners.cli import main
from suites.build import BuildInfo
from tests.analysis_data import Host, frame
from tests.history_data import run_id, settings, write_run

BENCHES = {f"syscall-b{i:02d}": 1e-7 * (1 + i) for i in range(20)}


def run_pair(
    rng: np.random.Generator, slower: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = frame([Host("h", medians=dict(BENCHES))], rng, run="20261125T000000Z-aaaaaa")
    changed = {b: m * (slower or {}).get(b, 1.0) for b, m in BENCHES.items()}
    current = frame([Host("h", medians=changed)], rng, run="20261126T000000Z-bbbbbb")
    return base, current


# --- the test and the many comparisons ------------------------------------------


def test_benjamini_hochberg_matches_the_procedure_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> x4/1, x4/2, x4/3, x4/4 -> 0.04, 0.06, 0.0533, 0.2,
    # then the running minimum from the top: 0.04, 0.0533, 0.0533, 0.2
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.0533333, 0.0533333, 0.2])


def test_welch_on_logs() -> None:
    same = np.array([1.0, 1.01, 0.99, 1.0, 1.02])
    assert welch_p(same, same * 1.0) > 0.5
    assert welch_p(same, same * 1.3) < 1e-6
    assert welch_p(same[:1], same) == 1.0  # one process: nothing to test


def test_the_ratio_views_units_pair_process_k_with_process_k() -> None:
    host = pd.Series({0: 2.0, 1: 4.0, 2: 9.0, 3: 5.0})
    baseline = pd.Series({0: 1.0, 1: 2.0, 2: 3.0})  # process 3 of the baseline is missing
    assert process_ratios(host, baseline).tolist() == [2.0, 2.0, 3.0]


def test_no_false_alarm_over_many_a_a_comparisons() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        result = regressions(*run_pair(rng))
        assert list(result.columns) == COLUMNS and len(result) == len(BENCHES)
        assert (result["change"] == "no change").all(), result[result["change"] != "no change"]
        assert (result["view"] == "figure").all()  # no host with a baseline: no ratio view


def test_an_injected_slowdown_is_caught_and_nothing_else() -> None:
    rng = np.random.default_rng(2)
    slower = {"syscall-b03": 1.3, "syscall-b07": 1.5, "syscall-b11": 0.6}
    result = regressions(*run_pair(rng, slower)).set_index("benchmark")
    assert set(result.index[result["change"] == "regression"]) == {"syscall-b03", "syscall-b07"}
    assert set(result.index[result["change"] == "improvement"]) == {"syscall-b11"}
    assert result.at["syscall-b07", "ratio_low"] < 1.5 < result.at["syscall-b07", "ratio_high"]
    # Without history the range is the baseline run's figure alone.
    assert (result["history_low"] == result["a_s"]).all()
    assert (result["history_high"] == result["a_s"]).all() and (result["history_runs"] == 0).all()
    # Below the threshold a significant change is no regression.
    small = regressions(*run_pair(rng, {"syscall-b03": 1.10}), threshold=0.15)
    assert (small["change"] == "no change").all()
    assert (
        (regressions(*run_pair(rng, {"syscall-b03": 1.10}), threshold=0.05)["change"])
        .eq("regression")
        .sum()
        == 1
    )


def test_a_history_without_the_current_runs_settings_is_refused() -> None:
    base, current = run_pair(np.random.default_rng(0))
    with pytest.raises(ValueError, match="settings"):
        regressions(base, current, history=pd.DataFrame())


# --- the history's range ----------------------------------------------------------


def test_a_single_spike_is_set_aside_and_does_not_widen_the_range() -> None:
    steady = 195e-9 * np.exp(np.random.default_rng(4).normal(0, 0.01, 9))
    spiked = np.r_[steady[:4], 400e-9, steady[4:]]
    low, high, found, outlying = held_range(spiked, baseline=196e-9)
    assert (found, outlying) == (10, 1)
    assert high < 205e-9 and low > 185e-9
    assert set_aside(np.log(spiked)).tolist() == [False] * 4 + [True] + [False] * 5


def test_two_speeds_are_both_kept_even_when_one_is_the_minority() -> None:
    """Six runs at ~195 ns, three at ~265 ns: the MAD is one speed's own scatter and the
    slow runs lie many MADs out, but each has a neighbour: a speed, not a spike."""
    rng = np.random.default_rng(5)
    speeds = np.array([195, 265, 195, 195, 265, 195, 195, 265, 195]) * 1e-9
    earlier = speeds * np.exp(rng.normal(0, 0.01, len(speeds)))
    low, high, found, outlying = held_range(earlier, baseline=195e-9)
    assert (found, outlying) == (9, 0)
    assert low == pytest.approx(195e-9, rel=0.04) and high == pytest.approx(265e-9, rel=0.04)


def test_the_baseline_run_is_always_in_the_range_and_counts_as_a_neighbour() -> None:
    earlier = np.array([195, 196, 194, 195, 265]) * 1e-9
    # alone, the 265 ns run is a spike ...
    assert held_range(earlier, baseline=195e-9)[1:] == (pytest.approx(196e-9), 5, 1)
    # ... but with a baseline run at the same speed it is a speed seen twice
    low, high, _, outlying = held_range(earlier, baseline=262e-9)
    assert (low, high, outlying) == (pytest.approx(194e-9), pytest.approx(265e-9), 0)
    # a baseline run far off is never set aside: it is the run the user named
    assert held_range(earlier, baseline=900e-9)[:2] == pytest.approx((194e-9, 900e-9))


def test_too_little_history_is_the_baseline_alone_and_the_window_keeps_the_latest() -> None:
    assert held_range(np.array([300e-9]), baseline=200e-9) == (200e-9, 200e-9, 1, 0)
    # two earlier runs and the baseline run: three figures, a range
    assert held_range(np.array([100e-9, 300e-9]), baseline=200e-9) == (100e-9, 300e-9, 2, 0)
    # ... in which one spike is outvoted
    assert held_range(np.array([201e-9, 400e-9]), baseline=200e-9) == (200e-9, 201e-9, 2, 1)
    assert held_range(np.array([]), baseline=200e-9) == (200e-9, 200e-9, 0, 0)
    # 30 runs: the first 10 at a speed the machine no longer has fall out of the window
    earlier = np.r_[np.full(10, 400e-9), np.full(20, 200e-9)]
    assert held_range(earlier, baseline=200e-9) == (200e-9, 200e-9, HISTORY_MAX_RUNS, 0)


# --- the gate over a store (synthetic runs in the real on-disk format) ---------------

NULL = 195e-9
SLOW = 265e-9 / NULL  # the slow phase of this machine, seen on the null system call


def regress(store: Path, base: int, current: int, *extra: str) -> int:
    args = ["regress", "--store", str(store), "--baseline", run_id(base)]
    return main([*args, "--current", run_id(current), *extra])


def gate(store: Path, base: int, current: int) -> pd.DataFrame:
    """The gate's frame, as ``ringbench regress`` computes it."""
    return regressions(
        analysis.load(store / run_id(base)),
        analysis.load(store / run_id(current)),
        history=history_before(store, run_id(current)),
        settings=run_settings(store / run_id(current)),
    )


def test_a_flipping_history_does_not_hide_a_slowdown_beyond_both(tmp_path: Path) -> None:
    """What happened here: the null system call flipped between ~195 and ~265 ns; a run
    under a seccomp filter (334 ns) against a baseline run in the slow phase (261 ns)
    was passed, the threshold raised to the size of the flips. Held against the range
    of the flips, it is caught; a move between the two speeds still is not."""
    store = tmp_path / "results"
    for i, phase in enumerate([1, SLOW, 1, 1, SLOW, 1, SLOW, 1]):
        write_run(store, i, {"native": {"syscall-null": NULL * phase}})
    write_run(store, 8, {"native": {"syscall-null": 261e-9}})
    write_run(store, 9, {"native": {"syscall-null": 334e-9}})
    md = tmp_path / "summary.md"
    assert regress(store, 8, 9, "--markdown", str(md)) == 1
    text = md.read_text()
    assert re.search(r"\| native \| syscall-null \| figure \| 26\d ns \| 33\d ns \|", text)
    held = r"held against 19\d-26\d ns over 8 comparable earlier runs and the baseline run"
    assert re.search(held, text), text
    (row,) = gate(store, 8, 9).to_dict(orient="records")
    assert row["history_runs"] == 8 and row["history_set_aside"] == 0
    assert row["history_high"] == pytest.approx(265e-9, rel=0.01)
    # a move between two speeds the history has shown is no alarm, either way
    assert regress(store, 7, 8) == 0  # 195 -> 261 ns
    assert regress(store, 6, 7) == 0  # 265 -> 195 ns
    assert gate(store, 6, 7)["change"].tolist() == ["no change"]
    alone = regressions(analysis.load(store / run_id(7)), analysis.load(store / run_id(8)))
    assert alone["change"].tolist() == ["regression"]  # what the baseline run alone says


def test_runs_under_other_settings_or_host_facts_do_not_widen_the_history(
    tmp_path: Path,
) -> None:
    """The comparable history of a default run is steady at 195 ns; --fast runs and runs
    on another kernel that flipped to 265 ns do not count, so 265 ns is a regression."""
    store = tmp_path / "results"
    fast = {"min_time_s": 0.005}
    for i in range(4):
        write_run(store, 3 * i, {"native": {"syscall-null": NULL}})
        slow = {"native": {"syscall-null": NULL * SLOW}}
        write_run(store, 3 * i + 1, slow, processes=2, config=fast)
        other = {"native": {"kernel": "6.9.0"}}
        write_run(store, 3 * i + 2, {"native": {"syscall-null": NULL * SLOW}}, other)
    write_run(store, 12, {"native": {"syscall-null": NULL}})
    write_run(store, 13, {"native": {"syscall-null": NULL * SLOW}})
    md = tmp_path / "summary.md"
    assert regress(store, 12, 13, "--markdown", str(md)) == 1
    assert "over 4 comparable earlier runs and the baseline run" in md.read_text()
    (row,) = gate(store, 12, 13).to_dict(orient="records")
    assert row["history_runs"] == 4 and row["history_high"] == pytest.approx(NULL, rel=0.01)
    # the settings of a run are those of its manifest
    assert run_settings(store / run_id(1)) == settings_key({**settings(2, 5), **fast})


def test_a_baseline_under_other_settings_is_said_to_be_confounded(tmp_path: Path) -> None:
    store = tmp_path / "results"
    write_run(store, 0, {"native": {"syscall-null": NULL}}, processes=2, config={"values": 5})
    write_run(store, 1, {"native": {"syscall-null": NULL}})
    md = tmp_path / "summary.md"
    assert regress(store, 0, 1, "--markdown", str(md)) == 0
    text = md.read_text()
    assert "| (all) | settings | confounded | settings: processes=5 values=5" in text
    assert "against processes=2 values=5" in text


# --- the ratio view ---------------------------------------------------------------


def two_hosts(phase: float, container: float = 1.2) -> dict[str, dict[str, float]]:
    """A native baseline and a container 20% dearer, both slowed by the machine's phase."""
    return {
        "native": {"syscall-null": NULL * phase},
        "container": {"syscall-null": NULL * phase * container},
    }


def test_the_ratio_view_is_immune_to_the_machines_phases(tmp_path: Path) -> None:
    """A run in the slow phase against one in the fast, no history to show the phases:
    both figures move 36% and are flagged; the container's ratio to native does not."""
    store = tmp_path / "results"
    write_run(store, 0, two_hosts(1.0), baseline="native")
    write_run(store, 1, two_hosts(SLOW), baseline="native")
    md, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    assert regress(store, 0, 1, "--markdown", str(md), "--junit", str(junit)) == 1
    result = gate(store, 0, 1).set_index(["view", "host"])
    assert result.at[("figure", "native"), "change"] == "regression"
    assert result.at[("figure", "container"), "change"] == "regression"
    assert result.at[("ratio", "container"), "change"] == "no change"
    assert result.at[("ratio", "container"), "baseline_host"] == "native"
    assert result.at[("ratio", "container"), "a"] == pytest.approx(1.2, rel=0.01)
    assert result.at[("ratio", "container"), "ratio"] == pytest.approx(1.0, abs=0.01)
    assert ("ratio", "native") not in result.index  # the baseline host has no ratio
    text = md.read_text()
    assert "| container | syscall-null | figure |" in text
    assert "ratio to native" not in text  # not flagged
    assert "2 figures and 1 ratios to a baseline host compared" in text
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert names == {"syscall-null", "syscall-null / native"}


def test_the_ratio_view_catches_what_the_machines_phases_hide_from_the_figure(
    tmp_path: Path,
) -> None:
    """The history flipped between the two phases: a container 25% slower on its own
    stays inside its figure's range, and leaves its ratio's."""
    store = tmp_path / "results"
    for i, phase in enumerate([1, SLOW, 1, SLOW, 1, SLOW]):
        write_run(store, i, two_hosts(phase), baseline="native")
    write_run(store, 6, two_hosts(1.0), baseline="native")
    write_run(store, 7, two_hosts(1.0, container=1.2 * 1.25), baseline="native")
    md = tmp_path / "summary.md"
    assert regress(store, 6, 7, "--markdown", str(md)) == 1
    result = gate(store, 6, 7).set_index(["view", "host"])
    assert result.at[("figure", "container"), "change"] == "no change"
    assert result.at[("ratio", "container"), "change"] == "regression"
    assert result.at[("ratio", "container"), "history_runs"] == 6
    assert result.at[("ratio", "container"), "history_high"] == pytest.approx(1.2, rel=0.02)
    assert result.at[("figure", "native"), "change"] == "no change"
    text = md.read_text()
    row = r"\| container \| syscall-null \| ratio to native \| x1\.[12]\d\d \(23\d ns\) \| x1\.[45]"
    assert re.search(row, text), text
    held = r"held against x1\.[12]\d\d-x1\.2\d\d over 6 comparable earlier runs"
    assert re.search(held, text), text


# --- the command ---------------------------------------------------------------------


def figures(
    slower: float = 1.0, hosts: tuple[str, ...] = ("h1", "h2")
) -> dict[str, dict[str, float]]:
    """Two benchmarks per host, the system call ``slower`` times the usual."""
    return {h: {"syscall-null": 1e-7 * slower, "trap-cpuid": 3e-6} for h in hosts}


def test_exit_codes_junit_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "results"
    runs = [run_id(i) for i in range(5)]
    options = {"values": 10, "sigma": 0.01}
    write_run(store, 0, figures(), **options)
    write_run(store, 1, figures(), **options)
    write_run(store, 2, figures(slower=1.4), **options)
    other = {h: {"binary_sha256": "cd" * 32} for h in ("h1", "h2")}
    write_run(store, 3, figures(), other, **options)
    write_run(store, 4, figures(hosts=("h1",)), **options)

    def regress(current: str, *extra: str) -> int:
        base = ["regress", "--store", str(store), "--baseline", runs[0]]
        return main([*base, "--current", current, *extra])

    assert regress(runs[1]) == 0
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    assert regress(runs[2], "--junit", str(junit), "--markdown", str(md)) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    failed = {
        (case.get("classname"), case.get("name"))
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }
    assert failed == {("ringbench.h1", "syscall-null"), ("ringbench.h2", "syscall-null")}
    summary = md.read_text()
    assert "**2 regression(s)**" in summary and "| h1 | syscall-null | figure |" in summary
    assert "x1.4" in summary
    # one earlier run besides the baseline: too little to be a history
    assert "too little comparable history (1 earlier run, 2 needed): the baseline run alone" in (
        summary
    )
    # A 50% threshold lets the same 40% through.
    assert regress(runs[2], "--threshold", "50") == 0

    capsys.readouterr()
    assert regress(runs[3], "--junit", str(junit)) == 2
    out = capsys.readouterr().out
    assert "invalid comparison" in out and "binary_sha256" in out
    assert ET.parse(junit).getroot().find("testsuite").get("errors") == "4"  # type: ignore[union-attr]
    assert regress(runs[4]) == 2
    assert f"h2: not in {runs[4]}" in capsys.readouterr().out


def test_regress_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regress", "--store", str(tmp_path), "--baseline", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no run 'nope'" in err and err.strip().count("\n") == 0


# --- real runs of the harness ----------------------------------------------------------

QUICK = ["--processes", "4", "--values", "5", "--min-time", "0.005"]
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def real_run(results: Path, filters: int, wrapper: Path, *benches: str) -> Path:
    """One real ``ringbench run --local`` (quick settings), under ``filters`` stacked seccomp
    filters that read a system call's argument (none: native); its run directory."""
    before = set(results.iterdir()) if results.exists() else set()
    command = [sys.executable, "-m", "runners.cli", "run", "--local", "--results", str(results)]
    command += [a for b in benches or ("syscall-null",) for a in ("--bench", b)] + QUICK
    prefix = [str(wrapper), str(filters)] if filters else []
    subprocess.run([*prefix, *command], check=True, timeout=300, capture_output=True)
    (new,) = set(results.iterdir()) - before
    return new


@needs_cc
def test_a_real_seccomp_slowdown_is_caught_on_the_system_call(
    harness: BuildInfo, tmp_path: Path
) -> None:
    """Real runs of the harness, the second under 64 seccomp filters: the null system call
    costs about 15 times as much, far beyond what this machine's phases move (up to 2x),
    and is flagged. Whether CPUID is left alone between two separate runs is the false
    alarm rate, measured by benchmarks/regress_gate.py, not asserted here."""
    wrapper = build_wrapper(tmp_path)
    results = tmp_path / "results"
    base = real_run(results, 0, wrapper, "syscall-null", "trap-cpuid")
    current = real_run(results, 64, wrapper, "syscall-null", "trap-cpuid")
    args = ["regress", "--store", str(results), "--baseline", base.name]
    md, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    assert (
        main([*args, "--current", current.name, "--markdown", str(md), "--junit", str(junit)]) == 1
    )
    text = md.read_text()
    assert "| localhost | syscall-null | figure |" in text
    assert "no comparable history: the baseline run alone" in text
    failed = {
        c.get("name")
        for c in ET.parse(junit).getroot().iter("testcase")
        if c.find("failure") is not None
    }
    assert "syscall-null" in failed


@pytest.fixture(scope="module")
def speeds(harness: BuildInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Real runs of the null system call at two speeds far apart, interleaved: native
    (``fast``, ~140-260 ns here) and under 64 stacked seccomp filters (``slow``, ~2 us),
    three of each; then one under 512 filters (``slower``, ~16 us), beyond both.

    The speeds are chosen so that the machine's phases (up to 2x between two runs here)
    cannot blur them: with speeds a factor s apart and phases up to p, a speed seen in
    two runs is only mistaken for two spikes when p**3 > s (analysis.regress.set_aside),
    and s is about 14."""
    tmp = tmp_path_factory.mktemp("speeds")
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler for the seccomp wrapper")
    wrapper = build_wrapper(tmp)
    results = tmp / "results"
    runs: dict[str, list[Path]] = {"fast": [], "slow": [], "slower": []}
    for _ in range(3):
        runs["fast"].append(real_run(results, 0, wrapper))
        runs["slow"].append(real_run(results, 64, wrapper))
    runs["slower"].append(real_run(results, 512, wrapper))
    return runs


def figure_of(run: Path) -> float:
    return float(summarize(analysis.load(run))["median_s"].iat[0])


def test_real_runs_a_history_at_two_speeds_does_not_hide_a_slowdown_beyond_both(
    speeds: dict[str, list[Path]], tmp_path: Path
) -> None:
    """(a) The history flipped between native and 64 filters; the baseline run sat at the
    slow speed; the current run, under 512 filters, is beyond both and is flagged."""
    results = speeds["slower"][0].parent
    base, current = speeds["slow"][-1], speeds["slower"][0]
    md = tmp_path / "summary.md"
    args = ["regress", "--store", str(results), "--baseline", base.name]
    assert main([*args, "--current", current.name, "--markdown", str(md)]) == 1
    text = md.read_text()
    assert "| localhost | syscall-null | figure |" in text
    assert "comparable earlier runs and the baseline run" in text
    earlier = history(results)
    earlier = earlier[earlier["run"] != current.name]
    (row,) = regressions(
        analysis.load(base),
        analysis.load(current),
        history=earlier,
        settings=run_settings(current),
    ).to_dict(orient="records")
    assert row["change"] == "regression" and row["history_runs"] == 5
    assert row["history_low"] <= min(figure_of(r) for r in speeds["fast"])
    assert row["history_high"] >= figure_of(base)


def test_real_runs_a_move_between_two_speeds_the_history_has_shown_is_no_alarm(
    speeds: dict[str, list[Path]],
) -> None:
    """(b) A run at the slow speed against one at the fast, and the reverse, with the
    other runs of both speeds as history: no change. The current run is chosen among the
    runs of its speed so that the history holds one at least as far out (a run that is
    not the slowest, or not the fastest, of its speed): whether a fresh run lands inside
    the range the history has shown is the false alarm rate, which belongs to
    benchmarks/regress_gate.py."""
    results = speeds["fast"][0].parent
    everything = history(results)
    everything = everything[everything["run"] != speeds["slower"][0].name]
    key = run_settings(speeds["fast"][0])
    assert set(everything["settings"]) == {key}  # every run of the quick settings

    def decide(base: Path, current: Path, with_history: bool = True) -> str:
        result = regressions(
            analysis.load(base),
            analysis.load(current),
            history=everything if with_history else None,
            settings=key if with_history else None,
        )
        (change,) = result["change"]
        return str(change)

    slow = sorted(speeds["slow"], key=figure_of)
    fast = sorted(speeds["fast"], key=figure_of)
    # slower: the fastest run of the slow speed, against a native baseline run
    assert decide(fast[0], slow[0]) == "no change"
    assert decide(fast[0], slow[0], with_history=False) == "regression"  # the baseline alone
    # faster: the slowest native run, against a baseline run under the filters
    assert decide(slow[-1], fast[-1]) == "no change"
    assert decide(slow[-1], fast[-1], with_history=False) == "improvement"
