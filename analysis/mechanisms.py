"""What one ring transition, VM exit, MMU fault, device request, switch and page walk cost.

Each benchmark of the catalog isolates one mechanism as far as one program
can; a few mechanisms show only as a difference of two benchmarks. The
decomposition, per environment and against its baseline:

``ring transition`` = ``syscall-null``
    One user-to-kernel-to-user round trip: getppid() does no work beyond
    entry and exit. Assumes the entry path is what virtualization changes
    (under paravirtualization such as User-Mode Linux it is a trip through
    the host kernel and a ptrace stop; under hardware assist it stays in the
    guest and costs what it costs natively).

``VM exit (cpuid)`` = ``trap-cpuid``
    One CPUID. Under VT-x/AMD-V CPUID exits to the hypervisor unconditionally,
    so the figure is the cost of one exit and return; under binary
    translation it is emulated inline by the translator (no exit, often
    cheaper than on hardware); in a container it runs as on the host. On a
    "bare" baseline that is itself a guest (this project's CI machines are
    KVM guests) the baseline already pays an exit, so the added cost reads
    as the exit's cost in the nested layer only.

``rdtsc`` = ``trap-rdtsc``
    One RDTSC: exits only where the hypervisor intercepts it (KVM does not,
    with TSC offsetting); emulated under binary translation.

``MMU share of a page fault`` = ``fault-anon`` - ``syscall-null``
    A minor fault on a fresh anonymous page less one kernel entry: what
    remains is the fault's handling, mostly the page table update and its
    virtualization (shadow page tables under binary translation, a
    two-dimensional walk under nested paging). Assumes a fault's entry costs
    what a system call's entry costs, which holds natively to within tens of
    nanoseconds (both are a ring transition) but is an approximation where
    the exception path differs (User-Mode Linux delivers a fault as a signal).

``emulated device request`` = ``io-direct-read`` - ``io-pread``
    An O_DIRECT 4 KiB read (it reaches the block device: virtio, an
    emulated disk, or the host's page cache behind a UML ubd) less a 4 KiB
    read served by the guest's own page cache, which has the same system
    call, copy and file lookup. Assumes the file system work of the two
    reads is the same; the direct read's random offsets miss any device
    cache the host keeps in front of the image less often than a real disk
    would, so this is the device path's software cost, not a disk's latency.

``scheduling round trip`` = ``sched-pipe-1cpu``
    A 1-byte pipe ping-pong between two processes on one CPU: two context
    switches, two writes and two reads. Not subtracted: the switch and the
    pipe's system calls are both what a scheduler-bound workload pays.

``two-dimensional page walk`` = ``mem-chase-4k`` - ``mem-chase-huge``
    A dependent load that misses the TLB on a 4 KiB page, less the same load
    on a buffer of 2 MiB pages (far fewer TLB misses): the cost of the page
    walk. Under nested paging a guest walk is two-dimensional (up to 24
    memory references instead of 4); under shadow paging it is one
    dimensional again. Assumes the huge-page chase misses the TLB rarely,
    and that the host backs the guest's memory the same way in both; the
    host may promote its own backing to huge pages during a run (README,
    "Reading the figures").

Three more mechanisms are differences between two hosts of the run, on
``syscall-null``, and have a row only for the hosts they apply to (the
tidy columns ``seccomp_filters`` and ``container_engine``, from the probe; a
column an older run lacks is unknown). The row's ``baseline`` names the host
the cost is measured against, ``part_ns`` is that host's figure and ``ratio``
host / that host:

``seccomp filter`` = ``syscall-null`` - the same on its *twin*
    For a host whose process runs seccomp filters (``seccomp_filters`` > 0:
    Podman's default profile), its twin is a host of the same run, class,
    baseline and known ``container_engine`` (its ``oci_runtime`` not another
    one) that runs none (``seccomp_filters`` = 0: the same container with
    ``seccomp=unconfined``). The same runtime, image, namespaces,
    capabilities and cgroups on the same kernel: what differs is the filter,
    run on every system call before the call itself. Holds as far as the
    twins differ only so; an LSM profile or a placement of one and not the
    other breaks it. The cost is the filter's path for getppid: the kernel's
    verdict cache (Linux 5.11 and later) skips the BPF program only for a
    call whose verdict no loaded filter reads arguments for, and a call the
    profile lists late in its rules pays more, so other calls cost other
    figures. No twin in the run: no figure, and the note says so.

``container namespaces`` = ``syscall-null`` - its baseline's
    For a container without a filter (``seccomp_filters`` = 0, or unknown
    for a namespaces host of no known engine, such as the lab's
    ``unshare`` container): unconfined Podman, or the namespaces host, less
    native. Expected about 0: a namespace is no trap (the call enters the
    same kernel the same way; a PID namespace only translates the number it
    returns), and cgroup accounting is not on the system call path (memory
    is charged when it is allocated, CPU time at scheduler events). A
    resolved difference points at something else: a filter or audit rule the
    probe did not count, another CPU placement.

``system-call interception`` = ``syscall-null`` - its baseline's
    For an application kernel (gVisor's Sentry) less its baseline (native):
    the interception by its platform (ptrace: the traced workload stops and
    resumes, two host context switches to the Sentry and back; systrap: a
    seccomp trap served in the workload's own stub signal handler, handed to
    the Sentry through shared memory; KVM: a switch from the workload's
    guest ring 3 into the Sentry's guest ring 0, no VM exit, two CR3
    switches) plus the Sentry's own getppid. Holds for a call the Sentry
    serves itself; one it forwards to the host kernel or its gofer costs
    more, one the vDSO serves (clock_gettime) costs about nothing.

Uncertainty: each difference is taken replicate by replicate from the
bootstrap of :mod:`analysis.stats` (the two benchmarks ran in different
processes, so their replicates are independent), and so is every
comparison with the baseline; the intervals are percentile intervals of
those differences and ratios. A ratio is given only where the baseline's
cost is resolved above zero (always, for the differences between two
hosts: both figures are times of a whole system call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats import Bootstrap, FloatArray, bootstrap, interval, paired_ratio_columns


@dataclass(frozen=True)
class Mechanism:
    name: str
    what: str
    minuend: str
    subtrahend: str | None = None


MECHANISMS = [
    Mechanism("ring transition", "one null system call (getppid)", "syscall-null"),
    Mechanism("VM exit (cpuid)", "one CPUID: an exit under hardware assist", "trap-cpuid"),
    Mechanism("rdtsc", "one RDTSC: an exit only where intercepted", "trap-rdtsc"),
    Mechanism(
        "MMU share of a page fault",
        "anonymous minor fault less one kernel entry",
        "fault-anon",
        "syscall-null",
    ),
    Mechanism(
        "emulated device request",
        "O_DIRECT 4 KiB read less a page-cache 4 KiB read",
        "io-direct-read",
        "io-pread",
    ),
    Mechanism(
        "scheduling round trip", "pipe ping-pong on one CPU: two switches", "sched-pipe-1cpu"
    ),
    Mechanism(
        "two-dimensional page walk",
        "4 KiB-page pointer chase less the 2 MiB-page chase",
        "mem-chase-4k",
        "mem-chase-huge",
    ),
]

SYSCALL = "syscall-null"
CONTAINER = "container"
APPLICATION_KERNEL = "application-kernel"
SECCOMP_FILTER = "seccomp filter"
NAMESPACES = "container namespaces"
INTERCEPTION = "system-call interception"


@dataclass(frozen=True)
class Between:
    """A mechanism measured as one host's ``syscall-null`` less another host's."""

    name: str
    what: str
    against: str  # what the other host is to this one: "twin" or "baseline"

    @property
    def subtrahend(self) -> str:
        return f"{SYSCALL} ({self.against})"


FILTER = Between(
    SECCOMP_FILTER, "the seccomp profile on one null system call, less its twin", "twin"
)
SPACES = Between(
    NAMESPACES, "one null system call in a container without a filter, less native", "baseline"
)
SENTRY = Between(
    INTERCEPTION, "one null system call under an application kernel, less native", "baseline"
)
BETWEEN = [FILTER, SPACES, SENTRY]
# The mechanisms whose cost is a difference between two hosts (their row's ``baseline``
# names the other host).
BETWEEN_HOSTS = frozenset(b.name for b in BETWEEN)

COLUMNS = [
    "run",
    "host",
    "virt_class",
    "baseline",
    "mechanism",
    "what",
    "minuend",
    "subtrahend",
    "total_ns",
    "part_ns",
    "cost_ns",
    "cost_low_ns",
    "cost_high_ns",
    "baseline_ns",
    "baseline_low_ns",
    "baseline_high_ns",
    "added_ns",
    "added_low_ns",
    "added_high_ns",
    "ratio",
    "ratio_low",
    "ratio_high",
    "note",
]


def _cost(
    boot: Bootstrap, index: dict[tuple[str, str, str], int], run: str, host: str, m: Mechanism
) -> tuple[float, float, FloatArray] | str:
    """(total, subtracted part, cost replicates) in seconds, or why there is none."""
    names = [m.minuend] + ([m.subtrahend] if m.subtrahend else [])
    missing = [n for n in names if (run, host, n) not in index]
    if missing:
        return f"{', '.join(missing)} not measured"
    top = index[(run, host, m.minuend)]
    total, reps = float(boot.point[top]), boot.replicates[top]
    part = 0.0
    if m.subtrahend:
        sub = index[(run, host, m.subtrahend)]
        part = float(boot.point[sub])
        reps = reps - boot.replicates[sub]
    return total, part, reps


@dataclass(frozen=True)
class _Host:
    """What the runtime mechanisms need of one host of a run (NaN or "" when unknown)."""

    run: str
    name: str
    virt_class: str
    baseline: str  # "" for none
    filters: float  # seccomp filters of the harness's shell
    engine: str
    oci_runtime: str


def _text(column: pd.Series) -> list[str]:
    return ["" if pd.isna(v) else str(v) for v in column.astype(object)]


RUNTIME_TEXT = ("container_engine", "oci_runtime")


def _runtime_hosts(keys: pd.DataFrame) -> list[_Host]:
    """One per (run, host); the probe's columns an older frame lacks are unknown."""
    first = keys.drop_duplicates(["run", "host"]).reset_index(drop=True)
    n = len(first)
    filters = np.full(n, np.nan)
    if "seccomp_filters" in first.columns:
        numbers = pd.to_numeric(pd.Series(_text(first["seccomp_filters"])), errors="coerce")
        filters = numbers.to_numpy(dtype=np.float64)
    text = {c: _text(first[c]) if c in first.columns else [""] * n for c in RUNTIME_TEXT}
    runs, names = _text(first["run"]), _text(first["host"])
    classes, baselines = _text(first["virt_class"]), _text(first["baseline"])
    return [
        _Host(
            run=runs[i],
            name=names[i],
            virt_class=classes[i],
            baseline="" if baselines[i] == names[i] else baselines[i],
            filters=float(filters[i]),
            engine=text["container_engine"][i],
            oci_runtime=text["oci_runtime"][i],
        )
        for i in range(n)
    ]


def _applies(h: _Host) -> list[Between]:
    """The runtime mechanisms of one host (module docstring)."""
    out = []
    if h.filters > 0:
        out.append(FILTER)
    unfiltered = h.filters == 0 or (math.isnan(h.filters) and not h.engine)
    if h.virt_class == CONTAINER and unfiltered:
        out.append(SPACES)
    if h.virt_class == APPLICATION_KERNEL:
        out.append(SENTRY)
    return out


def _twins(h: _Host, hosts: list[_Host]) -> list[str]:
    """The hosts of ``h``'s run that are ``h`` without its seccomp filter, by name."""
    return sorted(
        c.name
        for c in hosts
        if c.run == h.run
        and c.name != h.name
        and c.virt_class == h.virt_class
        and c.baseline == h.baseline
        and bool(h.engine)
        and c.engine == h.engine
        and c.filters == 0
        and not (h.oci_runtime and c.oci_runtime and h.oci_runtime != c.oci_runtime)
    )


def _other(h: _Host, m: Between, hosts: list[_Host]) -> tuple[str, str]:
    """(the host ``h`` is measured against or "", the note: why none, or which of several)."""
    if m.against == "baseline":
        return (h.baseline, "") if h.baseline else ("", "no baseline")
    twins = _twins(h, hosts)
    if not twins:
        if not h.engine:
            return "", "no twin: its container engine is not known"
        return "", (
            f"no twin: no {h.virt_class} host of engine {h.engine} with baseline "
            f"{h.baseline or '(none)'} runs without a seccomp filter in this run"
        )
    return twins[0], "" if len(twins) == 1 else f"twin {twins[0]}, first of {', '.join(twins)}"


def _between_row(
    boot: Bootstrap,
    index: dict[tuple[str, str, str], int],
    h: _Host,
    m: Between,
    other: str,
    note: str,
) -> dict[str, object]:
    """One host's row of a mechanism measured against another host (``other``)."""
    row: dict[str, object] = {
        "run": h.run,
        "host": h.name,
        "virt_class": h.virt_class,
        "baseline": other,
        "mechanism": m.name,
        "what": m.what,
        "minuend": SYSCALL,
        "subtrahend": m.subtrahend,
        "note": note,
    }
    if not other:
        return row
    if (h.run, h.name, SYSCALL) not in index:
        return row | {"note": f"{SYSCALL} not measured"}
    if (h.run, other, SYSCALL) not in index:
        return row | {"note": f"{m.against} {other}: {SYSCALL} not measured"}
    mine, theirs = index[(h.run, h.name, SYSCALL)], index[(h.run, other, SYSCALL)]
    total, part = float(boot.point[mine]), float(boot.point[theirs])
    b_low, b_high = interval(boot.replicates[theirs])
    # the two hosts took turns in one run: cost and ratio from their process pairs, as the
    # overhead table has them (analysis.stats.paired_ratio_columns)
    pair = paired_ratio_columns(boot, [mine], [theirs]).iloc[0]
    resolved = "" if pair["added_low_ns"] > 0 else "difference not resolved above zero"
    return row | {
        "total_ns": total * 1e9,
        "part_ns": part * 1e9,
        "cost_ns": float(pair["added_ns"]),
        "cost_low_ns": float(pair["added_low_ns"]),
        "cost_high_ns": float(pair["added_high_ns"]),
        "baseline_ns": part * 1e9,
        "baseline_low_ns": float(b_low) * 1e9,
        "baseline_high_ns": float(b_high) * 1e9,
        "added_ns": float(pair["added_ns"]),
        "added_low_ns": float(pair["added_low_ns"]),
        "added_high_ns": float(pair["added_high_ns"]),
        "ratio": float(pair["ratio"]),
        "ratio_low": float(pair["ratio_low"]),
        "ratio_high": float(pair["ratio_high"]),
        "note": "; ".join(n for n in (note, resolved) if n),
    }


def _runtime_rows(
    boot: Bootstrap, index: dict[tuple[str, str, str], int]
) -> list[dict[str, object]]:
    hosts = _runtime_hosts(boot.keys)
    rows = []
    for h in hosts:
        for m in _applies(h):
            other, note = _other(h, m, hosts)
            rows.append(_between_row(boot, index, h, m, other, note))
    return rows


def mechanisms(df: pd.DataFrame, boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per (run, host, mechanism); ``*_ns`` per operation, intervals at 95%.

    ``total_ns`` is the minuend's figure and ``part_ns`` the subtracted
    benchmark's (0 when nothing is subtracted): ``cost_ns = total_ns - part_ns``
    (the stacked figure draws them), except in the rows of :data:`BETWEEN`,
    whose cost is the median of the two hosts' process pairs' differences (as
    the overhead table's ``added_ns``), within a few percent of that
    difference. ``baseline_*`` and the comparison columns
    are NaN for a host without a baseline; ``note`` says why a row has no
    figure or where the difference is not resolved. The mechanisms of
    :data:`BETWEEN` have rows only for the hosts they apply to, after a host's
    others; their ``baseline`` names the host they are measured against
    (module docstring).
    """
    boot = boot or bootstrap(df)
    index = boot.lookup()
    hosts = (
        boot.keys[["run", "host", "virt_class", "baseline"]]
        .astype(str)
        .drop_duplicates(["run", "host"])
        .itertuples(index=False)
    )
    rows = []
    for run, host, virt_class, baseline in hosts:
        for m in MECHANISMS:
            row: dict[str, object] = {
                "run": run,
                "host": host,
                "virt_class": virt_class,
                "baseline": baseline if baseline != host else "",
                "mechanism": m.name,
                "what": m.what,
                "minuend": m.minuend,
                "subtrahend": m.subtrahend or "",
            }
            rows.append(row)
            mine = _cost(boot, index, run, host, m)
            if isinstance(mine, str):
                row["note"] = mine
                continue
            total, part, reps = mine
            low, high = interval(reps)
            row |= {
                "total_ns": total * 1e9,
                "part_ns": part * 1e9,
                "cost_ns": (total - part) * 1e9,
                "cost_low_ns": float(low) * 1e9,
                "cost_high_ns": float(high) * 1e9,
                "note": "" if low > 0 else "difference not resolved above zero",
            }
            if not row["baseline"]:
                continue
            theirs = _cost(boot, index, run, baseline, m)
            if isinstance(theirs, str):
                row["note"] = f"baseline: {theirs}"
                continue
            b_total, b_part, b_reps = theirs
            b_low, b_high = interval(b_reps)
            a_low, a_high = interval(reps - b_reps)
            row |= {
                "baseline_ns": (b_total - b_part) * 1e9,
                "baseline_low_ns": float(b_low) * 1e9,
                "baseline_high_ns": float(b_high) * 1e9,
                "added_ns": ((total - part) - (b_total - b_part)) * 1e9,
                "added_low_ns": float(a_low) * 1e9,
                "added_high_ns": float(a_high) * 1e9,
            }
            if b_low > 0 and low > 0:
                r_low, r_high = interval(reps / b_reps)
                row |= {
                    "ratio": (total - part) / (b_total - b_part),
                    "ratio_low": float(r_low),
                    "ratio_high": float(r_high),
                }
    rows += _runtime_rows(boot, index)
    first = {key: i for i, key in enumerate(dict.fromkeys((r["run"], r["host"]) for r in rows))}
    rows.sort(key=lambda r: first[(r["run"], r["host"])])  # stable: a host's rows together
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in COLUMNS:
        if column.endswith("_ns") or column.startswith("ratio"):
            frame[column] = frame[column].astype(np.float64)
    frame["note"] = frame["note"].fillna("")
    return frame
