"""What ``ringbench overhead`` writes beside a run: ``<run>/analysis/overhead.json``.

Every table of the analysis, as lists of rows (NaN is null), for a CI job or
a notebook to read without recomputing::

    {"format_version": 2, "tool_version": "...", "run": "<run-id>",
     "summary": [...], "overhead": [...], "mechanisms": [...], "flags": [...],
     "published": [...],
     "calibration": {"line": "calibration: ...", "rows": [...], "flagged": false,
                     "worst_deviation": 0.018, "worst": {"host": ..., "benchmark": ...},
                     "limits": {"deviation": 0.03, "half_width": 0.05}}}

Format history:

- 1: first version.
- 2: ``calibration``: the known-truth ratios of :mod:`analysis.calibration`
  (``rows``), the largest deviation and where (null without rows), whether
  the run is flagged, its one-line summary and the limits it was judged by.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.calibration import (
    DEVIATION_LIMIT,
    HALF_WIDTH_LIMIT,
    flagged,
    summary_line,
    worst,
)
from analysis.validity import records
from ringbench import __version__

OVERHEAD_FORMAT = 2
OVERHEAD_FILE = "overhead.json"


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: NaN becomes null."""
    return records(frame.astype(object).where(frame.notna(), None))


def calibration_document(calibration: pd.DataFrame, overhead: pd.DataFrame) -> dict[str, Any]:
    """The ``calibration`` object of ``overhead.json``: rows, worst deviation, flagged."""
    w = worst(calibration)
    deviation = None if w is None or not math.isfinite(w["deviation"]) else w["deviation"]
    return {
        "line": summary_line(calibration, overhead),
        "rows": json_records(calibration),
        "flagged": flagged(calibration),
        "worst_deviation": deviation,
        "worst": None if w is None else {"host": w["host"], "benchmark": w["benchmark"]},
        "limits": {"deviation": DEVIATION_LIMIT, "half_width": HALF_WIDTH_LIMIT},
    }


def overhead_document(
    run: str,
    summary: pd.DataFrame,
    overhead: pd.DataFrame,
    mechanisms: pd.DataFrame,
    flags: pd.DataFrame,
    published: pd.DataFrame,
    calibration: pd.DataFrame,
) -> dict[str, Any]:
    """The ``overhead.json`` document of one run's tables."""
    return {
        "format_version": OVERHEAD_FORMAT,
        "tool_version": __version__,
        "run": run,
        "summary": json_records(summary),
        "overhead": json_records(overhead),
        "mechanisms": json_records(mechanisms),
        "flags": json_records(flags),
        "published": json_records(published),
        "calibration": calibration_document(calibration, overhead),
    }
