"""Change points in the history of a figure, and what changed on the host when it moved.

Each (host, benchmark) has one figure per run (the median of its process
medians, :mod:`analysis.stats`). Over the runs, ordered by creation, the
logarithm of that figure is a piecewise constant level plus noise; a change
point is where the level moves. They are found with PELT (Killick, Fearnhead
and Eckley, "Optimal detection of changepoints with a linear computational
cost", JASA 2012), exact for a penalized cost, as the ``ruptures`` library
implements it (Truong, Oudre and Vayatis, Signal Processing 2020), on
log(median), so that a +30% step is the same size on a 50 ns and on a 5 ms
benchmark.

**Cost.** The L1 cost, each segment's sum of absolute deviations from its
median, as asv's ``step_detect`` uses for the same job: one run taken in a
slow phase of its host moves an L1 fit by a little, where a squared cost
would cut it out as a segment of its own, and a jump in the last run alone
is left to the regression table (:mod:`analysis.regress`) until the next
run confirms it. Each segment has at least ``min_size`` runs.

**Penalty.** The cost of one more change point is

    penalty = PENALTY_FACTOR * sigma * log(n),  PENALTY_FACTOR = 2.5

in the L1 cost's units, sigma the noise of the series (below), n its runs.
Under Laplace noise of standard deviation sigma the L1 cost is sigma / sqrt(2)
times half of -2 log-likelihood, so an information criterion's c * log n
becomes c * sigma * log(n) / (2 sqrt 2): BIC's c = 2 and the modified BIC's
leading c = 3 (Zhang and Siegmund, Biometrics 2007) are factors 0.7 and 1.1.
Those assume sigma known; here it is estimated from the series itself, and
in a simulation of this module (Gaussian noise, sigma from the runs' scatter)
a factor of 1 fires on 20 to 25% of flat series of 6 to 20 runs. The factor
2.5 fires on 5.6% of flat series of 6 runs, 3.5% of 8, 2% of 12, 0.7% of 20
and none of 50, places a step of five noise widths halfway through on the
right run in 87% (6 runs) to 99% (50 runs) of series, one of three widths in
47% to 85%, and turns one outlying run (30 widths) into a change point in at
most 2%. ``tests/test_history.py`` checks both sides of that trade.

**Noise.** sigma is the larger of two estimates, each on the log scale:
the median over the runs of their 95% interval half-widths / 1.96 (the noise
each run's own processes show), and the median absolute successive
difference, 1.4826 * median|y_i - y_{i-1}| / sqrt(2) (the noise between runs,
which a host's slow phases make larger than within a run; a step moves one
difference, so it barely moves the median). Taking the larger keeps a series
whose runs disagree more than their intervals say from reading as a string
of changes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
import ruptures as rpt

from analysis.history import FACTS
from analysis.validity import differing_items, records

PENALTY_FACTOR = 2.5
Z95 = 1.959963984540054
MAD_TO_SIGMA = 1.4826  # a normal's standard deviation over its median absolute deviation
SIGMA_FLOOR = 1e-4  # 0.01%: below any timer's resolution; keeps a constant series finite
SHA_SHOWN = 12

COLUMNS = [
    "host",
    "virt_class",
    "benchmark",
    "family",
    "mechanism",
    "previous_run",
    "run",
    "created",
    "before_s",
    "after_s",
    "ratio",
    "what_changed",
]


def noise(log_median: npt.NDArray[np.float64], log_half_width: npt.NDArray[np.float64]) -> float:
    """sigma of a series on the log scale: the larger of the runs' own and the runs' scatter."""
    within = log_half_width[np.isfinite(log_half_width)] / Z95
    sigma = float(np.median(within)) if within.size else 0.0
    if log_median.size >= 3:
        steps = np.abs(np.diff(log_median))
        sigma = max(sigma, MAD_TO_SIGMA * float(np.median(steps)) / math.sqrt(2))
    return max(sigma, SIGMA_FLOOR)


def penalty(sigma: float, n: int) -> float:
    """The cost of one more change point, in the L1 cost's units (see the module's text)."""
    return PENALTY_FACTOR * sigma * math.log(n)


def detect(log_median: npt.NDArray[np.float64], sigma: float, min_size: int = 2) -> list[int]:
    """Indices where a new segment starts (never 0); none for fewer than 2 * min_size points."""
    n = len(log_median)
    if n < 2 * min_size:
        return []
    algo = rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(log_median.reshape(-1, 1))
    ends: list[int] = algo.predict(pen=penalty(sigma, n))
    return [int(e) for e in ends[:-1]]


def _shown(fact: str, value: str) -> str:
    if fact == "binary_sha256" and len(value) > SHA_SHOWN:
        return value[:SHA_SHOWN] + ".."
    return value or "(unknown)"


def what_changed(before: dict[str, object], after: dict[str, object]) -> str:
    """``kernel 6.1.0 -> 6.2.0; binary_sha256 ab12.. -> cd34..``, or "" when no fact differs.

    For lists such as the mitigations (``a | b | c``) only the items that differ
    are named.
    """
    parts = []
    for fact in FACTS:
        a, b = str(before.get(fact, "") or ""), str(after.get(fact, "") or "")
        if a == b:
            continue
        a, b = differing_items(a, b)
        parts.append(f"{fact} {_shown(fact, a)} -> {_shown(fact, b)}")
    return "; ".join(parts)


def change_points(history: pd.DataFrame, min_size: int = 2) -> pd.DataFrame:
    """One row per change point of every (host, benchmark) series of ``history``.

    ``history`` is :func:`analysis.history.history`'s frame (rows in run
    order). ``run`` is the first run after the change, ``previous_run`` the
    last before it; ``before_s`` and ``after_s`` the median of the run
    figures of the segments either side, ``ratio`` after / before;
    ``what_changed`` the host's facts that differ between those two runs.
    A segment has at least ``min_size`` runs.
    """
    rows: list[dict[str, object]] = []
    usable = history[(history["median_s"] > 0) & np.isfinite(history["median_s"])]
    for (host, bench), series in usable.groupby(["host", "benchmark"], sort=True):
        median = series["median_s"].to_numpy(dtype=np.float64)
        log_median = np.log(median)
        with np.errstate(divide="ignore", invalid="ignore"):
            half = (
                np.log(series["ci_high_s"].to_numpy(dtype=np.float64))
                - np.log(series["ci_low_s"].to_numpy(dtype=np.float64))
            ) / 2
        starts = detect(log_median, noise(log_median, half), min_size)
        bounds = [0, *starts, len(median)]
        runs = records(series)
        for k, at in enumerate(starts):
            before = float(np.median(median[bounds[k] : at]))
            after = float(np.median(median[at : bounds[k + 2]]))
            first = runs[at]
            rows.append(
                {
                    "host": str(host),
                    "virt_class": str(first["virt_class"]),
                    "benchmark": str(bench),
                    "family": str(first["family"]),
                    "mechanism": str(first["mechanism"]),
                    "previous_run": str(runs[at - 1]["run"]),
                    "run": str(first["run"]),
                    "created": str(first["created"]),
                    "before_s": before,
                    "after_s": after,
                    "ratio": after / before,
                    "what_changed": what_changed(runs[at - 1], first),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
