"""The regression gate: did the current run get slower than the baseline run?

For every host and benchmark present in both runs:

1. **Test.** Each harness process is one independent measurement (its own
   exec, layout and scheduling); its figure is the median of its values.
   Welch's t-test compares the logarithms of the two runs' per-process
   medians (unequal variances, few processes: the t distribution's heavier
   tails are what a handful of processes need). Values within a process are
   not independent of each other, so they are not the test's units.
2. **Many comparisons.** A gate compares dozens to hundreds of figures; at
   5% each, several would fire by chance on every run. The p-values are
   adjusted with Benjamini and Hochberg's procedure (1995), which bounds the
   expected share of false discoveries among the flagged figures by
   ``alpha``.
3. **Threshold.** Significance alone is not enough: with steady figures a
   0.5% change is significant and nobody wants a red build for it, and a
   shared host has phases in which a whole benchmark of a whole run is a few
   percent slower (README, "Reading the figures"). A figure is a
   ``regression`` when its adjusted p-value is below ``alpha`` *and* the
   ratio current / baseline is at least ``1 + threshold``; an
   ``improvement`` when significant and at most ``1 / (1 + threshold)``.

4. **History.** Some figures move between runs for reasons outside the
   software under test: on a nested-paging host ``mem-chase-4k`` switches
   between two levels (~180 and ~55 ns) as the host promotes its own backing
   of guest memory to huge pages. Where the store holds at least
   ``HISTORY_MIN_RUNS`` earlier runs of a host and benchmark, the threshold
   for that figure is raised to the ``HISTORY_QUANTILE`` quantile of the
   changes between successive earlier runs (:func:`noise_floor`): a change the
   history shows routinely is not called a regression. A real regression
   that is later accepted enters the history once, as one large step among
   many small ones, and does not raise the quantile.

The default threshold comes from ``benchmarks/regress_gate.py``, which
measures on this machine the false alarms over repeated A/A runs and the
smallest injected slowdown (seccomp filters in front of every system call)
caught; its figures are in the README.

A comparison is invalid, and the gate says so instead of judging, when the
runs measured different binaries, on different machines or CPU models, or
when a host of one run is missing from the other (:func:`analysis.validity.across_runs`).
"""

from __future__ import annotations

import math
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd
from scipy import stats

from analysis.overhead import compare
from analysis.validity import records
from ringbench.units import format_seconds

DEFAULT_THRESHOLD = 0.15
ALPHA = 0.05
HISTORY_MIN_RUNS = 6
HISTORY_QUANTILE = 0.9

COLUMNS = [
    "host",
    "virt_class",
    "benchmark",
    "family",
    "mechanism",
    "a_s",
    "b_s",
    "ratio",
    "ratio_low",
    "ratio_high",
    "p_value",
    "q_value",
    "threshold",
    "change",
    "flagged",
]


def process_medians(df: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """(host, benchmark) -> the per-process medians of one run."""
    medians = df.groupby(["host", "benchmark", "process"], observed=True)["value_s"].median()
    out: dict[tuple[str, str], list[float]] = {}
    for r in records(medians.reset_index()):
        out.setdefault((str(r["host"]), str(r["benchmark"])), []).append(float(r["value_s"]))
    return {k: np.asarray(v) for k, v in out.items()}


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test on log values; 1 when it cannot be computed."""
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


def noise_floor(
    history: pd.DataFrame, min_runs: int = HISTORY_MIN_RUNS
) -> dict[tuple[str, str], float]:
    """(host, benchmark) -> the change between successive runs that the history shows
    routinely: the ``HISTORY_QUANTILE`` quantile of |log(median_i / median_i-1)|, as a
    fraction (0.25 = 25%). ``history`` has one row per (run, host, benchmark) with
    ``median_s``, in time order (``analysis.history.history``); series shorter than
    ``min_runs`` runs give nothing."""
    floors: dict[tuple[str, str], float] = {}
    if history.empty:
        return floors
    for (host, bench), rows in history.groupby(["host", "benchmark"], sort=False):
        medians = rows["median_s"].to_numpy(dtype=float)
        medians = medians[np.isfinite(medians) & (medians > 0)]
        if len(medians) < min_runs:
            continue
        steps = np.abs(np.diff(np.log(medians)))
        floors[(str(host), str(bench))] = float(np.expm1(np.quantile(steps, HISTORY_QUANTILE)))
    return floors


def regressions(
    df_base: pd.DataFrame,
    df_current: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = ALPHA,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per host and benchmark in both runs: ratio current / baseline with its 95%
    interval, Welch's p-value, the Benjamini-Hochberg q-value, the threshold applied
    (``threshold``, raised by the history's noise where there is one) and the decision
    ``change``. ``history``: earlier runs' medians, without the two compared."""
    compared = compare(df_base, df_current)
    if compared.empty:
        return pd.DataFrame(columns=COLUMNS)
    base, current = process_medians(df_base), process_medians(df_current)
    keys = list(zip(compared["host"].astype(str), compared["benchmark"].astype(str), strict=True))
    p = np.asarray([welch_p(base[k], current[k]) for k in keys])
    q = benjamini_hochberg(p)
    ratio = compared["ratio"].to_numpy(dtype=float)
    floors = noise_floor(history) if history is not None else {}
    limit = np.asarray([max(threshold, floors.get(k, 0.0)) for k in keys])
    significant = q < alpha
    change = np.where(
        significant & (ratio >= 1 + limit),
        "regression",
        np.where(significant & (ratio <= 1 / (1 + limit)), "improvement", "no change"),
    )
    out = compared.copy()
    out["p_value"], out["q_value"], out["threshold"], out["change"] = p, q, limit, change
    return out[COLUMNS]


def junit_xml(result: pd.DataFrame, findings: pd.DataFrame, base: str, current: str) -> str:
    """JUnit XML: one test case per host and benchmark; a regression is a failure, an invalid
    comparison an error."""
    invalid_hosts = {
        f["host"]: f["detail"] for f in records(findings) if f["severity"] == "invalid"
    }
    cases = []
    failures = errors = 0
    for r in records(result):
        name = quoteattr(str(r["benchmark"]))
        classname = quoteattr(f"ringbench.{r['host']}")
        summary = (
            f"{r['benchmark']} on {r['host']}: x{r['ratio']:.3f} "
            f"[{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] "
            f"({r['a_s'] * 1e9:.1f} ns -> {r['b_s'] * 1e9:.1f} ns), q={r['q_value']:.2g}"
        )
        body = f"<system-out>{_escape(summary)}</system-out>"
        if r["host"] in invalid_hosts:
            errors += 1
            body = (
                f"<error message={quoteattr('invalid comparison: ' + invalid_hosts[r['host']])}"
                f' type="invalid"/>{body}'
            )
        elif r["change"] == "regression":
            failures += 1
            message = quoteattr("regression: " + summary)
            body = f'<failure message={message} type="regression"/>{body}'
        cases.append(f'<testcase classname={classname} name={name} time="0">{body}</testcase>')
    missing = [f for f in records(findings) if f["check"] == "host"]
    for f in missing:
        errors += 1
        message = quoteattr(f"{f['host']}: {f['detail']}")
        cases.append(
            f'<testcase classname={quoteattr("ringbench." + str(f["host"]))} name="host" '
            f'time="0"><error message={message} type="missing-host"/></testcase>'
        )
    title = quoteattr(f"ringbench regress {current} against {base}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites><testsuite name={title} tests="{len(cases)}" failures="{failures}" '
        f'errors="{errors}">\n<properties><property name="baseline" value={quoteattr(base)}/>'
        f'<property name="current" value={quoteattr(current)}/>'
        '<property name="ringbench_junit_format" value="1"/></properties>\n'
        + "\n".join(cases)
        + "\n</testsuite></testsuites>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(
    result: pd.DataFrame,
    findings: pd.DataFrame,
    base: str,
    current: str,
    threshold: float,
    alpha: float,
) -> str:
    """A summary for a CI job's page: the verdict, the regressions and improvements, the
    findings that make the comparison invalid or confounded."""
    counts = result["change"].value_counts().to_dict() if not result.empty else {}
    invalid = findings[findings["severity"] == "invalid"] if not findings.empty else findings
    if not invalid.empty:
        verdict = "**invalid comparison**"
    elif counts.get("regression"):
        verdict = f"**{counts['regression']} regression(s)**"
    else:
        verdict = "**no regression**"
    lines = [
        f"## ringbench: `{current}` against `{base}`: {verdict}",
        "",
        f"{len(result)} figures compared; a change counts when its Benjamini-Hochberg "
        f"q-value is below {alpha:g} and it exceeds {threshold:.0%}. "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
        "",
    ]
    for kind in ("regression", "improvement"):
        rows = result[result["change"] == kind]
        if rows.empty:
            continue
        lines += [
            f"### {kind.capitalize()}s",
            "",
            "| host | benchmark | baseline | current | ratio [95% interval] | q |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in records(rows.sort_values("ratio", ascending=kind == "improvement")):
            lines.append(
                f"| {r['host']} | {r['benchmark']} | "
                f"{format_seconds(r['a_s'])} | {format_seconds(r['b_s'])} | "
                f"x{r['ratio']:.3f} [{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] | "
                f"{r['q_value']:.2g} |"
            )
        lines.append("")
    if not findings.empty:
        lines += ["### What differs between the runs", "", "| host | check | severity | detail |"]
        lines.append("| --- | --- | --- | --- |")
        for f in records(findings):
            detail = str(f["detail"]).replace("|", "\\|")
            lines.append(f"| {f['host']} | {f['check']} | {f['severity']} | {detail} |")
        lines.append("")
    return "\n".join(lines)
