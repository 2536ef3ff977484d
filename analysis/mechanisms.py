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

Uncertainty: each difference is taken replicate by replicate from the
bootstrap of :mod:`analysis.stats` (the two benchmarks ran in different
processes, so their replicates are independent), and so is every
comparison with the baseline; the intervals are percentile intervals of
those differences and ratios. A ratio is given only where the baseline's
cost is resolved above zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats import Bootstrap, FloatArray, bootstrap, interval


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


def mechanisms(df: pd.DataFrame, boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per (run, host, mechanism); ``*_ns`` per operation, intervals at 95%.

    ``total_ns`` is the minuend's figure and ``part_ns`` the subtracted
    benchmark's (0 when nothing is subtracted): ``cost_ns = total_ns - part_ns``
    (the stacked figure draws them). ``baseline_*`` and the comparison columns
    are NaN for a host without a baseline; ``note`` says why a row has no
    figure or where the difference is not resolved.
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
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in COLUMNS:
        if column.endswith("_ns") or column.startswith("ratio"):
            frame[column] = frame[column].astype(np.float64)
    frame["note"] = frame["note"].fillna("")
    return frame
