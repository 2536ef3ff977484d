"""Keep the controller's own work off the CPU its hosts measure on, when the inventory asks.

The lab measures its guests on one CPU of this machine and writes
``controller_cpus`` (the others) into its inventory (:mod:`runners.lab.placement`).
While a run measures such hosts, every thread of this process (the SSH
transports, the progress display, the pipeline's) is kept to those CPUs, and
given back its CPUs afterwards. It is said, never silent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ringbench.progress import Progress
from runners.inventory import Host


def _threads() -> list[int]:
    return [int(t.name) for t in Path("/proc/self/task").iterdir() if t.name.isdigit()]


def _set(cpus: set[int]) -> None:
    for tid in _threads():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def controller_kept_to(hosts: Sequence[Host], progress: Progress) -> Iterator[set[int] | None]:
    """Within the block, this process runs on the CPUs the hosts' ``controller_cpus`` name
    (those of them it may use); yields them, or None when nothing was changed."""
    wanted = {c for h in hosts for c in h.controller_cpus}
    try:
        before = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        yield None
        return
    target = wanted & before
    if not wanted or not target or target == before:
        yield None
        return
    _set(target)
    shown = ",".join(map(str, sorted(target)))
    progress.message(f"controller kept to CPU {shown} while it measures (controller_cpus)")
    try:
        yield target
    finally:
        _set(before)
