"""``--precision``: is a figure's 95% interval as narrow as asked, or does it need a process more?

A figure is the median of its processes' medians (:mod:`analysis.stats`),
its 95% interval a two-level bootstrap. While a run measures, the runners
judge a figure by the upper level of that bootstrap alone: resample the
processes with replacement, take the median of their medians, read the
2.5th and 97.5th percentiles. Within a process, hundreds of thousands of
operations make its median steady, so the lower level adds little to the
width; the analysis's interval, which has both, can be marginally wider, and
``ringbench overhead`` is the judge of record. The half-width is relative to
the figure: ``max(high - median, median - low) / median``.

With fewer than :data:`MIN_PROCESSES` processes the percentile interval is no
better than the range of the medians, so a figure is never called precise
before it has that many.
"""

from __future__ import annotations

import statistics
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

N_BOOT = 2000
MIN_PROCESSES = 5
SEED = 20061021  # the analysis's seed: the same data give the same interval here as there


@dataclass(frozen=True, slots=True)
class Precision:
    """What ``--precision PCT --max-time S`` asks of a run."""

    half_width: float  # relative: 0.01 is +-1%
    max_time_s: float

    def __post_init__(self) -> None:
        if not 0 < self.half_width < 1:
            raise ValueError("the precision must be a percentage between 0 and 100")
        if not self.max_time_s > 0:
            raise ValueError("the time budget must be positive")


def figure_half_width(host: str, bench: str, medians: Sequence[float]) -> float:
    """:func:`half_width` of the figure of ``bench`` on ``host``, seeded by the two, so that
    the pipeline deciding on more processes and the report afterwards agree."""
    return half_width(medians, f"{host}/{bench}")


def half_width(medians: Sequence[float], key: str = "") -> float:
    """The relative half-width of the 95% interval of the median of ``medians``.

    Infinite with fewer than :data:`MIN_PROCESSES` medians. ``key`` seeds the
    resampling, so that the same figure always gets the same answer.
    """
    import numpy as np  # only when --precision is asked for: `ringbench run` starts fast

    n = len(medians)
    if n < MIN_PROCESSES:
        return float("inf")
    x = np.asarray(medians, dtype=np.float64)
    centre = statistics.median(medians)
    if not centre > 0:
        return float("inf")
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    picks = rng.integers(0, n, size=(N_BOOT, n))
    replicates = np.median(x[picks], axis=1)
    low, high = np.percentile(replicates, [2.5, 97.5])
    return float(max(high - centre, centre - low) / centre)
