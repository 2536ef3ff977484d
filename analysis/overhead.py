"""Overhead of each environment against its baseline, and of one run against another.

An environment's overhead on a benchmark is the ratio of its figure to its
baseline's (the host named by ``baseline`` in the inventory, on the same
machine, measured in the same run) and the cost it adds per operation, both
with 95% percentile intervals from :mod:`analysis.stats`' bootstrap. Every
row carries the validity checks that concern it (:mod:`analysis.validity`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import (
    RATIO_COLUMNS,
    Bootstrap,
    bootstrap,
    paired_ratio_columns,
    summarize,
    verdict,
)
from analysis.validity import COLUMNS as FLAG_COLUMNS
from analysis.validity import (
    across_runs,
    flags_by_row,
    measurement_flags,
    records,
    validity,
)

OVERHEAD_COLUMNS = [
    "run",
    "host",
    "virt_class",
    "baseline",
    "benchmark",
    "family",
    "mechanism",
    "operation",
    "median_s",
    "baseline_s",
    *RATIO_COLUMNS,
    "verdict",
    "cv",
    "baseline_cv",
    "flagged",
]


def _pair(
    summary: pd.DataFrame,
    boot: Bootstrap,
    num_keys: list[tuple[str, str, str]],
    den_keys: list[tuple[str, str, str]],
) -> pd.DataFrame:
    index = boot.lookup()
    num = np.asarray([index[k] for k in num_keys], dtype=np.int64)
    den = np.asarray([index[k] for k in den_keys], dtype=np.int64)
    cols = paired_ratio_columns(boot, num, den).drop(columns="paired")
    cols["median_s"] = boot.point[num]
    cols["baseline_s"] = boot.point[den]
    cols["cv"] = boot.cv[num]
    cols["baseline_cv"] = boot.cv[den]
    cols["verdict"] = [
        verdict(lo, hi) for lo, hi in zip(cols.ratio_low, cols.ratio_high, strict=True)
    ]
    return cols


def overhead(
    df: pd.DataFrame, boot: Bootstrap | None = None, flags: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (run, host, benchmark) for every host that has a baseline in its run.

    Columns: ``OVERHEAD_COLUMNS``; ``ratio`` is environment / baseline and
    ``added_ns`` environment - baseline per operation, both the median over the
    process pairs of the interleaved run where the two hosts' processes pair
    (:func:`analysis.stats.paired_ratio_columns`), ``verdict`` whether
    the interval of the ratio lies above 1 (``dearer``), below (``cheaper``)
    or across it (``same``); ``flagged`` the comma-joined validity checks,
    ``check@host`` for the baseline's own.
    """
    boot = boot or bootstrap(df)
    summary = summarize(df, boot)
    if flags is None:
        flags = validity(df, summary, boot)
    have = set(zip(summary.run, summary.host, summary.benchmark, strict=True))
    rows = summary[
        [
            bool(b) and b != h and (r, b, bench) in have
            for r, h, b, bench in zip(
                summary.run, summary.host, summary.baseline, summary.benchmark, strict=True
            )
        ]
    ].reset_index(drop=True)
    if rows.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    num = list(zip(rows.run, rows.host, rows.benchmark, strict=True))
    den = list(zip(rows.run, rows.baseline, rows.benchmark, strict=True))
    cols = _pair(summary, boot, num, den)
    out = pd.concat([rows.drop(columns=["median_s", "cv"]), cols], axis=1)
    out["flagged"] = flags_by_row(flags, out)
    return out[OVERHEAD_COLUMNS]


COMPARE_COLUMNS = [
    "host",
    "virt_class",
    "benchmark",
    "family",
    "mechanism",
    "run_a",
    "run_b",
    "a_s",
    "b_s",
    *RATIO_COLUMNS,
    "verdict",
    "a_cv",
    "b_cv",
    "flagged",
]


def compare(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """Run B against run A, host by host: ratio B / A per benchmark present in both.

    Each frame holds one run. ``flagged`` joins the cross-run checks of
    :func:`analysis.validity.across_runs` with each run's own measurement
    checks (``check@a`` / ``check@b``).
    """
    runs = [str(df["run"].iat[0]) if len(df) else "" for df in (df_a, df_b)]
    if runs[0] == runs[1]:
        raise ValueError(f"both sides are run {runs[0]}")
    both = pd.concat([df_a, df_b], ignore_index=True)
    boot = bootstrap(both)
    summary = summarize(both, boot)
    sa = summary[summary.run == runs[0]].set_index(["host", "benchmark"])
    sb = summary[summary.run == runs[1]].set_index(["host", "benchmark"])
    common = sb.index.intersection(sa.index).sort_values()
    if common.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    num = [(runs[1], h, b) for h, b in common]
    den = [(runs[0], h, b) for h, b in common]
    cols = _pair(summary, boot, num, den)
    out = pd.DataFrame(
        {
            "host": [h for h, _ in common],
            "virt_class": sb.loc[common, "virt_class"].to_numpy(),
            "benchmark": [b for _, b in common],
            "family": sb.loc[common, "family"].to_numpy(),
            "mechanism": sb.loc[common, "mechanism"].to_numpy(),
            "run_a": runs[0],
            "run_b": runs[1],
        }
    )
    out = pd.concat([out, cols.rename(columns={"median_s": "b_s", "baseline_s": "a_s"})], axis=1)
    out["a_cv"], out["b_cv"] = cols["baseline_cv"], cols["cv"]
    cross = across_runs(df_a, df_b)
    own = pd.DataFrame(measurement_flags(both, summary), columns=FLAG_COLUMNS)
    out["flagged"] = _compare_flags(out, cross, own, runs)
    return out[COMPARE_COLUMNS]


def _compare_flags(
    out: pd.DataFrame, cross: pd.DataFrame, own: pd.DataFrame, runs: list[str]
) -> list[str]:
    by_host: dict[str, list[str]] = {}
    for f in records(cross):
        by_host.setdefault(f["host"], []).append(f["check"])
    by_bench: dict[tuple[str, str], list[str]] = {}
    for f in records(own):
        side = "a" if f["run"] == runs[0] else "b"
        by_bench.setdefault((f["host"], f["benchmark"]), []).append(f"{f['check']}@{side}")
    return [
        ",".join(dict.fromkeys(by_host.get(h, []) + by_bench.get((h, b), [])))
        for h, b in zip(out.host, out.benchmark, strict=True)
    ]
