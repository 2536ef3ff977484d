"""Where the lab's guests run on this machine's CPUs: pinned, by default, and why.

Left to the scheduler, a guest's host-side processes float between CPUs, and
its figures depend on where they land, not on the layer: User-Mode Linux's
null system call read 107-112 us with its processes free to float over this
machine's two CPUs and 17-23 us with every one of them on one CPU (LAB.md,
"Where guests run"), as each ptrace stop that crosses CPUs wakes a process on
another core. So the lab places them (:class:`Placement`):

- the *measuring CPU* (the machine's last, as ``--cpu auto`` picks inside a
  host): every process of the User-Mode Linux guest (the kernel process and
  every process it forks, which inherit the affinity), QEMU's vCPU thread;
  the harness on the native host and in the container pins its measuring
  process there itself (``harness_cpu``);
- the *helper CPUs* (the others): QEMU's main loop, I/O and RCU threads, and
  the controller itself (``controller_cpus``: ``ringbench run`` keeps its own
  work, SSH included, off the measuring CPU while it measures the lab).

On a machine of one CPU everything shares it. ``lab up --placement float``
leaves placement to the scheduler (to measure what pinning changes:
``benchmarks/lab_placement.py``), ``--placement MEASURE:HELPERS`` (e.g.
``0:1``) chooses other CPUs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringbench.errors import UserError
from runners.inventory import parse_cpus
from runners.lab.procs import with_descendants

VCPU_WAIT_S = 15.0
# How the guests' disks are backed (``lab up --disks``), and what each says in the inventory.
DISKS = {
    "cached": (
        "writes stop in this machine's page cache: UML's ubd without O_SYNC, QEMU "
        "cache=writeback (a guest's fsync is passed on, its O_DIRECT is not)"
    ),
    "durable": (
        "writes reach the disk: UML's ubd with O_SYNC (ubd0s), QEMU cache=none "
        "(O_DIRECT on this machine, a guest's fsync passed on)"
    ),
}
POLL_S = 0.05


def online_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on."""
    return tuple(sorted(os.sched_getaffinity(0)))


@dataclass(frozen=True, slots=True)
class Placement:
    """The measuring CPU and the helper CPUs; ``measure`` None leaves it all to the scheduler."""

    measure: int | None
    helpers: tuple[int, ...] = ()

    @classmethod
    def default(cls) -> Placement:
        cpus = online_cpus()
        measure = cpus[-1]
        return cls(measure, tuple(c for c in cpus if c != measure) or (measure,))

    @classmethod
    def parse(cls, text: str) -> Placement:
        """``pinned`` (the default), ``float``, or ``MEASURE:HELPERS`` (``1:0``, ``3:0-2``)."""
        if text == "pinned":
            return cls.default()
        if text == "float":
            return cls(None)
        measure, sep, helpers = text.partition(":")
        try:
            chosen = parse_cpus(measure)
            others = parse_cpus(helpers) if sep else ()
        except ValueError as exc:
            raise UserError(f"--placement {text!r}: {exc}") from None
        cpus = set(online_cpus())
        if len(chosen) != 1 or not {*chosen, *others} <= cpus:
            raise UserError(
                f"--placement {text!r}: write pinned, float or MEASURE:HELPERS with one "
                f"measuring CPU, all among this machine's CPUs "
                f"({','.join(map(str, sorted(cpus)))})"
            )
        rest = others or tuple(sorted(cpus - set(chosen))) or chosen
        return cls(chosen[0], rest)

    @property
    def pinned(self) -> bool:
        return self.measure is not None

    def to_json(self) -> dict[str, Any]:
        return {"measure": self.measure, "helpers": list(self.helpers)}

    @classmethod
    def from_json(cls, data: object) -> Placement:
        if not isinstance(data, dict):
            return cls.default()
        measure = data.get("measure")
        helpers = data.get("helpers") or []
        return cls(measure if isinstance(measure, int) else None, tuple(map(int, helpers)))

    def describe(self) -> str:
        if self.measure is None:
            return "floating: the scheduler places every process"
        return f"measuring CPU {self.measure}, helpers on CPU {_cpus(self.helpers)}"

    def guest_prefix(self) -> list[str]:
        """What a guest whose every process measures starts under (User-Mode Linux)."""
        return ["taskset", "-c", str(self.measure)] if self.measure is not None else []

    def emulator_prefix(self) -> list[str]:
        """What QEMU starts under: its helper threads' CPUs (its vCPU is moved afterwards)."""
        return ["taskset", "-c", _cpus(self.helpers)] if self.measure is not None else []

    def host_description(self, kind: str) -> str:
        """The ``placement`` the inventory records for a host of ``kind``."""
        if self.measure is None:
            return "floating (no pinning)"
        if kind == "guest":
            return f"every host process of the guest on CPU {self.measure}"
        if kind == "emulator":
            return (
                f"vCPU thread on CPU {self.measure}, the emulator's other threads on "
                f"CPU {_cpus(self.helpers)}"
            )
        return f"harness on CPU {self.measure}, its partner processes free"


def _cpus(cpus: tuple[int, ...] | frozenset[int] | set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def _threads(pid: int) -> list[tuple[int, str]]:
    """(thread id, name) of every thread of ``pid``."""
    out = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out.append((int(task.name), (task / "comm").read_text().strip()))
    return out


def pin_vcpus(
    pid: int,
    placement: Placement,
    timeout_s: float = VCPU_WAIT_S,
    stop: threading.Event | None = None,
) -> int:
    """Move QEMU's vCPU threads (named ``CPU n/TCG`` or ``CPU n/KVM`` with
    ``-name ...,debug-threads=on``) to the measuring CPU, once they exist; how many.
    Gives up at once when ``stop`` is set (``lab up`` interrupted)."""
    if placement.measure is None:
        return 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        vcpus = [tid for tid, name in _threads(pid) if name.startswith("CPU ")]
        if vcpus:
            for tid in vcpus:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(tid, {placement.measure})
            return len(vcpus)
        if not Path(f"/proc/{pid}").exists():
            return 0
        if stop is not None:
            stop.wait(POLL_S)
        else:
            time.sleep(POLL_S)
    return 0


def where(pids: list[int]) -> str:
    """Where the processes and threads below ``pids`` may run now, e.g. ``9 threads on
    CPU 1`` or ``vCPU thread on CPU 1; 5 threads on CPU 0``: what ``lab status`` shows."""
    vcpu: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for pid in with_descendants(pids):
        for tid, name in _threads(pid):
            try:
                cpus = _cpus(os.sched_getaffinity(tid))
            except OSError:
                continue
            (vcpu if name.startswith("CPU ") and "/" in name else other)[cpus] += 1
    parts = [f"vCPU thread on CPU {c}" for c in vcpu]
    parts += [f"{n} thread{'s' if n > 1 else ''} on CPU {c}" for c, n in sorted(other.items())]
    return "; ".join(parts) or "-"


def place_running(kind: str, pids: list[int], placement: Placement) -> int:
    """Place the processes (and threads) below ``pids`` of a running host of ``kind``
    (``guest``: all on the measuring CPU; ``emulator``: the vCPU threads there, the rest on
    the helpers) as ``placement`` says, or free on every CPU when it floats; how many
    threads were placed. ``harness`` hosts place themselves (``harness_cpu``)."""
    every = set(online_cpus())
    placed = 0
    for pid in with_descendants(pids):
        for tid, name in _threads(pid):
            if placement.measure is None or kind not in ("guest", "emulator"):
                cpus = every
            elif kind == "guest" or name.startswith("CPU "):
                cpus = {placement.measure}
            else:
                cpus = set(placement.helpers)
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)
                placed += 1
    return placed
