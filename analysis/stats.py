"""Statistics per (run, host, benchmark), and ratios between two of them.

The figure of a benchmark on a host is the **median of its per-process
medians**: each harness process (a fresh exec, its own layout and
scheduling) gives one figure, the median of its values, so a short burst of
interference moves one value and not the figure, and one process that landed
in a slow phase of the host moves the middle of several processes less than
it would move a mean.

Its 95% interval comes from a two-level bootstrap that follows how the data
were made (Davison and Hinkley, *Bootstrap Methods*, 1997, section 3.8):
resample the processes with replacement, then, within each process drawn,
its values with replacement, take each drawn process's median, then the
median across the drawn processes. Drawing a resample's median does not need
the resample: the k-th smallest of n values drawn with replacement from
sorted x is at most x_(j) exactly when at least k of the n draws fall among
the first j, a binomial event, so

    P(X_(k) <= x_(j)) = P(Binomial(n, j/n) >= k) = I_{j/n}(k, n - k + 1)

(I the regularized incomplete beta function). The process median is drawn by
inverting that distribution: exact for an odd number of values; for an even
number the two middle order statistics are drawn from their exact marginals
with one shared uniform (so the lower never exceeds the upper) and averaged,
an approximation to their joint law. This makes a bootstrap replicate cost
O(processes), not O(values): a million values reach the overhead table in
about a second (``benchmarks/analysis_speed.py``).

Replicates are seeded per group, so a group's interval does not depend on
what else was loaded beside it. A ratio's interval divides the two groups'
replicates pairwise and reads the 2.5th and 97.5th percentiles: the
percentile interval of a ratio is the same whether read on the ratio or on
its logarithm.

*Paired.* The hosts of one machine take turns process by process
(``runners.pipeline``): process k of a guest and process k of its baseline
are measured seconds apart, so a slow phase of the machine (seconds to
minutes long here) falls on both. The bootstrap keeps that pairing: the
processes of a group are drawn with a seed of its run and benchmark alone,
so every host of one run draws the same process numbers in each replicate
(the values within each process are drawn from a seed of their own group).
A ratio's replicates then resample pairs (process k of both hosts), as a
paired bootstrap does, and the machine's phase cancels in the ratio instead
of widening it: a run whose native null system call had one process at
382 ns and four near 140 ns gave the container's ratio x0.96 [0.36-1.85]
with independent draws. Where the two groups are unrelated (other
benchmarks, hosts measured apart, another number of processes), drawing the
same process numbers for both changes nothing in distribution.

A host's ratio to its baseline goes one step further
(:func:`paired_ratio_columns`): it is the median of the *pairs'* ratios
(process k of the host over process k of the baseline), each replicate the
median of its drawn pairs' ratios. The ratio of two medians keeps the
pairing in its draws but not in its statistic: the two medians may come from
processes of different turns, and a phase then lands on one side only. On
seven default runs of this machine's lab (10 processes, eleven known-truth
ratios of x1.00 per run), 5 runs had every such ratio within 3% and its
interval within +-5% with the paired statistic, 2 with the ratio of medians,
on the same data.

Coverage, checked by ``tests/test_analysis_stats.py`` on synthetic two-level
data with a known median and ratio: with 5 processes the 95% interval covers
the truth in about 95% of trials (the percentile interval of a median of few
clusters is close to the range of the cluster medians, which covers the
population median with probability 1 - 2 * 0.5**P).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import betainc

GROUP = ["run", "host", "benchmark"]
N_BOOT = 2000
LEVEL = 0.95
SEED = 20061021  # any fixed number: the intervals are reproducible from the data alone

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Draws:
    """What it takes to draw one group's per-process medians again, as the bootstrap drew
    them (same seeds, same order): the paired ratios need them per process, and keeping
    them all would cost groups x replicates x processes floats."""

    v: FloatArray  # every value, sorted within each process
    p_start: npt.NDArray[np.int64]  # where each process starts in v
    p_count: npt.NDArray[np.int64]
    p_median: FloatArray
    p_number: npt.NDArray[np.int64]  # each process's number in its run
    g_first: npt.NDArray[np.int64]  # each group's first process
    g_nproc: npt.NDArray[np.int64]
    seeds: list[tuple[list[int], list[int]]]  # per group: processes' seed, values' seed
    n_boot: int
    kept: list[FloatArray] | None = None  # every group's draws, when they fit KEEP_DRAWS

    def medians(self, g: int) -> FloatArray:
        """The group's process medians, by process number."""
        return self.p_median[self.g_first[g] : self.g_first[g] + self.g_nproc[g]]

    def numbers(self, g: int) -> npt.NDArray[np.int64]:
        return self.p_number[self.g_first[g] : self.g_first[g] + self.g_nproc[g]]

    def drawn(self, g: int) -> FloatArray:
        """(n_boot, processes): the drawn processes' resampled medians of every replicate."""
        if self.kept is not None:
            return self.kept[g]
        n = int(self.g_nproc[g])
        processes_seed, values_seed = self.seeds[g]
        picks = np.random.default_rng(processes_seed).random((self.n_boot, n))
        pick = self.g_first[g] + (picks * n).astype(np.int64)
        u = np.random.default_rng(values_seed).random((self.n_boot, n))
        return _draw_process_medians(self.v, self.p_start, self.p_count, pick, u)


@dataclass(frozen=True)
class Bootstrap:
    """Point estimates and bootstrap replicates, one row per (run, host, benchmark)."""

    keys: pd.DataFrame  # run, host, benchmark and the group's constant columns
    point: FloatArray  # the figure: median of per-process medians (seconds)
    replicates: FloatArray  # shape (groups, n_boot)
    processes: npt.NDArray[np.int64]
    values: npt.NDArray[np.int64]
    cv: FloatArray  # of the per-process medians
    draws: _Draws | None = None

    def frame(self) -> pd.DataFrame:
        """The replicates as a DataFrame indexed by (run, host, benchmark)."""
        index = pd.MultiIndex.from_frame(self.keys[GROUP].astype(str))
        return pd.DataFrame(self.replicates, index=index)

    def lookup(self) -> dict[tuple[str, str, str], int]:
        return {
            (str(r), str(h), str(b)): i
            for i, (r, h, b) in enumerate(self.keys[GROUP].itertuples(index=False))
        }


KEEP_DRAWS = 8_000_000  # drawn process medians kept for the paired ratios (64 MB); beyond,
# each group's are drawn again when a ratio needs them
GUIDE = 4096  # cells of the guide table that starts each inverse-CDF search


@dataclass(frozen=True)
class _InverseCdf:
    """Inverse of a discrete CDF by indexed search (Chen and Asau, 1974).

    ``guide[k]`` is the first position whose CDF reaches k / GUIDE, so a
    uniform u in cell k starts there and steps forward while the CDF is below
    u; two vectorized steps settle nearly every draw, the rest fall back to a
    binary search. Exact, and several times faster than ``searchsorted`` alone.
    """

    cdf: FloatArray
    guide: npt.NDArray[np.int64]

    @classmethod
    def of(cls, cdf: FloatArray) -> _InverseCdf:
        cells = np.arange(GUIDE, dtype=np.float64) / GUIDE
        return cls(cdf, np.searchsorted(cdf, cells).astype(np.int64))

    def __call__(self, u: FloatArray) -> npt.NDArray[np.int64]:
        last = len(self.cdf) - 1
        idx = self.guide[(u * GUIDE).astype(np.int64)]
        for _ in range(2):
            idx += self.cdf[idx] < u
            np.minimum(idx, last, out=idx)
        short = self.cdf[idx] < u
        if short.any():
            idx[short] = np.searchsorted(self.cdf, u[short])
        return idx


@lru_cache(maxsize=64)
def _median_inverses(n: int) -> tuple[_InverseCdf, _InverseCdf]:
    """Samplers of the positions (in sorted order) of the two middle order statistics
    of n draws with replacement from n values."""
    p = np.arange(1, n + 1, dtype=np.float64) / n
    k_low, k_high = (n + 1) // 2, n // 2 + 1
    low = np.asarray(betainc(k_low, n - k_low + 1, p), dtype=np.float64)
    high = np.asarray(betainc(k_high, n - k_high + 1, p), dtype=np.float64)
    low[-1] = high[-1] = 1.0
    return _InverseCdf.of(low), _InverseCdf.of(high)


def group_seed(seed: int, key: tuple[str, ...]) -> list[int]:
    """The seed of a group's draws: ``seed`` and a checksum of its key, so a group draws
    the same whatever else is drawn beside it."""
    return [seed, zlib.crc32("\x1f".join(key).encode())]


def bootstrap(
    df: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED, group: list[str] | None = None
) -> Bootstrap:
    """Two-level bootstrap of the median of process medians for every group of ``df``.

    ``df`` is the tidy frame of :func:`analysis.load` (or any frame with the
    ``group`` columns, ``process`` and ``value_s``).
    """
    group = group or GROUP
    if df.empty:
        raise ValueError("no values to summarize")
    gcode = np.zeros(len(df), dtype=np.int64)
    for k in group:
        codes = pd.factorize(df[k], sort=True)[0]
        gcode = gcode * (int(codes.max()) + 1) + codes
    proc = df["process"].to_numpy()
    vals = df["value_s"].to_numpy(dtype=np.float64)
    pcode = gcode * (int(proc.max()) + 1) + proc
    order = _process_order(pcode, vals)
    v = vals[order]
    gcode, proc = gcode[order], proc[order]
    new_proc = np.r_[True, (gcode[1:] != gcode[:-1]) | (proc[1:] != proc[:-1])]
    p_start = np.flatnonzero(new_proc)
    p_count = np.diff(np.r_[p_start, len(v)])
    p_median = (v[p_start + (p_count - 1) // 2] + v[p_start + p_count // 2]) / 2
    p_group = gcode[p_start]
    new_group = np.r_[True, p_group[1:] != p_group[:-1]]
    g_first = np.flatnonzero(new_group)  # first process of each group
    g_nproc = np.diff(np.r_[g_first, len(p_start)])

    first_rows = order[p_start[g_first]]
    keys = df.iloc[first_rows].reset_index(drop=True)
    keys = keys.drop(columns=[c for c in ("process", "value_s") if c in keys.columns])

    n_groups = len(g_first)
    point = np.empty(n_groups)
    cv = np.full(n_groups, np.nan)
    reps = np.empty((n_groups, n_boot))
    key_strings = keys[group].astype(str).to_numpy()
    # The processes are drawn with a seed of the group less its host: the hosts of one run
    # and benchmark draw the same process numbers (module docstring, "paired").
    paired = [i for i, k in enumerate(group) if k != "host"]
    seeds = []
    keep = n_boot * len(p_start) <= KEEP_DRAWS
    kept = []
    picks: dict[tuple[int, ...], npt.NDArray[np.int64]] = {}  # the paired hosts' draws, once
    for g in range(n_groups):
        medians = p_median[g_first[g] : g_first[g] + g_nproc[g]]
        point[g] = np.median(medians)
        if g_nproc[g] > 1 and medians.mean() > 0:
            cv[g] = medians.std(ddof=1) / medians.mean()
        n = int(g_nproc[g])
        key = tuple(key_strings[g])
        seeds.append(
            (group_seed(seed, ("processes", *(key[i] for i in paired))), group_seed(seed, key))
        )
        drawn_numbers = (*seeds[-1][0], n)
        if drawn_numbers not in picks:
            processes = np.random.default_rng(seeds[-1][0])
            picks[drawn_numbers] = (processes.random((n_boot, n)) * n).astype(np.int64)
        values = np.random.default_rng(seeds[-1][1])
        pick = g_first[g] + picks[drawn_numbers]
        drawn = _draw_process_medians(v, p_start, p_count, pick, values.random((n_boot, n)))
        reps[g] = _median_across(drawn)
        if keep:
            kept.append(drawn)
    return Bootstrap(
        keys=keys,
        point=point,
        replicates=reps,
        processes=g_nproc.astype(np.int64),
        values=np.add.reduceat(p_count, g_first).astype(np.int64),
        cv=cv,
        draws=_Draws(
            v=v,
            p_start=p_start.astype(np.int64),
            p_count=p_count.astype(np.int64),
            p_median=p_median,
            p_number=proc[p_start].astype(np.int64),
            g_first=g_first.astype(np.int64),
            g_nproc=g_nproc.astype(np.int64),
            seeds=seeds,
            n_boot=n_boot,
            kept=kept if keep else None,
        ),
    )


SEGMENT_SIZES = 64  # distinct process sizes beyond which _process_order falls back to lexsort


def _process_order(pcode: npt.NDArray[np.int64], vals: FloatArray) -> npt.NDArray[np.int64]:
    """The order of ``np.lexsort((vals, pcode))`` (by process code, then value, ties in
    row order), computed as a stable integer sort of the codes and a row-wise sort of each
    process's values, the processes of one size sorted as one matrix: several times faster
    than lexsort on a million values, where processes come in a few sizes."""
    order = np.argsort(pcode, kind="stable")
    codes = pcode[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)])
    sizes = np.unique(counts)
    if len(sizes) > SEGMENT_SIZES:
        return np.asarray(np.lexsort((vals, pcode)), dtype=np.int64)
    v = vals[order]
    for n in sizes.tolist():
        rows = starts[counts == n][:, None] + np.arange(n)
        inner = np.argsort(v[rows], axis=1, kind="stable")
        order[rows] = np.take_along_axis(order[rows], inner, axis=1)
    return np.asarray(order, dtype=np.int64)


def _draw_process_medians(
    v: FloatArray,
    p_start: npt.NDArray[np.int64],
    p_count: npt.NDArray[np.int64],
    pick: npt.NDArray[np.int64],
    u: FloatArray,
) -> FloatArray:
    """Each drawn process's resampled median, in the shape of ``pick``."""
    sizes = p_count[pick]
    base = p_start[pick]
    n = int(sizes.flat[0])
    if (sizes == n).all():  # the usual case: every process has as many values
        return _order_statistics(v, base, u, n)
    drawn = np.empty(pick.shape)
    for n in np.unique(sizes):
        mask = sizes == n
        drawn[mask] = _order_statistics(v, base[mask], u[mask], int(n))
    return drawn


def _median_across(drawn: FloatArray) -> FloatArray:
    """Median along the last axis (the drawn processes)."""
    if drawn.shape[-1] % 2:
        middle = drawn.shape[-1] // 2
        return np.asarray(np.partition(drawn, middle, axis=-1)[..., middle], dtype=np.float64)
    return np.asarray(np.median(drawn, axis=-1), dtype=np.float64)


def _order_statistics(
    v: FloatArray, base: npt.NDArray[np.int64], u: FloatArray, n: int
) -> FloatArray:
    low_position, high_position = _median_inverses(n)
    low: FloatArray = v[base + low_position(u)]
    if n % 2:
        return low
    return np.asarray((low + v[base + high_position(u)]) / 2, dtype=np.float64)


def interval(replicates: FloatArray, level: float = LEVEL) -> tuple[FloatArray, FloatArray]:
    """Percentile interval along the last axis."""
    tail = (1 - level) / 2 * 100
    # nanpercentile goes row by row; the replicates of a ratio hold a NaN only where a
    # figure was 0, so the vectorized percentile serves nearly always
    percentile = np.nanpercentile if np.isnan(replicates).any() else np.percentile
    low, high = percentile(replicates, [tail, 100 - tail], axis=-1)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


SUMMARY_KEEP = [
    "run",
    "host",
    "virt_class",
    "baseline",
    "machine",
    "benchmark",
    "family",
    "mechanism",
    "operation",
]


def summarize(df: pd.DataFrame, boot: Bootstrap | None = None) -> pd.DataFrame:
    """Median, 95% interval and cv per (run, host, benchmark).

    Columns: run, host, virt_class, baseline, machine, benchmark, family,
    mechanism, operation, processes, values, median_s, ci_low_s, ci_high_s,
    cv (of the per-process medians).
    """
    boot = boot or bootstrap(df)
    low, high = interval(boot.replicates)
    out = boot.keys[[c for c in SUMMARY_KEEP if c in boot.keys.columns]].copy()
    for column in out.columns:
        out[column] = out[column].astype(str)
    out["processes"] = boot.processes
    out["values"] = boot.values
    out["median_s"] = boot.point
    out["ci_low_s"] = low
    out["ci_high_s"] = high
    out["cv"] = boot.cv
    return out


RATIO_COLUMNS = ["ratio", "ratio_low", "ratio_high", "added_ns", "added_low_ns", "added_high_ns"]


def ratio_columns(
    num: FloatArray,
    den: FloatArray,
    num_reps: FloatArray,
    den_reps: FloatArray,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Ratio num/den and added cost num - den (in ns), each with its percentile interval.

    ``num``/``den`` are point estimates (n,), ``*_reps`` their replicates (n, B).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
        ratio_reps = num_reps / den_reps
    r_low, r_high = interval(ratio_reps, level)
    a_low, a_high = interval(num_reps - den_reps, level)
    return pd.DataFrame(
        {
            "ratio": ratio,
            "ratio_low": r_low,
            "ratio_high": r_high,
            "added_ns": (num - den) * 1e9,
            "added_low_ns": a_low * 1e9,
            "added_high_ns": a_high * 1e9,
        }
    )


def _paired_rows(
    boot: Bootstrap, num: npt.NDArray[np.int64], den: npt.NDArray[np.int64]
) -> list[int]:
    """The positions i where groups num[i] and den[i] are pairs, process by process: the
    same run and benchmark, the same process numbers (so process k of both took the same
    turn of the interleaved run), at least two of them."""
    draws = boot.draws
    if draws is None or not len(num):
        return []
    same = (boot.processes[num] == boot.processes[den]) & (boot.processes[num] >= 2)
    for column in ("run", "benchmark"):
        if column in boot.keys:
            values = boot.keys[column].astype(str).to_numpy()
            same &= values[num] == values[den]
    return [
        i
        for i in np.flatnonzero(same).tolist()
        if np.array_equal(draws.numbers(int(num[i])), draws.numbers(int(den[i])))
    ]


def paired_ratio_columns(
    boot: Bootstrap,
    num: Sequence[int] | npt.NDArray[np.int64],
    den: Sequence[int] | npt.NDArray[np.int64],
    level: float = LEVEL,
) -> pd.DataFrame:
    """:func:`ratio_columns` of groups ``num`` over groups ``den``, paired where they pair.

    Where they pair (:func:`_paired_rows`: a host and its baseline in one run), the ratio
    is the median over k of process k's figure over the baseline's process k,
    and the added cost the median of their differences; each replicate draws
    the same process numbers for both (as :func:`bootstrap` did), resamples
    each drawn process's values and takes the median of the drawn pairs'
    ratios (differences). So what the interleaving made common to a pair (the
    machine's phase during that turn) cancels within the pair, instead of
    only between two medians that may come from different turns. Elsewhere
    (another run, another number of processes), the ratio of the two figures
    and its interval from their replicates. Column ``paired`` says which.
    """
    num_a = np.asarray(num, dtype=np.int64)
    den_a = np.asarray(den, dtype=np.int64)
    draws = boot.draws
    rows = _paired_rows(boot, num_a, den_a)
    paired = np.isin(np.arange(len(num_a)), rows)
    cols = pd.DataFrame(np.nan, index=range(len(num_a)), columns=RATIO_COLUMNS)
    if not paired.all():
        alone_n, alone_d = num_a[~paired], den_a[~paired]
        cols.loc[~paired, RATIO_COLUMNS] = ratio_columns(
            boot.point[alone_n],
            boot.point[alone_d],
            boot.replicates[alone_n],
            boot.replicates[alone_d],
            level,
        ).to_numpy()
    cols["paired"] = paired
    if draws is None or not rows:
        return cols
    cache: dict[int, FloatArray] = {}

    def drawn(g: int) -> FloatArray:
        if g not in cache:
            cache[g] = draws.drawn(g)
        return cache[g]

    point = np.empty((len(rows), 2))
    ratio_reps = np.empty((len(rows), draws.n_boot))
    added_reps = np.empty((len(rows), draws.n_boot))
    by_size: dict[int, list[int]] = {}  # rows whose groups have as many processes
    for i, row in enumerate(rows):
        by_size.setdefault(int(boot.processes[num_a[row]]), []).append(i)
    with np.errstate(divide="ignore", invalid="ignore"):
        for same in by_size.values():
            a = [int(num_a[rows[i]]) for i in same]
            b = [int(den_a[rows[i]]) for i in same]
            ma = np.stack([draws.medians(g) for g in a])
            mb = np.stack([draws.medians(g) for g in b])
            da = np.stack([drawn(g) for g in a])
            db = np.stack([drawn(g) for g in b])
            point[same, 0] = np.median(ma / mb, axis=-1)
            point[same, 1] = np.median(ma - mb, axis=-1)
            ratio_reps[same] = _median_across(da / db)
            added_reps[same] = _median_across(da - db)
    r_low, r_high = interval(ratio_reps, level)
    a_low, a_high = interval(added_reps, level)
    for column, values in (
        ("ratio", point[:, 0]),
        ("ratio_low", r_low),
        ("ratio_high", r_high),
        ("added_ns", point[:, 1] * 1e9),
        ("added_low_ns", a_low * 1e9),
        ("added_high_ns", a_high * 1e9),
    ):
        cols.loc[rows, column] = values
    return cols


def verdict(low: float, high: float) -> str:
    """What an interval of a ratio says: dearer, cheaper, or not resolved."""
    if low > 1:
        return "dearer"
    if high < 1:
        return "cheaper"
    return "same"
