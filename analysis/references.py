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
  KVM against native.

Hardware from 2003 and 2006 differs from today's, so only ratios are set
side by side: ``virtualized / native`` for times and cycles, ``native /
virtualized`` for throughputs, so that above 1 always means "dearer than
native". Where the published operation is not quite ringbench's (lmbench's
context switch subtracts the pipe's cost; Adams's syscall is a bare
syscall/sysret in a test kernel), the row's ``note`` says so.
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
