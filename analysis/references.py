"""Published figures beside the measured ones: ratios, never absolute times.

``references.csv`` (beside this module) holds figures from the papers that
defined the comparison, each row one operation in one environment against
native on the same hardware, with its citation and where in the paper it
stands (table or figure), copied from the papers' own tables:

- adams2006: Adams and Agesen, ASPLOS 2006: nanobenchmarks in cycles for a
  native machine, VMware's binary-translating VMM and its VT-x VMM, and
  macrobenchmarks (forkwait, kernel compile, ...);
- barham2003: Barham et al., SOSP 2003: lmbench on native Linux (UP and SMP
  kernels), Xen, VMware Workstation 3.2 and User-Mode Linux;
- felter2014: Felter et al., IBM Research Report RC25482, 2014: Docker and
  KVM against native;
- gvisor-ant2021: gVisor's blog, 2021-12-02 (Ant Group): getpid natively and
  under runsc's ptrace and KVM platforms, Xeon E5-2650 v2;
- gvisor-perf: gVisor's Performance Guide, its system call figure
  (``syscall.csv``): runsc's ptrace and KVM platforms against runc (no native
  figure is published there), GCE n1-standard-4;
- cook2020: the kernel's own ``seccomp_benchmark`` (tools/testing/selftests/
  seccomp), its output as posted with the seccomp verdict-cache series of
  2020: getpid natively and under 1 to 4 stacked filters, cached or not.

A row's ``mechanism`` (optional, "" for none) names the mechanism of
:mod:`analysis.mechanisms` whose ratio it stands beside
(:func:`beside_mechanisms`): a seccomp filter's cost is a difference of two
hosts, set beside the benchmark's filtered / native; a row with a
``benchmark`` stands beside the overhead table too (:func:`beside_published`).

Hardware from 2003 and 2006 differs from today's, so only ratios are set
side by side: ``virtualized / native`` for times and cycles, ``native /
virtualized`` for throughputs, so that above 1 always means "dearer than
native". Where the published operation is not quite ringbench's (lmbench's
context switch subtracts the pipe's cost; Adams's syscall is a bare
syscall/sysret in a test kernel), or the reference is not native (gVisor's
Performance Guide compares with runc), the row's ``environment`` and
``note`` say so. Beside a mechanism, a time's published difference
(``published_added``, in the row's unit) is given too: a filter's cost per
call is less tied to the hardware's own system call cost than its ratio.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ringbench.errors import UserError

PATH = Path(__file__).with_name("references.csv")
COLUMNS = [
    "source",
    "citation",
    "table",
    "operation",
    "benchmark",
    "env_class",
    "environment",
    "native",
    "virtualized",
    "unit",
    "note",
]
OPTIONAL = ["mechanism"]  # "" where an older file has no such column
THROUGHPUT_UNITS = {"GB/s", "MB/s", "Mb/s", "ops/s", "GFLOPS", "GUPS", "requests/s", "score"}


@lru_cache(maxsize=1)
def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"benchmark": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing columns {', '.join(missing)}")
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = ""
    frame["native"] = pd.to_numeric(frame["native"], errors="coerce")
    frame["virtualized"] = pd.to_numeric(frame["virtualized"], errors="coerce")
    return frame


def published(path: Path = PATH) -> pd.DataFrame:
    """The published figures with ``ratio``: above 1 means dearer than native."""
    frame = _read(path).copy()
    higher_better = frame["unit"].isin(THROUGHPUT_UNITS)
    frame["ratio"] = np.where(
        higher_better,
        frame["native"] / frame["virtualized"],
        frame["virtualized"] / frame["native"],
    )
    return frame


BESIDE_COLUMNS = [
    "benchmark",
    "env_class",
    "host",
    "ratio",
    "ratio_low",
    "ratio_high",
    "published_ratio",
    "source",
    "environment",
    "operation",
    "table",
    "note",
]


def beside_published(overhead: pd.DataFrame, path: Path = PATH) -> pd.DataFrame:
    """Each measured ratio (``analysis.overhead``) beside every published ratio for
    the same benchmark and environment class.

    One row per (measured host, published figure); hosts of a class with no
    published figure for a benchmark are left out.
    """
    refs = published(path)
    refs = refs[refs["benchmark"] != ""]
    measured = overhead[["benchmark", "virt_class", "host", "ratio", "ratio_low", "ratio_high"]]
    measured = measured.rename(columns={"virt_class": "env_class"}).astype(
        {"benchmark": str, "env_class": str, "host": str}
    )
    joined = measured.merge(
        refs.rename(columns={"ratio": "published_ratio"}),
        on=["benchmark", "env_class"],
        how="inner",
    )
    return joined[BESIDE_COLUMNS].sort_values(["benchmark", "env_class", "host", "source"])


MECHANISM_BESIDE_COLUMNS = [
    "mechanism",
    "env_class",
    "host",
    "against",
    "ratio",
    "ratio_low",
    "ratio_high",
    "added_ns",
    "published_ratio",
    "published_added",
    "unit",
    "source",
    "environment",
    "operation",
    "table",
    "note",
]


def beside_mechanisms(mech: pd.DataFrame, path: Path = PATH) -> pd.DataFrame:
    """Each measured mechanism ratio (:func:`analysis.mechanisms`) beside every published
    figure for the same mechanism and environment class.

    ``against`` is the host the measured ratio is taken against (its row's
    ``baseline``: a twin, or the baseline); ``published_added`` the published
    figure less its reference, in ``unit``, for a figure that is not a
    throughput (NaN for one). Rows without a measured ratio are left out.
    """
    refs = published(path)
    refs = refs[refs["mechanism"] != ""].copy()
    refs["published_added"] = np.where(
        refs["unit"].isin(THROUGHPUT_UNITS), np.nan, refs["virtualized"] - refs["native"]
    )
    cols = ["mechanism", "virt_class", "host", "baseline", "ratio", "ratio_low", "ratio_high"]
    measured = mech.loc[mech["ratio"].notna(), [*cols, "added_ns"]]
    measured = measured.rename(columns={"virt_class": "env_class", "baseline": "against"})
    measured = measured.astype({"mechanism": str, "env_class": str, "host": str, "against": str})
    joined = measured.merge(
        refs.rename(columns={"ratio": "published_ratio"}),
        on=["mechanism", "env_class"],
        how="inner",
    )
    out = joined[MECHANISM_BESIDE_COLUMNS]
    return out.sort_values(["mechanism", "env_class", "host", "source"]).reset_index(drop=True)
