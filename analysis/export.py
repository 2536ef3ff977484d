"""What ``ringbench overhead`` writes beside a run: ``<run>/analysis/overhead.json``.

Every table of the analysis, as lists of rows (NaN is null), for a CI job or
a notebook to read without recomputing::

    {"format_version": 1, "tool_version": "...", "run": "<run-id>",
     "summary": [...], "overhead": [...], "mechanisms": [...], "flags": [...],
     "published": [...]}

Format history:

- 1: first version.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.validity import records
from ringbench import __version__

OVERHEAD_FORMAT = 1
OVERHEAD_FILE = "overhead.json"


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: NaN becomes null."""
    return records(frame.astype(object).where(frame.notna(), None))


def overhead_document(
    run: str,
    summary: pd.DataFrame,
    overhead: pd.DataFrame,
    mechanisms: pd.DataFrame,
    flags: pd.DataFrame,
    published: pd.DataFrame,
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
    }
