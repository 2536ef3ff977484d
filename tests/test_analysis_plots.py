"""Figures: every one is written as a readable PNG and SVG, with its format, from real frames."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import analysis
from analysis import plots
from tests.analysis_data import Host, frame

RUN = "20261125T000000Z-000000"


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A baseline and two environments; one subtracted mechanism unresolved, one unmeasured.

    ``kvm`` costs what the baseline costs (verdict ``same``); on ``tcg`` a
    page fault costs what a system call costs (its MMU share is not resolved
    above zero) and ``mem-chase-huge`` is missing (the page walk has no figure).
    """
    base = {"syscall-null": 100e-9, "fault-anon": 1e-6, "mem-chase-4k": 80e-9}
    df = frame(
        [
            Host("bare", "bare-metal", medians={**base, "mem-chase-huge": 20e-9}),
            Host("kvm", baseline="bare", medians={**base, "mem-chase-huge": 20e-9}),
            Host(
                "tcg",
                "binary-translation",
                baseline="bare",
                medians={"syscall-null": 400e-9, "fault-anon": 400e-9, "mem-chase-4k": 1e-9},
            ),
        ],
        np.random.default_rng(3),
        run=RUN,
        processes=3,
        values=8,
    )
    boot = analysis.bootstrap(df)
    return df, analysis.overhead(df, boot), analysis.mechanisms(df, boot)


def check_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.info["Software"] == plots.SOFTWARE
        pixels = np.asarray(image.convert("RGB"))
    height, width, _ = pixels.shape
    assert width >= 600 and height >= 400, (width, height)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1


def check_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert plots.SOFTWARE in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("write", "source"),
    [
        (plots.heatmap, 1),
        (plots.ratio_bars, 1),
        (plots.distributions, 0),
        (plots.mechanism_breakdown, 2),
    ],
)
def test_each_figure_is_a_png_and_an_svg(
    write: Callable[[pd.DataFrame, Path], list[Path]],
    source: int,
    frames: tuple[pd.DataFrame, ...],
    tmp_path: Path,
) -> None:
    written = write(frames[source], tmp_path)
    assert [p.suffix for p in written] == [".png", ".svg"]
    assert all(p.parent == tmp_path for p in written)
    check_png(written[0])
    check_svg(written[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_write_all_creates_the_directory_and_every_figure(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    out = tmp_path / "run" / "analysis"
    written = plots.write_all(*frames, out)
    names = {p.stem for p in written}
    assert names == {"overhead-heatmap", "overhead-bars", "distributions", "mechanisms"}
    assert len(written) == 8 and all(p.is_file() for p in written)
    assert sorted(out.iterdir()) == sorted(written)  # no temporary file left behind


def test_write_all_skips_figures_of_empty_frames(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    df, table, mech = frames
    written = plots.write_all(df, table.iloc[0:0], mech.iloc[0:0], tmp_path)
    assert {p.name for p in written} == {"distributions.png", "distributions.svg"}


def test_figures_of_several_runs_are_refused(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    table = frames[1]
    other = table.assign(run="20261126T000000Z-111111")
    with pytest.raises(ValueError, match=r"20261125T000000Z-000000, 20261126T000000Z-111111"):
        plots.heatmap(pd.concat([table, other], ignore_index=True), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_heatmap_marks_unresolved_cells_and_states_the_ratio(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    table = frames[1]
    fig = plots.heatmap_figure(table)
    ax = fig.axes[0]
    # Rows kvm, tcg; columns fault-anon, mem-chase-4k, mem-chase-huge, syscall-null.
    cells = [t.get_text() for t in ax.texts]
    assert cells[6] == plots.DASH  # tcg has no mem-chase-huge
    assert float(cells[7]) == pytest.approx(4, rel=0.1)  # tcg syscall-null: 400 ns against 100
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == int((table["verdict"] == "same").sum()) > 0
    assert "run " + RUN in fig.get_suptitle()


def test_mechanism_without_a_figure_or_resolved_cost_is_annotated(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    mech = frames[2]
    walk = mech[(mech["host"] == "tcg") & (mech["mechanism"] == "two-dimensional page walk")]
    assert walk["cost_ns"].isna().all()
    fault = mech[(mech["host"] == "tcg") & (mech["mechanism"] == "MMU share of a page fault")]
    assert (fault["cost_low_ns"] <= 0).all()
    fig = plots.mechanism_breakdown_figure(mech)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("not measured" in t for t in texts)
    assert any(t.startswith("not resolved") for t in texts)
    # Mechanisms that no host measured (rdtsc, device request...) get no panel.
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert [t.split("\n")[0] for t in titles] == [
        "ring transition",
        "MMU share of a page fault",
        "two-dimensional page walk",
    ]


def test_distributions_skip_absent_benchmarks(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    df = frames[0]
    fig = plots.distributions_figure(df, ["syscall-null", "io-pread"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["syscall-null"]
    assert visible[0].get_xlabel() == "ns per call (log scale)"
    with pytest.raises(ValueError, match="io-pread"):
        plots.distributions_figure(df, ["io-pread"])
