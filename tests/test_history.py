"""The history store (index.json over a results directory) and change points."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis.history as history_module
from analysis.changepoints import change_points, what_changed
from analysis.history import (
    FACTS,
    HISTORY_COLUMNS,
    INDEX_FORMAT,
    INDEX_NAME,
    _locked,
    history,
    settings_key,
    update_index,
)
from ringbench.errors import UserError
from tests.history_data import FIGURES, created, index_concurrently, run_id, settings, write_run

# --- the index ----------------------------------------------------------------


def test_index_holds_every_run_with_its_summary_and_facts(tmp_path: Path) -> None:
    for i in range(3):
        write_run(tmp_path, i, FIGURES, {"native": {"kernel": f"6.{i}.0"}})
    (tmp_path / "perf").mkdir()  # not a run: ignored
    index = update_index(tmp_path)
    assert list(index["run"]) == [run_id(i) for i in range(3)]
    assert index["summarized"].all() and (index["figures"] == 2).all()
    data = json.loads((tmp_path / INDEX_NAME).read_text())
    assert data["format_version"] == INDEX_FORMAT == 3
    entry = data["runs"][run_id(1)]
    assert entry["created"] == created(1) and entry["status"] == "complete"
    assert entry["settings"] == {
        "processes": 5,
        "values": 5,
        "warmups": 1,
        "min_time_s": 0.01,
        "cpu": "auto",
    }
    figure = next(f for f in entry["figures"] if f["benchmark"] == "syscall-null")
    assert figure["host"] == "native" and figure["family"] == "syscall"
    assert figure["mechanism"] == "ring-transition" and figure["processes"] == 5
    assert figure["ci_low_s"] < figure["median_s"] < figure["ci_high_s"]
    assert figure["median_s"] == pytest.approx(1e-7, rel=0.02)
    assert figure["params"] == ""
    facts = entry["hosts"]["native"]
    assert set(facts) == {"baseline", *FACTS} and facts["kernel"] == "6.1.0"
    assert facts["virt_class"] == "hardware-assisted" and facts["baseline"] == ""


def test_an_indexed_run_is_not_summarized_again_until_it_changes(tmp_path: Path) -> None:
    for i in range(3):
        write_run(tmp_path, i, FIGURES)
    update_index(tmp_path)
    stamp = (tmp_path / INDEX_NAME).stat().st_mtime_ns
    again = update_index(tmp_path)
    assert not again["summarized"].any()
    assert (tmp_path / INDEX_NAME).stat().st_mtime_ns == stamp  # nothing new: not rewritten
    manifest = tmp_path / run_id(1) / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**doc, "updated": "2026-12-01T00:00:00+00:00"}))
    changed = update_index(tmp_path)
    assert list(changed.loc[changed["summarized"], "run"]) == [run_id(1)]


def test_a_removed_run_drops_out(tmp_path: Path) -> None:
    for i in range(3):
        write_run(tmp_path, i, FIGURES)
    update_index(tmp_path)
    shutil.rmtree(tmp_path / run_id(0))
    assert list(update_index(tmp_path)["run"]) == [run_id(1), run_id(2)]
    assert set(json.loads((tmp_path / INDEX_NAME).read_text())["runs"]) == {run_id(1), run_id(2)}


def test_unreadable_runs_are_skipped_with_a_warning(tmp_path: Path) -> None:
    for i in range(2):
        write_run(tmp_path, i, FIGURES)
    (tmp_path / run_id(1) / "manifest.json").write_text("{not json")
    (tmp_path / run_id(5)).mkdir()  # a run still starting: no manifest yet
    broken = write_run(tmp_path, 6, FIGURES)
    (broken / "hosts" / "native.json").write_text("[]")
    frame = history(tmp_path)
    assert set(frame["run"]) == {run_id(0)}
    skipped = frame.attrs["skipped"]
    assert len(skipped) == 3
    assert any(s.startswith(run_id(1)) and "manifest.json cannot be read" in s for s in skipped)
    assert any(s.startswith(run_id(5)) for s in skipped)
    assert any(s.startswith(run_id(6)) and "not a pyperf suite" in s for s in skipped)


def test_an_index_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    write_run(tmp_path, 0, FIGURES)
    (tmp_path / INDEX_NAME).write_text(json.dumps({"format_version": 99, "runs": {"x": {}}}))
    assert list(update_index(tmp_path)["run"]) == [run_id(0)]
    assert json.loads((tmp_path / INDEX_NAME).read_text())["format_version"] == INDEX_FORMAT


def test_an_index_of_format_1_is_rebuilt_with_the_settings(tmp_path: Path) -> None:
    """An index written before the settings were recorded is summarized again, whole."""
    write_run(tmp_path, 0, FIGURES)
    update_index(tmp_path)
    data = json.loads((tmp_path / INDEX_NAME).read_text())
    entry = data["runs"][run_id(0)]
    del entry["settings"]
    (tmp_path / INDEX_NAME).write_text(json.dumps({**data, "format_version": 1}))
    index = update_index(tmp_path)
    assert index["summarized"].all()
    assert list(index["settings"]) == [settings_key(settings())]


def test_the_settings_key_is_short_stable_and_tells_a_fast_run(tmp_path: Path) -> None:
    default = settings_key(settings(5, 10))
    assert default == "processes=5 values=10 warmups=1 min_time_s=0.01 cpu=auto"
    fast = {**settings(2, 5), "min_time_s": 0.005}
    assert settings_key(fast) == "processes=2 values=5 warmups=1 min_time_s=0.005 cpu=auto"
    assert settings_key({**settings(), "cpu": None}).endswith("cpu=none")
    assert settings_key({**settings(), "cpu": 1}).endswith("cpu=1")
    assert settings_key({}) == ""  # a manifest without a config: unknown
    assert settings_key({"processes": 5}) == "processes=5 values=? warmups=? min_time_s=? cpu=?"
    write_run(tmp_path, 0, FIGURES)
    write_run(tmp_path, 1, FIGURES, config={"processes": 2, "values": 5, "min_time_s": 0.005})
    frame = history(tmp_path)
    assert list(dict.fromkeys(frame["settings"])) == [
        settings_key(settings()),
        "processes=2 values=5 warmups=1 min_time_s=0.005 cpu=auto",
    ]


def test_history_is_one_row_per_run_host_and_benchmark_in_creation_order(
    tmp_path: Path,
) -> None:
    for i in (2, 0, 1):
        write_run(tmp_path, i, {**FIGURES, "guest": {"syscall-null": 2e-7}})
    late = tmp_path / run_id(0) / "manifest.json"  # created last, though its id sorts first
    late.write_text(json.dumps({**json.loads(late.read_text()), "created": created(9)}))
    frame = history(tmp_path)
    assert list(frame.columns) == HISTORY_COLUMNS
    assert len(frame) == 3 * 3
    assert list(dict.fromkeys(frame["run"])) == [run_id(1), run_id(2), run_id(0)]
    assert frame["median_s"].dtype == np.float64 and frame["processes"].dtype == np.int64
    assert set(frame["kernel"]) == {"6.1.0"}
    assert set(frame["settings"]) == {settings_key(settings())}
    assert set(frame["baseline"]) == {""} and set(frame["params"]) == {""}
    assert frame.attrs["skipped"] == []


def test_history_of_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such results directory"):
        history(tmp_path / "nowhere")


def test_the_index_lock_is_exclusive_and_gives_up_after_its_timeout(tmp_path: Path) -> None:
    with (
        _locked(tmp_path),
        pytest.raises(UserError, match="held the index lock"),
        _locked(tmp_path, timeout_s=0.2),
    ):
        pass
    with _locked(tmp_path, timeout_s=0.2):  # released
        pass


def test_concurrent_writers_each_add_their_runs(tmp_path: Path) -> None:
    """Real processes, released together by a barrier, each write runs and update the
    index in turn: every run ends up in one valid index, none lost to another's write."""
    writers, rounds = 6, 4
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(writers)
    procs = [
        ctx.Process(target=index_concurrently, args=(tmp_path, w, rounds, start))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0] * writers
    data = json.loads((tmp_path / INDEX_NAME).read_text())  # as the last writer left it
    assert data["format_version"] == INDEX_FORMAT
    assert sorted(data["runs"]) == [run_id(i) for i in range(writers * rounds)]
    assert all(len(e["figures"]) == 2 for e in data["runs"].values())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_writer_keeps_the_runs_another_indexed_while_it_summarized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost update, made to happen: while this writer summarizes run 0, another
    writes run 1 and indexes it; this writer's write must keep run 1."""
    write_run(tmp_path, 0, FIGURES)
    summarize_run = history_module.summarize_run

    def meanwhile(path: Path) -> dict[str, object]:
        monkeypatch.setattr(history_module, "summarize_run", summarize_run)
        write_run(tmp_path, 1, FIGURES)
        update_index(tmp_path)  # the other writer, done first
        return summarize_run(path)

    monkeypatch.setattr(history_module, "summarize_run", meanwhile)
    index = update_index(tmp_path)
    assert list(index["run"]) == [run_id(0), run_id(1)]
    assert sorted(json.loads((tmp_path / INDEX_NAME).read_text())["runs"]) == list(index["run"])


# --- change points ----------------------------------------------------------------


def series(
    medians: np.ndarray, kernels: list[str] | None = None, noise: float = 0.01
) -> pd.DataFrame:
    """A history of one host and benchmark: run i's figure ``medians[i]``, its 95%
    interval as wide as ``noise`` says."""
    n = len(medians)
    half = np.exp(1.96 * noise)
    frame = pd.DataFrame(
        {
            "run": [run_id(i) for i in range(n)],
            "created": [created(i) for i in range(n)],
            "status": "complete",
            "host": "native",
            "benchmark": "syscall-null",
            "virt_class": "hardware-assisted",
            "family": "syscall",
            "mechanism": "ring-transition",
            "operation": "call",
            "median_s": medians,
            "ci_low_s": medians / half,
            "ci_high_s": medians * half,
            "cv": noise,
            "processes": 5,
            "settings": "processes=5 values=10 warmups=1 min_time_s=0.01 cpu=auto",
            "baseline": "",
            "params": "",
            **{f: "x" for f in FACTS if f != "virt_class"},
        }
    )
    frame["kernel"] = kernels or ["6.1.0"] * n
    return frame[HISTORY_COLUMNS]


def noisy(n: int, seed: int, noise: float = 0.01) -> np.ndarray:
    return 1e-7 * np.exp(np.random.default_rng(seed).normal(0, noise, n))


@pytest.mark.parametrize("seed", range(5))
def test_a_30_percent_step_is_found_on_its_run_and_linked_to_the_kernel(seed: int) -> None:
    medians = noisy(20, seed)
    medians[10:] *= 1.3
    found = change_points(series(medians, ["6.1.0"] * 10 + ["6.2.0"] * 10))
    assert len(found) == 1
    cp = found.iloc[0]
    assert cp["run"] == run_id(10) and cp["previous_run"] == run_id(9)
    assert cp["ratio"] == pytest.approx(1.3, rel=0.02)
    assert cp["before_s"] == pytest.approx(1e-7, rel=0.02)
    assert cp["what_changed"] == "kernel 6.1.0 -> 6.2.0"


def test_a_step_with_nothing_recorded_changing_says_so() -> None:
    medians = noisy(20, 0)
    medians[10:] *= 1.3
    (cp,) = change_points(series(medians))["what_changed"]
    assert cp == ""


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_noisy_series_has_no_change_point(seed: int) -> None:
    assert change_points(series(noisy(20, seed))).empty


def test_false_alarms_on_flat_series_are_rare() -> None:
    """The penalty's trade (analysis/changepoints.py): about 2% of flat series of 20 runs
    show a change point; a step of five noise widths is found in nearly all."""
    flat = pd.concat(
        [series(noisy(20, 1000 + s)).assign(benchmark=f"b{s:03d}") for s in range(200)]
    )
    assert change_points(flat)["benchmark"].nunique() < 10  # < 5%
    steps = []
    for s in range(50):
        medians = noisy(20, 2000 + s)
        medians[10:] *= np.exp(0.05)
        steps.append(series(medians).assign(benchmark=f"b{s:03d}"))
    found = change_points(pd.concat(steps))
    assert (found["run"] == run_id(10)).sum() >= 45


def test_runs_noisier_than_their_intervals_do_not_read_as_changes() -> None:
    """The intervals say 0.1%, the runs scatter by 2%: the scatter sets the penalty."""
    frame = series(noisy(30, 7, noise=0.02))
    half = np.exp(1.96 * 0.001)
    frame["ci_low_s"], frame["ci_high_s"] = frame["median_s"] / half, frame["median_s"] * half
    assert change_points(frame).empty


def test_a_series_shorter_than_two_segments_has_no_change_point() -> None:
    medians = np.array([1e-7, 1e-7, 3e-7])
    assert change_points(series(medians), min_size=2).empty
    assert change_points(series(np.r_[medians, 3e-7]), min_size=3).empty


def test_several_steps_each_compare_their_neighbouring_segments() -> None:
    medians = noisy(30, 3)
    medians[10:] *= 1.5
    medians[20:] /= 1.5
    found = change_points(series(medians))
    assert list(found["run"]) == [run_id(10), run_id(20)]
    assert list(found["ratio"].round(1)) == [1.5, round(1 / 1.5, 1)]


def test_what_changed_names_each_fact_and_only_the_list_items_that_differ() -> None:
    before = {"kernel": "6.1.0", "binary_sha256": "ab" * 32, "mitigations": "a | b | c"}
    after = {"kernel": "6.2.0", "binary_sha256": "cd" * 32, "mitigations": "a | b | d"}
    assert what_changed(before, after) == (
        "kernel 6.1.0 -> 6.2.0; binary_sha256 abababababab.. -> cdcdcdcdcdcd..; mitigations c -> d"
    )
    assert what_changed({"thp": ""}, {"thp": "always"}) == "thp (unknown) -> always"
    assert what_changed(before, before) == ""


def test_change_points_over_a_store(tmp_path: Path) -> None:
    for i in range(12):
        kernel = "6.1.0" if i < 6 else "6.2.0"
        scale = 1.0 if i < 6 else 1.4
        write_run(
            tmp_path, i, {"native": {"syscall-null": 1e-7 * scale}}, {"native": {"kernel": kernel}}
        )
    (cp,) = records_of(change_points(history(tmp_path)))
    assert cp["run"] == run_id(6) and cp["what_changed"] == "kernel 6.1.0 -> 6.2.0"
    assert cp["ratio"] == pytest.approx(1.4, rel=0.02)


def records_of(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.to_dict(orient="records")  # type: ignore[return-value]
