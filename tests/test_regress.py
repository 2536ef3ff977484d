"""The regression gate: decisions, false discoveries, exit codes, JUnit and Markdown."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.regress import DEFAULT_THRESHOLD, benjamini_hochberg, regressions, welch_p
from benchmarks.regress_gate import build_wrapper
from runners.cli import main
from suites.build import BuildInfo
from tests.analysis_data import Host, frame
from tests.history_data import run_id, write_run

BENCHES = {f"syscall-b{i:02d}": 1e-7 * (1 + i) for i in range(20)}


def run_pair(
    rng: np.random.Generator, slower: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = frame([Host("h", medians=dict(BENCHES))], rng, run="20261125T000000Z-aaaaaa")
    changed = {b: m * (slower or {}).get(b, 1.0) for b, m in BENCHES.items()}
    current = frame([Host("h", medians=changed)], rng, run="20261126T000000Z-bbbbbb")
    return base, current


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


def test_no_false_alarm_over_many_a_a_comparisons() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        result = regressions(*run_pair(rng))
        assert len(result) == len(BENCHES)
        assert (result["change"] == "no change").all(), result[result["change"] != "no change"]


def test_an_injected_slowdown_is_caught_and_nothing_else() -> None:
    rng = np.random.default_rng(2)
    slower = {"syscall-b03": 1.3, "syscall-b07": 1.5, "syscall-b11": 0.6}
    result = regressions(*run_pair(rng, slower)).set_index("benchmark")
    assert set(result.index[result["change"] == "regression"]) == {"syscall-b03", "syscall-b07"}
    assert set(result.index[result["change"] == "improvement"]) == {"syscall-b11"}
    assert result.at["syscall-b07", "ratio_low"] < 1.5 < result.at["syscall-b07", "ratio_high"]
    # Below the threshold a significant change is no regression.
    small = regressions(*run_pair(rng, {"syscall-b03": 1.10}), threshold=0.15)
    assert (small["change"] == "no change").all()
    assert (
        (regressions(*run_pair(rng, {"syscall-b03": 1.10}), threshold=0.05)["change"])
        .eq("regression")
        .sum()
        == 1
    )


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
    assert "**2 regression(s)**" in summary and "| h1 | syscall-null |" in summary
    assert "x1.4" in summary
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


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the wrapper")
def test_a_real_seccomp_slowdown_is_caught_on_system_calls_only(
    harness: BuildInfo, tmp_path: Path
) -> None:
    """Real runs of the harness, the second under 32 seccomp filters: only the system
    call is flagged, CPUID is not."""
    wrapper = build_wrapper(tmp_path)
    results = tmp_path / "results"
    quick = ["--processes", "4", "--values", "5", "--min-time", "0.005"]
    run = [sys.executable, "-m", "runners.cli", "run", "--local", "--results", str(results)]
    run += ["--bench", "syscall-null", "--bench", "trap-cpuid", *quick]
    subprocess.run(run, check=True, timeout=300, capture_output=True)
    subprocess.run([str(wrapper), "32", *run], check=True, timeout=300, capture_output=True)
    base, current = sorted(p.name for p in results.iterdir())
    args = ["regress", "--store", str(results), "--baseline", base, "--current", current]
    md = tmp_path / "summary.md"
    assert main([*args, "--markdown", str(md)]) == 1
    text = md.read_text()
    assert "| localhost | syscall-null |" in text and "trap-cpuid |" not in text


def test_a_change_the_history_shows_routinely_is_no_regression() -> None:
    """A benchmark that flips between two levels from run to run (mem-chase-4k under
    nested paging) is not a regression when it flips again; a steady one still is."""
    rng = np.random.default_rng(3)
    base, current = run_pair(rng, {"syscall-b01": 3.0, "syscall-b02": 3.0})
    levels = [1.0, 3.0, 1.0, 1.0, 3.0, 1.0, 3.0, 1.0]
    history = pd.DataFrame(
        [
            {"run": f"r{i}", "host": "h", "benchmark": bench, "median_s": BENCHES[bench] * f}
            for i, level in enumerate(levels)
            for bench, f in (("syscall-b01", level), ("syscall-b02", 1.0 + 0.01 * (i % 2)))
        ]
    )
    result = regressions(base, current, history=history).set_index("benchmark")
    assert result.at["syscall-b01", "change"] == "no change"
    assert result.at["syscall-b01", "threshold"] > 1.5
    assert result.at["syscall-b02", "change"] == "regression"
    assert result.at["syscall-b02", "threshold"] == pytest.approx(DEFAULT_THRESHOLD)
    # Too short a history sets no floor.
    short = regressions(base, current, history=history[history["run"].isin(["r0", "r1"])])
    assert (
        short.set_index("benchmark").loc[["syscall-b01", "syscall-b02"], "change"] == "regression"
    ).all()
