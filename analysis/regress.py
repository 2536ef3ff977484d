"""The regression gate: did the current run get slower than what came before it?

For every host and benchmark present in both runs, and for every host's
ratio to its baseline host where the runs have one, the gate decides
``regression``, ``improvement`` or ``no change``:

1. **Test.** Each harness process is one independent measurement (its own
   exec, layout and scheduling); its figure is the median of its values.
   Welch's t-test compares the logarithms of the two runs' per-process
   medians (unequal variances, few processes: the t distribution's heavier
   tails are what a handful of processes need). Values within a process are
   not independent of each other, so they are not the test's units.
2. **Many comparisons.** A gate compares dozens to hundreds of figures; at
   5% each, several would fire by chance on every run. The p-values of both
   views together are adjusted with Benjamini and Hochberg's procedure
   (1995), which bounds the expected share of false discoveries among the
   flagged figures by ``alpha``.
3. **Threshold.** Significance alone is not enough: with steady figures a
   0.5% change is significant and nobody wants a red build for it. A change
   counts only when it lies ``threshold`` (default 10%) beyond what the
   figure has shown before (4.).

4. **History.** A shared host has phases: on this project's 2-vCPU KVM guest
   the null system call cost ~195 ns in some runs and ~265 ns in others, the
   slow phases lasting seconds to minutes, and ``mem-chase-4k`` under nested
   paging flips between ~180 and ~55 ns as the host promotes its own backing
   of guest memory. One baseline run is one draw from those phases: held
   against it alone, a run that lands in the other phase is a regression
   although nothing changed, and a real slowdown measured against a baseline
   that sat in the slow phase hides behind the flip. So the current figure
   is held against the *range* the comparable history has shown:

   - *Comparable* earlier runs: the same settings
     (:func:`analysis.history.settings_key`: processes, values, warmups,
     min_time_s, cpu; a ``--fast`` run never widens a default run's history),
     the same benchmark parameters, and for the host the same facts
     (:data:`analysis.history.FACTS`: kernel, binary, CPU model, machine,
     mitigations, THP, clock source, governor, virtualization layers and
     class) as in the current run. The baseline run enters on its own (below);
     of the others, the latest ``HISTORY_MAX_RUNS``: a range is an extreme
     statistic that only grows with the runs it spans, and the window keeps it
     to the machine as it has been lately.
   - *Outliers* are set aside (:func:`set_aside`) with the median and the MAD
     of the log figures (the earlier runs' and the baseline run's; the MAD
     scaled by 1.4826 to a standard deviation and floored at 1%): an earlier
     run more than ``OUTLIER_K`` = 3.5 robust deviations from the median
     (Iglewicz and Hoaglin's cut-off for the modified z-score) *and* with no
     other figure within half that distance of it. A speed seen once is a
     spike and does not widen the range; a speed seen twice is one the
     machine has. The MAD alone cannot tell the two apart: when more than half
     the runs sit at one speed, the MAD is that speed's own scatter and every
     run at the other speed lies many MADs out.
   - The range ``[low, high]`` of the remaining earlier figures together with
     the baseline run's own: a ``regression`` when the current figure is at
     least ``high * (1 + threshold)`` *and* significantly different from the
     baseline run's (1.-2.); an ``improvement`` when at most
     ``low / (1 + threshold)`` and significant.
   - With fewer than ``HISTORY_MIN_RUNS`` = 2 comparable earlier runs the
     range is the baseline run's figure alone, the gate without a store. Two
     earlier runs and the baseline run make three figures, the fewest in
     which a median and MAD can outvote one spike: of two, neither can be told
     to be the odd one. (Three earlier runs were asked for before; on seven
     A/A runs of the seven-host lab, the run after two earlier ones was then
     held against its baseline run alone, and a loopback round trip whose
     per-process figures flip between ~13 and ~20 us, at 19.2 us in one of
     those two runs, alarmed at 19.3 us.)

   So a history that flips between two speeds does not hide a slowdown
   beyond both (the range spans the two speeds, the threshold stays 10%), and
   a move between two speeds the history has shown is no alarm. The price: a
   slowdown that stays inside the range is not caught by the figure view.

5. **The ratio view.** Where a host has a baseline host in the same run
   (``baseline`` in the inventory, as for :func:`analysis.overhead.overhead`),
   the gate also judges the host's ratio to its baseline within each run,
   which the machine's phases largely cancel (both are measured in the same
   run, on the same machine): a native null system call moved between ~192 and
   ~260 ns from run to run here while a container's ratio to it did not. The
   same rule applies: the ratio is held against the range of the comparable
   history of that ratio (both hosts' facts as in the current run) and the
   baseline run's ratio, plus the threshold, and must differ significantly
   from the baseline run's. The test is Welch's on the per-process log ratios
   ``d_k = log m_host,k - log m_baseline,k``, process k of the host paired
   with process k of its baseline. The hosts of a machine take turns process
   by process (process k of every benchmark on every host before process k+1),
   so the two processes of a pair are measured seconds apart and a slow phase
   that lands on one mostly lands on the other: the pairing removes it. The
   test does not depend on that to be sound (runs recorded before the turns
   were taken ran their hosts one after another): with the processes
   independent (the assumption of 1.), the ``d_k`` are independent units whose
   mean is the log ratio and whose variance is the sum of the two hosts' (less
   where a pair shares a phase); for equal process counts their mean is
   exactly the difference of the two hosts' mean log figures, so the test has
   at worst the standard error of a comparison of the four groups' means, with
   one degree of freedom less per run than processes. Processes present on
   only one of the two hosts (``--precision`` adds processes figure by figure)
   are left out. The figure view catches a slower machine, kernel or host; the
   ratio view the virtualization layer alone, immune to the machine's phases
   and blind to what slows host and baseline alike.

The default threshold comes from ``benchmarks/regress_gate.py``, which
measures on this machine the false alarms over repeated A/A runs, each held
against its comparable history, and the smallest injected slowdown (seccomp
filters in front of every system call) caught; its figures are in the README.

A comparison is invalid, and the gate says so instead of judging, when the
runs measured different binaries, on different machines or CPU models, or
when a host of one run is missing from the other (:func:`analysis.validity.across_runs`).
Runs under different settings are compared, and said to be confounded
(:func:`settings_findings`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from analysis.history import FACTS, baselines, figure_params, run_facts
from analysis.overhead import compare
from analysis.stats import bootstrap, ratio_columns
from analysis.validity import COLUMNS as FINDING_COLUMNS
from analysis.validity import records

DEFAULT_THRESHOLD = 0.10
ALPHA = 0.05
HISTORY_MIN_RUNS = 2
HISTORY_MAX_RUNS = 20
OUTLIER_K = 3.5
MAD_TO_SD = 1.4826  # the MAD of a normal distribution is 0.6745 standard deviations
SCALE_FLOOR = 0.01  # log units: below 1% a spread is the harness's resolution, not a scale

COLUMNS = [
    "view",
    "host",
    "virt_class",
    "benchmark",
    "family",
    "mechanism",
    "baseline_host",
    "a_s",
    "b_s",
    "a",
    "b",
    "ratio",
    "ratio_low",
    "ratio_high",
    "p_value",
    "q_value",
    "threshold",
    "history_low",
    "history_high",
    "history_runs",
    "history_set_aside",
    "change",
    "flagged",
]
Key = tuple[str, str]


def process_medians(df: pd.DataFrame) -> dict[Key, pd.Series]:
    """(host, benchmark) -> the per-process medians of one run, indexed by process."""
    medians = df.groupby(["host", "benchmark", "process"], observed=True)["value_s"].median()
    collected: dict[Key, dict[int, float]] = {}
    for r in records(medians.reset_index()):
        key = (str(r["host"]), str(r["benchmark"]))
        collected.setdefault(key, {})[int(r["process"])] = float(r["value_s"])
    return {k: pd.Series(v, dtype=float) for k, v in collected.items()}


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test on log values; 1 when it cannot be computed."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or (a <= 0).any() or (b <= 0).any():
        return 1.0
    la, lb = np.log(a), np.log(b)
    if np.ptp(la) == 0 and np.ptp(lb) == 0:
        return 1.0 if la[0] == lb[0] else 0.0
    p = float(stats.ttest_ind(lb, la, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Adjusted p-values (q-values) of Benjamini and Hochberg's step-up procedure."""
    if len(p) == 0:
        return p
    return np.asarray(stats.false_discovery_control(np.clip(p, 0, 1), method="bh"))


def process_ratios(host: pd.Series, baseline: pd.Series) -> np.ndarray:
    """Per-process ratios host / baseline, process k over process k (the processes both
    hosts have): the units of the ratio view's test."""
    both = pd.concat([host, baseline], axis=1, join="inner").to_numpy(dtype=float)
    return np.asarray(both[:, 0] / both[:, 1])


# --- the history's range --------------------------------------------------------


def set_aside(log_values: np.ndarray, keep_last: int = 1) -> np.ndarray:
    """Which values are outlying: beyond ``OUTLIER_K`` robust deviations of the median
    (MAD scaled to a standard deviation, at least ``SCALE_FLOOR``) and alone, with no
    other value within half their distance from the median. The last ``keep_last``
    values (the baseline run's) are never set aside, but count as neighbours."""
    y = np.asarray(log_values, dtype=float)
    if len(y) < 3:
        return np.zeros(len(y), dtype=bool)
    deviation = np.abs(y - np.median(y))
    scale = max(MAD_TO_SD * float(np.median(deviation)), SCALE_FLOOR)
    gaps = np.abs(y[:, None] - y[None, :])
    np.fill_diagonal(gaps, np.inf)
    alone = gaps.min(axis=1) > deviation / 2
    out = (deviation > OUTLIER_K * scale) & alone
    if keep_last:
        out[-keep_last:] = False
    return np.asarray(out, dtype=bool)


def held_range(earlier: np.ndarray, baseline: float) -> tuple[float, float, int, int]:
    """(low, high, earlier runs, set aside): the range the current value is held against.

    ``earlier`` holds the comparable earlier runs' values (the baseline run's
    not among them), oldest first; only the latest ``HISTORY_MAX_RUNS`` count.
    With fewer than ``HISTORY_MIN_RUNS`` of them the range is ``baseline``
    alone; otherwise the outlying ones are set aside (:func:`set_aside`, on
    the logarithms) and the range spans the rest and ``baseline``.
    """
    values = np.asarray(earlier, dtype=float)
    values = values[np.isfinite(values) & (values > 0)][-HISTORY_MAX_RUNS:]
    if len(values) < HISTORY_MIN_RUNS or not (math.isfinite(baseline) and baseline > 0):
        return baseline, baseline, len(values), 0
    outlying = set_aside(np.log(np.r_[values, baseline]))[:-1]
    kept = np.r_[values[~outlying], baseline]
    return float(kept.min()), float(kept.max()), len(values), int(outlying.sum())


def comparable_history(
    history: pd.DataFrame, df_current: pd.DataFrame, settings: str, exclude: set[str]
) -> pd.DataFrame:
    """The rows of ``history`` (:func:`analysis.history.history`) comparable with the
    current run ``df_current``: the same ``settings`` key, for each host the same
    ``FACTS`` as in the current run, for each figure the same ``params``; the runs in
    ``exclude`` (the baseline and current runs) left out. Ordered by creation."""
    if history.empty:
        return history.iloc[0:0]
    rows = history[(history["settings"].astype(str) == settings)]
    rows = rows[~rows["run"].astype(str).isin(exclude)]
    rows = rows[np.isfinite(rows["median_s"].astype(float)) & (rows["median_s"] > 0)]
    keys = ["host", *FACTS]
    rows = rows.astype(dict.fromkeys([*keys, "benchmark", "params", "baseline"], str))
    rows = rows.merge(run_facts(df_current)[keys], on=keys, how="inner")
    rows = rows.merge(figure_params(df_current), on=["host", "benchmark", "params"])
    return rows.sort_values(["created", "run"], kind="stable").reset_index(drop=True)


def _figure_history(rows: pd.DataFrame) -> dict[Key, np.ndarray]:
    """(host, benchmark) -> the comparable earlier figures, oldest first."""
    return {
        (str(h), str(b)): g["median_s"].to_numpy(dtype=float)
        for (h, b), g in rows.groupby(["host", "benchmark"], sort=False)
    }


def _ratio_history(rows: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
    """(host, baseline host, benchmark) -> the comparable earlier ratios of the host's
    figure to its baseline's within each run, oldest first."""
    hosts = rows[(rows["baseline"] != "") & (rows["baseline"] != rows["host"])]
    if hosts.empty:
        return {}
    theirs = rows[["run", "host", "benchmark", "median_s"]].rename(
        columns={"host": "baseline", "median_s": "baseline_s"}
    )
    pairs = hosts.merge(theirs, on=["run", "baseline", "benchmark"])
    pairs = pairs.sort_values(["created", "run"], kind="stable")
    return {
        (str(h), str(g), str(b)): (p["median_s"] / p["baseline_s"]).to_numpy(dtype=float)
        for (h, g, b), p in pairs.groupby(["host", "baseline", "benchmark"], sort=False)
    }


# --- the gate -------------------------------------------------------------------


def _run_id(df: pd.DataFrame) -> str:
    return str(df["run"].iat[0]) if len(df) else ""


def _figure_view(
    compared: pd.DataFrame, base: dict[Key, pd.Series], current: dict[Key, pd.Series]
) -> pd.DataFrame:
    out = compared.copy()
    keys = list(zip(out["host"].astype(str), out["benchmark"].astype(str), strict=True))
    out["view"], out["baseline_host"] = "figure", ""
    out["a"], out["b"] = out["a_s"], out["b_s"]
    out["p_value"] = [welch_p(base[k].to_numpy(), current[k].to_numpy()) for k in keys]
    return out


def _ratio_view(
    df_base: pd.DataFrame,
    df_current: pd.DataFrame,
    compared: pd.DataFrame,
    base: dict[Key, pd.Series],
    current: dict[Key, pd.Series],
) -> pd.DataFrame:
    """One row per (host, benchmark) whose host has the same baseline host in both runs,
    every side measured: the two runs' ratios host / baseline host, their change with a
    bootstrap interval (the four groups' replicates, independent), the paired test."""
    pairs_b, pairs_a = baselines(df_current), baselines(df_base)
    wanted = []
    for r in records(compared):
        host, bench = str(r["host"]), str(r["benchmark"])
        their = pairs_b.get(host, "")
        measured = (their, bench) in base and (their, bench) in current
        if their and pairs_a.get(host) == their and measured:
            wanted.append((r, their))
    if not wanted:
        return pd.DataFrame(columns=COLUMNS)
    run_a, run_b = _run_id(df_base), _run_id(df_current)
    boot = bootstrap(pd.concat([df_base, df_current], ignore_index=True))
    index = boot.lookup()

    hosts = [(str(r["host"]), g, str(r["benchmark"])) for r, g in wanted]

    def rows(run: str, side: int) -> np.ndarray:
        return np.asarray([index[(run, h if side == 0 else g, b)] for h, g, b in hosts])

    hb, gb, ha, ga = rows(run_b, 0), rows(run_b, 1), rows(run_a, 0), rows(run_a, 1)
    num, den = boot.point[hb] / boot.point[gb], boot.point[ha] / boot.point[ga]
    reps_num = boot.replicates[hb] / boot.replicates[gb]
    reps_den = boot.replicates[ha] / boot.replicates[ga]
    change = ratio_columns(num, den, reps_num, reps_den)
    out = pd.DataFrame([r for r, _ in wanted]).reset_index(drop=True)
    out["view"] = "ratio"
    out["baseline_host"] = [g for _, g in wanted]
    out["a"], out["b"] = den, num
    for column in ("ratio", "ratio_low", "ratio_high"):
        out[column] = change[column].to_numpy()
    out["p_value"] = [
        welch_p(
            process_ratios(base[(h, b)], base[(g, b)]),
            process_ratios(current[(h, b)], current[(g, b)]),
        )
        for h, g, b in hosts
    ]
    return out


def regressions(
    df_base: pd.DataFrame,
    df_current: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = ALPHA,
    history: pd.DataFrame | None = None,
    settings: str | None = None,
) -> pd.DataFrame:
    """The gate's decision on every figure in both runs, and on every ratio of a host to
    its baseline host in both: one row per (view, host, benchmark), ``COLUMNS``.

    ``history`` is the store's history (:func:`analysis.history.history`, or
    :func:`analysis.history.history_before` the current run); it is filtered to
    the runs comparable with the current run (:func:`comparable_history`),
    whose settings key (:func:`analysis.history.settings_key`) ``settings``
    must then name. Without ``history`` every range is the baseline run's
    value alone. ``change`` is the decision (module docstring).

    ``view`` is ``figure`` (the host's figure, seconds) or ``ratio`` (the
    host's figure over its baseline host's, ``baseline_host``, within each
    run). ``a_s`` and ``b_s`` are the host's figures in the baseline and
    current runs (both views), ``a`` and ``b`` the view's own quantity (the
    figures again, or the two runs' ratios to the baseline host); ``ratio`` is
    ``b / a`` with its 95% bootstrap interval. ``history_low`` and
    ``history_high`` are the range ``b`` was held against, in the view's unit;
    ``history_runs`` the comparable earlier runs found (the baseline run not
    counted, at most ``HISTORY_MAX_RUNS``), ``history_set_aside`` how many of
    them were outlying; below ``HISTORY_MIN_RUNS`` the range is ``a`` alone.
    """
    if history is not None and settings is None:
        raise ValueError("a history needs the current run's settings to filter it")
    compared = compare(df_base, df_current)
    if compared.empty:
        return pd.DataFrame(columns=COLUMNS)
    base, current = process_medians(df_base), process_medians(df_current)
    figures = _figure_view(compared, base, current)
    ratios = _ratio_view(df_base, df_current, compared, base, current)
    out = pd.concat([figures, ratios], ignore_index=True) if not ratios.empty else figures
    rows = pd.DataFrame()
    if history is not None and settings is not None:
        exclude = {_run_id(df_base), _run_id(df_current)}
        rows = comparable_history(history, df_current, settings, exclude)
    by_figure = _figure_history(rows) if not rows.empty else {}
    by_ratio = _ratio_history(rows) if not rows.empty else {}
    ranges = []
    for r in records(out):
        host, bench = str(r["host"]), str(r["benchmark"])
        if r["view"] == "figure":
            earlier = by_figure.get((host, bench), np.empty(0))
        else:
            earlier = by_ratio.get((host, str(r["baseline_host"]), bench), np.empty(0))
        ranges.append(held_range(earlier, float(r["a"])))
    low, high, found, outlying = (np.asarray(c) for c in zip(*ranges, strict=True))
    p = out["p_value"].to_numpy(dtype=float)
    q = benjamini_hochberg(p)
    b = out["b"].to_numpy(dtype=float)
    significant = q < alpha
    out["q_value"], out["threshold"] = q, threshold
    out["history_low"], out["history_high"] = low.astype(float), high.astype(float)
    out["history_runs"], out["history_set_aside"] = found.astype(int), outlying.astype(int)
    out["change"] = np.where(
        significant & (b >= high * (1 + threshold)),
        "regression",
        np.where(significant & (b <= low / (1 + threshold)), "improvement", "no change"),
    )
    for column in ("a_s", "b_s", "a", "b", "ratio", "ratio_low", "ratio_high", "p_value"):
        out[column] = out[column].astype(float)
    return out[COLUMNS].reset_index(drop=True)


def settings_findings(
    base_run: str, current_run: str, base_settings: str, current_settings: str
) -> pd.DataFrame:
    """A ``confounded`` finding (``analysis.validity.COLUMNS``) when the two runs were
    measured under different settings: their figures are compared, but fewer or shorter
    values move a median differently."""
    if base_settings == current_settings:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    detail = (
        f"settings: {current_settings or 'unknown'} against "
        f"{base_settings or 'unknown'} ({base_run})"
    )
    row = {
        "run": current_run,
        "host": "(all)",
        "baseline": base_run,
        "benchmark": "",
        "check": "settings",
        "severity": "confounded",
        "detail": detail,
    }
    return pd.DataFrame([row], columns=FINDING_COLUMNS)


# --- what the gate says ---------------------------------------------------------
