"""The static dashboard: rendered from a store of synthetic runs, then opened in Chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from analysis.history import HISTORY_COLUMNS
from reports.dashboard import Dashboard, build, render
from runners.cli import main
from tests.browser import dom as page_dom
from tests.browser import screenshot
from tests.history_data import created, run_id, write_run

HOSTS = ("native", "guest")
BENCHES = {"syscall-null": 1e-7, "fault-anon": 2e-6, "sched-yield": 4e-7}
RUNS = 12
STEP_AT = 6  # guest's syscall-null is 40% dearer from this run on, with its new kernel


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 runs of 2 hosts x 3 benchmarks: a step with a kernel change at run 6, and
    guest's fault-anon 50% dearer in the last run only (an open regression)."""
    root = tmp_path_factory.mktemp("store")
    rng = np.random.default_rng(42)
    for i in range(RUNS):
        figures = {}
        for h, host in enumerate(HOSTS):
            scale = 1.0 + h * 0.2
            figures[host] = {
                b: m * scale * float(np.exp(rng.normal(0, 0.005))) for b, m in BENCHES.items()
            }
        if i >= STEP_AT:
            figures["guest"]["syscall-null"] *= 1.4
        if i == RUNS - 1:
            figures["guest"]["fault-anon"] *= 1.5
        kernel = "6.1.0" if i < STEP_AT else "6.2.0"
        write_run(root, i, figures, {"guest": {"kernel": kernel}}, baseline="native")
    (root / run_id(RUNS + 5)).mkdir()  # a run directory without a manifest
    return root


@pytest.fixture(scope="module")
def page(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(store, tmp_path_factory.mktemp("out"))


def test_the_page_holds_every_series_and_the_format(page: Path) -> None:
    text = page.read_text()
    assert '<meta name="ringbench-dashboard-format" content="3">' in text
    assert text.count('<figure class="series"') == len(HOSTS) * len(BENCHES)
    assert text.count("<svg") == len(HOSTS) * len(BENCHES)
    for host in HOSTS:
        for bench in BENCHES:
            figure = re.search(rf'<figure class="series" id="s-{host}-{bench}".*?</figure>', text)
            assert figure is not None, (host, bench)
            assert figure.group(0).count("<circle") == RUNS
    assert "http://" not in text and "https://" not in text  # nothing from the network
    assert "<script src" not in text and "<link" not in text


def test_the_change_point_is_marked_listed_and_explained(page: Path) -> None:
    text = page.read_text()
    series = re.search(r'id="s-guest-syscall-null".*?</figure>', text)
    assert series is not None
    assert 'href="#cp-0"' in series.group(0) and 'class="change"' in series.group(0)
    row = re.search(r'<tr id="cp-0".*?</tr>', text)
    assert row is not None
    assert "kernel 6.1.0 -&gt; 6.2.0" in row.group(0)
    assert f'href="#run-{run_id(STEP_AT)}"' in row.group(0)
    assert "×1.4" in row.group(0)
    assert text.count('<tr id="cp-') == 1  # the other series are flat
    assert f'<tr id="run-{run_id(STEP_AT)}">' in text


def test_the_latest_runs_overhead_and_open_regressions(page: Path) -> None:
    text = page.read_text()
    assert '<img alt="overhead heat map' in text and "data:image/png;base64," in text
    section = text[text.index('id="regressions"') : text.index('id="changes"')]
    assert f"{run_id(RUNS - 1)}</code> against <code>{run_id(RUNS - 2)}" in section
    rows = re.findall(
        r'<tr data-host="(\w+)" data-family="(\w+)"><td>\w+</td><td>(.*?)</td><td>(.*?)</td>',
        section,
    )
    # guest's fault-anon regressed on its own: as a figure and as a ratio to native
    assert [(h, f, view) for h, f, _, view in rows] == [
        ("guest", "fault", "figure"),
        ("guest", "fault", "ratio to native"),
    ]
    assert all("fault-anon" in bench for _, _, bench, _ in rows)
    # each held against guest's runs since its kernel changed (runs 6-9) and the previous run
    assert section.count("over 4 comparable earlier runs and the baseline run") == 2
    assert "6 figures and 3 ratios to a baseline host in both: 2 regressions" in section
    assert "×1.4" in section and "held against ×1.1" in section


def test_runs_without_a_manifest_are_named_not_fatal(page: Path) -> None:
    assert f"1 run(s) left out: {run_id(RUNS + 5)}" in page.read_text()


def test_the_page_in_a_headless_browser(page: Path) -> None:
    screenshot(page, "dashboard.png", size="1400,2000")
    dom = page_dom(page)
    assert 'data-ready="1"' in dom  # the script ran to its end
    assert "6 of 6 series shown" in dom
    assert dom.count('<figure class="series"') == 6 and dom.count("<circle") == 6 * RUNS


def test_the_command_writes_the_page_and_says_where(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "--store", str(store), "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "index.html").is_file()
    assert "index.html" in capsys.readouterr().out


def test_a_slow_dashboard_shows_its_progress(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runners.cli.reports

    monkeypatch.setattr(runners.cli.reports, "PROGRESS_AFTER_S", 0.0)  # every step counts as slow
    console = Console(record=True, width=120, force_terminal=True)
    assert runners.cli.reports.cmd_dashboard(console, store, tmp_path / "d") == 0
    assert "written to" in console.export_text()


def test_a_store_without_runs_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["dashboard", "--store", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ringbench: error: no runs with results in") and "\n" not in err
    assert not (tmp_path / "index.html").exists()


def test_a_large_history_stays_small_and_fast() -> None:
    """4 hosts x 30 benchmarks x 50 runs, a change point in every tenth series."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(50):
        for h in range(4):
            for b in range(30):
                median = 1e-7 * (b + 1) * float(np.exp(rng.normal(0, 0.01)))
                rows.append(
                    {
                        "run": run_id(i),
                        "created": created(i),
                        "status": "complete",
                        "host": f"host{h}",
                        "benchmark": f"bench-{b:02d}",
                        "virt_class": "container",
                        "family": f"family{b % 6}",
                        "mechanism": "m",
                        "operation": "call",
                        "median_s": median,
                        "ci_low_s": median * 0.98,
                        "ci_high_s": median * 1.02,
                        "cv": 0.01,
                        "processes": 5,
                    }
                )
    history = pd.DataFrame(rows).reindex(columns=HISTORY_COLUMNS, fill_value="x")
    changes = pd.DataFrame(
        [
            {
                "host": f"host{h}",
                "benchmark": f"bench-{b:02d}",
                "family": f"family{b % 6}",
                "run": run_id(25),
                "created": created(25),
                "before_s": 1e-7,
                "after_s": 1.3e-7,
                "ratio": 1.3,
                "what_changed": "kernel 6.1.0 -> 6.2.0",
            }
            for h in range(4)
            for b in range(0, 30, 10)
        ]
    )
    empty = pd.DataFrame(columns=["change", "severity"])
    dashboard = Dashboard(Path("results"), history, changes, None, "", empty, empty)
    start = time.perf_counter()
    text = render(dashboard)
    assert time.perf_counter() - start < 5
    assert text.count("<svg") == 120
    assert len(text.encode()) < 10_000_000
