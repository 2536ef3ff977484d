"""Is a comparison sound? Flags that travel with every table.

A ratio of two figures means "what the virtualization layer costs" only when
everything else is equal. Each check below compares what the results record
and emits one row per finding:

========== ========== ==============================================================
check      severity   fires when
========== ========== ==============================================================
binary     invalid    the harness sha256 differs: not the same code was measured
machine    invalid    the two hosts (or runs) are on different physical machines
cpu-model  invalid    across runs of one host: another CPU model (other hardware)
cpu-model  confounded host against its baseline: the guest sees another CPU model (an
                      emulator's virtual CPU does; the ratio includes it)
kernel     confounded another kernel release: expected for a guest with its own kernel,
                      the ratio includes the kernel difference
mitigations, thp, governor, clocksource
           confounded another setting of what the figures depend on
clock      suspect    a process's clock lay more than the run's tolerance outside
                      the controller's window (``clock_check`` in the results)
steal      suspect    the hypervisor took time from the guest during a process
spread     suspect    the per-process medians vary by more than ``SPREAD_CV``
probe      suspect    the probe disagrees with the inventory's ``virt_class``
baseline   invalid    the baseline host has no figure for the benchmark
========== ========== ==============================================================

``invalid`` means the comparison should not be read (the regression gate
exits 2 on it); ``confounded`` that it measures more than virtualization;
``suspect`` that the figure itself is doubtful. Host-level checks carry
``benchmark = ""`` and apply to every benchmark of the host.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from analysis.tidy import HOST_FACTS

SPREAD_CV = 0.05
COLUMNS = ["run", "host", "baseline", "benchmark", "check", "severity", "detail"]
SEVERITY_ORDER = ["invalid", "confounded", "suspect"]

# Facts compared between a host and its baseline (or a host and itself in another run).
FACT_CHECKS: list[tuple[str, str, str, str]] = [
    # fact column, check, severity within a run, severity across runs
    ("binary_sha256", "binary", "invalid", "invalid"),
    ("machine", "machine", "invalid", "invalid"),
    ("cpu_model_name", "cpu-model", "confounded", "invalid"),
    ("kernel", "kernel", "confounded", "confounded"),
    ("mitigations", "mitigations", "confounded", "confounded"),
    ("thp", "thp", "confounded", "confounded"),
    ("cpu_governor", "governor", "confounded", "confounded"),
    ("clocksource", "clocksource", "confounded", "confounded"),
]


def host_facts(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, host): the facts a comparison depends on (its first process's)."""
    cols = [c for c in HOST_FACTS if c in df.columns]
    facts = (
        df[["run", "host", "baseline", "virt_class", *cols]]
        .groupby(["run", "host"], observed=True, sort=True)
        .first()
        .astype(str)
    )
    return facts.reset_index().astype(str)


def _flag(
    run: str, host: str, baseline: str, benchmark: str, check: str, severity: str, detail: str
) -> dict[str, str]:
    return {
        "run": run,
        "host": host,
        "baseline": baseline,
        "benchmark": benchmark,
        "check": check,
        "severity": severity,
        "detail": detail,
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts (for loops that build findings)."""
    return cast("list[dict[str, Any]]", frame.to_dict(orient="records"))


def differing_items(a: str, b: str) -> tuple[str, str]:
    """For lists such as the mitigations ("x | y | z"), only the items that differ."""
    items_a, items_b = a.split(" | "), b.split(" | ")
    if len(items_a) == 1 and len(items_b) == 1:
        return a, b
    only_a = [i for i in items_a if i not in items_b] or ["(nothing more)"]
    only_b = [i for i in items_b if i not in items_a] or ["(nothing more)"]
    return " | ".join(only_a), " | ".join(only_b)


def _fact_flags(
    a: dict[str, Any], b: dict[str, Any], across_runs: bool, run: str, host: str, other: str
) -> list[dict[str, str]]:
    flags = []
    for column, check, within, across in FACT_CHECKS:
        mine, theirs = str(a.get(column, "")), str(b.get(column, ""))
        if mine and theirs and mine != theirs:  # unknown is no difference
            mine, theirs = differing_items(mine, theirs)
            severity = across if across_runs else within
            detail = f"{column}: {mine} against {theirs} ({other})"
            flags.append(_flag(run, host, other, "", check, severity, detail))
    return flags


def measurement_flags(df: pd.DataFrame, summary: pd.DataFrame) -> list[dict[str, str]]:
    """Per (run, host, benchmark): clock, steal, spread."""
    flags: list[dict[str, str]] = []
    per = (
        df[["run", "host", "benchmark", "baseline", "clock_skew_s", "steal_ticks"]]
        .assign(clock_bad=(df["clock_check"] != "ok").to_numpy())
        .groupby(["run", "host", "benchmark"], observed=True, sort=True)
        .agg(
            baseline=("baseline", "first"),
            clock_bad=("clock_bad", "sum"),
            skew=("clock_skew_s", "max"),
            steal=("steal_ticks", "max"),
        )
        .reset_index()
    )
    for r in records(per):
        where = (str(r["run"]), str(r["host"]), str(r["baseline"]), str(r["benchmark"]))
        if r["clock_bad"]:
            detail = f"host clock up to {r['skew']:.3g} s outside the controller's window"
            flags.append(_flag(*where, "clock", "suspect", detail))
        if r["steal"] > 0:
            detail = f"up to {int(r['steal'])} ticks of steal time in a process"
            flags.append(_flag(*where, "steal", "suspect", detail))
    for r in records(summary):
        if r["cv"] > SPREAD_CV:
            where = (str(r["run"]), str(r["host"]), str(r["baseline"]), str(r["benchmark"]))
            detail = f"cv {r['cv']:.1%} of the per-process medians (limit {SPREAD_CV:.0%})"
            flags.append(_flag(*where, "spread", "suspect", detail))
    return flags


def validity(df: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Every finding for every host of every run, against its baseline in the same run."""
    flags = measurement_flags(df, summary)
    facts = {(r["run"], r["host"]): r for r in records(host_facts(df))}
    measured: dict[tuple[str, str], set[str]] = {}
    for run, host, bench in zip(summary["run"], summary["host"], summary["benchmark"], strict=True):
        measured.setdefault((str(run), str(host)), set()).add(str(bench))
    for (run, host), row in facts.items():
        base = row["baseline"]
        warning = row.get("virt_class_warning", "")
        declared, detected = row.get("virt_class_declared", ""), row.get("virt_class_detected", "")
        if warning or (declared and detected and declared != detected):
            detail = warning or f"declared {declared}, probe found {detected}"
            flags.append(_flag(run, host, base, "", "probe", "suspect", detail))
        if not base or base == host:
            continue
        if (run, base) not in facts:
            detail = f"baseline {base} not in run"
            flags.append(_flag(run, host, base, "", "baseline", "invalid", detail))
            continue
        flags += _fact_flags(row, facts[(run, base)], False, run, host, base)
        missing = measured.get((run, host), set()) - measured.get((run, base), set())
        for bench in sorted(missing):
            detail = f"{base} has no {bench}"
            flags.append(_flag(run, host, base, bench, "baseline", "invalid", detail))
    return pd.DataFrame(flags, columns=COLUMNS)


def across_runs(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """Findings comparing each host of run B with the same host in run A.

    ``run`` is B's run id and ``baseline`` A's, so the frame reads like
    :func:`validity`'s. A host missing from either run is flagged ``invalid``.
    """
    facts_a = {r["host"]: r for r in records(host_facts(df_a))}
    facts_b = {r["host"]: r for r in records(host_facts(df_b))}
    run_a = next((r["run"] for r in facts_a.values()), "?")
    run_b = next((r["run"] for r in facts_b.values()), "?")
    flags: list[dict[str, str]] = []
    for host in sorted(set(facts_a) | set(facts_b)):
        if host not in facts_b:
            flags.append(_flag(run_b, host, run_a, "", "host", "invalid", f"not in {run_b}"))
        elif host not in facts_a:
            flags.append(_flag(run_b, host, run_a, "", "host", "invalid", f"not in {run_a}"))
        else:
            flags += _fact_flags(facts_b[host], facts_a[host], True, run_b, host, run_a)
    return pd.DataFrame(flags, columns=COLUMNS)


def flags_by_row(flags: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """For each (run, host, benchmark) of ``rows``, the comma-joined checks that concern it:
    the host's, the benchmark's, and the baseline's own findings on the benchmark as
    ``check@baseline``."""
    host_level: dict[tuple[str, str], list[str]] = {}
    bench_level: dict[tuple[str, str, str], list[str]] = {}
    for f in records(flags):
        if f["benchmark"]:
            bench_level.setdefault((f["run"], f["host"], f["benchmark"]), []).append(f["check"])
        else:
            host_level.setdefault((f["run"], f["host"]), []).append(f["check"])
    out = []
    for r in records(rows[["run", "host", "baseline", "benchmark"]].astype(str)):
        key = (r["run"], r["host"], r["benchmark"])
        checks = host_level.get((r["run"], r["host"]), []) + bench_level.get(key, [])
        if r["baseline"]:
            theirs = bench_level.get((r["run"], r["baseline"], r["benchmark"]), [])
            checks += [f"{c}@{r['baseline']}" for c in theirs]
        out.append(",".join(dict.fromkeys(checks)))
    return pd.Series(out, index=rows.index, dtype=str)


def worst(flags: pd.DataFrame) -> str:
    """The most severe severity present, or "" for none."""
    present = set(flags["severity"]) if not flags.empty else set()
    return next((s for s in SEVERITY_ORDER if s in present), "")
