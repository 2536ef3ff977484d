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
durability suspect    an I/O figure that must reach the device (``io-write-sync``:
                      fdatasync; ``io-direct-read``: O_DIRECT) of a host with its own
                      kernel is cheaper than its baseline's beyond its interval
========== ========== ==============================================================

``invalid`` means the comparison should not be read (the regression gate
exits 2 on it); ``confounded`` that it measures more than virtualization;
``suspect`` that the figure itself is doubtful. Host-level checks carry
``benchmark = ""`` and apply to every benchmark of the host.

``durability``: a block device layered on the baseline's disk (a virtio
disk, an emulated one, a UML ubd backed by a file) adds work to every
request that reaches the disk; it cannot be cheaper than that disk unless
it skips work. A synchronous write or a direct read that comes out cheaper
(the ratio's 95% interval below 1, :func:`durability_flags`) most likely
stopped in, or was served from, the host's page cache: the layer does not
honour fdatasync or O_DIRECT, and the figure is not the device path's cost.
``io-pread`` is left out: it is served by the guest's own page cache by
design. Assumes the layer's disk is backed by the storage the baseline
measures on (the lab's images lie on the machine's disk, as the baseline's
``--dir`` does); a guest whose image lies on faster storage is flagged too,
and its figure is no overhead either. The check concerns hosts with a kernel of their own
(``paravirtualized``, ``binary-translation``, ``hardware-assisted``, and an
``application-kernel``: :data:`OWN_KERNEL_CLASSES`), and
only when the results show that the host is not its baseline's own system
reached another way: another kernel release, another stack of
``virt_layers`` or another class than its baseline's. The class alone would
not do: where the bare host is itself a KVM guest (this project's CI
machines), the baseline is ``hardware-assisted`` too, and a host that is
that same system reached through another sshd (as the tests do) has the
same kernel and the same disk. A nested guest that boots its
baseline's very kernel release and shows the same layers is not told apart,
and not checked.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from analysis.stats import Bootstrap, bootstrap, paired_ratio_columns
from analysis.tidy import HOST_FACTS

SPREAD_CV = 0.05
COLUMNS = ["run", "host", "baseline", "benchmark", "check", "severity", "detail"]
SEVERITY_ORDER = ["invalid", "confounded", "suspect"]

# The I/O figures that must reach the device, what makes them do so, and what a layer
# that does not honour it does instead (the ``durability`` check).
DURABLE_IO: dict[str, tuple[str, str]] = {
    "io-write-sync": ("fdatasync", "its writes may stop in the host's page cache"),
    "io-direct-read": ("O_DIRECT", "its reads may be served from the host's page cache"),
}
# Classes whose host runs a kernel of its own above a block device of the layer's. An
# application kernel is one: gVisor's Sentry serves the workload's file system calls from
# its own VFS and page cache (its gofer writes to the host's files; with runsc --overlay,
# to an upper layer in memory), so its fdatasync or O_DIRECT reaches the disk only as far
# as the Sentry passes it on; one that comes out cheaper than the disk is the same
# finding as a guest's.
OWN_KERNEL_CLASSES = frozenset(
    {"paravirtualized", "binary-translation", "hardware-assisted", "application-kernel"}
)
# The probe's runtime facts (issue 16), carried by host_facts where a frame has them: not
# compared (they are what a container's comparison measures), read by the calibration.
RUNTIME_FACTS = ("seccomp_mode", "seccomp_filters", "container_engine", "oci_runtime")

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
    """One row per (run, host): the facts a comparison depends on (its first process's),
    and the :data:`RUNTIME_FACTS` the frame has."""
    cols = [c for c in dict.fromkeys([*HOST_FACTS, *RUNTIME_FACTS]) if c in df.columns]
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


def _known_different(a: dict[str, Any], b: dict[str, Any], column: str) -> bool:
    mine, theirs = str(a.get(column, "") or ""), str(b.get(column, "") or "")
    return bool(mine and theirs and mine != theirs)


def own_kernel(host: dict[str, Any], base: dict[str, Any]) -> bool:
    """Whether the host runs a kernel of its own, not its baseline's system reached
    another way: a class with its own kernel, and another kernel release, stack of
    layers or class than the baseline's (module docstring, ``durability``)."""
    if str(host.get("virt_class", "")) not in OWN_KERNEL_CLASSES:
        return False
    return any(_known_different(host, base, c) for c in ("kernel", "virt_layers", "virt_class"))


def _digits(ratio: float) -> str:
    """Three significant digits, as the overhead table shows a ratio, zeros kept: ``0.830``."""
    return f"{ratio:#.3g}"


def durability_flags(
    df: pd.DataFrame,
    pairs: list[tuple[str, str, str, str]],
    boot: Bootstrap | None = None,
) -> list[dict[str, str]]:
    """``durability`` findings: the device-bound I/O figures cheaper than their baseline's.

    Method: the ratio host / baseline of each pair with its 95% percentile
    interval, from the two groups' bootstrap replicates exactly as
    :func:`analysis.overhead` computes it; a pair whose whole interval lies
    below 1 is flagged (a layered device cannot beat the disk beneath it
    without skipping work: module docstring). Only the interval counts, so a
    figure within the noise of its baseline's is not flagged.

    Parameters
    ----------
    df
        The tidy frame.
    pairs
        (run, host, baseline, benchmark) to check, benchmarks of :data:`DURABLE_IO`,
        hosts for which :func:`own_kernel` holds.
    boot
        The bootstrap of ``df``, if at hand. Without it only the pairs' groups
        are bootstrapped: replicates are seeded per group, so they are the ones
        a bootstrap of the whole frame draws.

    Returns
    -------
    list of dict
        Findings in the shape of :data:`COLUMNS`, severity ``suspect``.
    """
    if not pairs:
        return []
    if boot is None:
        hosts = {h for _, h, _, _ in pairs} | {b for _, _, b, _ in pairs}
        runs = {r for r, _, _, _ in pairs}
        benches = {bench for _, _, _, bench in pairs}
        mask = df["run"].isin(runs) & df["host"].isin(hosts) & df["benchmark"].isin(benches)
        boot = bootstrap(df[mask.to_numpy()])
    index = boot.lookup()
    pairs = [p for p in pairs if (p[0], p[1], p[3]) in index and (p[0], p[2], p[3]) in index]
    if not pairs:
        return []
    num = [index[(run, host, bench)] for run, host, _, bench in pairs]
    den = [index[(run, base, bench)] for run, _, base, bench in pairs]
    cols = paired_ratio_columns(boot, num, den)
    flags = []
    for (run, host, base, bench), r in zip(pairs, records(cols), strict=True):
        if not r["ratio_high"] < 1:
            continue
        call, instead = DURABLE_IO[bench]
        ratio = f"x{_digits(r['ratio'])} [{_digits(r['ratio_low'])}-{_digits(r['ratio_high'])}]"
        detail = (
            f"{ratio} of {base}: cheaper than the disk beneath it; "
            f"the layer may not honour {call} ({instead})"
        )
        flags.append(_flag(run, host, base, bench, "durability", "suspect", detail))
    return flags


def validity(
    df: pd.DataFrame, summary: pd.DataFrame, boot: Bootstrap | None = None
) -> pd.DataFrame:
    """Every finding for every host of every run, against its baseline in the same run.

    ``boot`` (the bootstrap of ``df``, as :func:`analysis.overhead` uses) saves
    the ``durability`` check drawing its own replicates; the findings are the
    same with or without it.
    """
    flags = measurement_flags(df, summary)
    durable: list[tuple[str, str, str, str]] = []
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
        if own_kernel(row, facts[(run, base)]):
            both = measured.get((run, host), set()) & measured.get((run, base), set())
            durable += [(run, host, base, bench) for bench in sorted(both & set(DURABLE_IO))]
    flags += durability_flags(df, durable, boot)
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
