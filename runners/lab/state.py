"""The lab's state file: every process, namespace, veth and tap it created, and clean-up.

The file is rewritten atomically each time the lab creates something, before
it is used, so that a lab killed at any point can be removed by the next
``lab up`` or ``lab down``.

Format history:

- 1: ``tag``, ``created``, ``processes`` (host, pid, start ticks, what),
  ``netns``, ``links`` (host-side veth names), ``hosts`` (one record each).
- 2: ``placement`` (the measuring and helper CPUs), each host's
  ``placement``. A state file of format 1 is still read (to remove its lab).
- 3: ``instance`` (the lab instance's name; the tag starts with it). Files of
  formats 1 and 2 are the default instance's.
- 4: ``containers`` (host, name and Podman store of each container the lab
  started: :mod:`runners.lab.engine`). Older files have none.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ringbench.files import atomic_write_json
from runners.lab import engine, net
from runners.lab.engine import ContainerRecord
from runners.lab.instance import DEFAULT, Instance
from runners.lab.procs import LabError, alive, kill_all, start_time, tagged, with_descendants

FORMAT_VERSION = 4
READABLE = (1, 2, 3, 4)


class LabHostState(StrEnum):
    """Where a lab host is; ``not answering`` is seen by ``lab status``, never stored."""

    PENDING = "pending"
    BOOTING = "booting"
    UP = "up"
    DOWN = "down"
    LEFT_OUT = "left-out"
    NOT_ANSWERING = "not answering"

    @property
    def fine(self) -> bool:
        """Up, or left out on purpose (this machine cannot run it, and says why)."""
        return self in (LabHostState.UP, LabHostState.LEFT_OUT)


@dataclass(slots=True)
class HostRecord:
    """What the lab knows of one host: how to reach it and how it is doing."""

    name: str
    virt_class: str
    address: str = ""
    port: int = 22
    state: LabHostState = LabHostState.PENDING
    reason: str = ""
    started: float = 0.0  # wall-clock time the host came up
    boot_s: float = 0.0
    hypervisor: str = ""
    placement: str = ""  # where its host-side processes run (runners.lab.placement)


@dataclass(slots=True)
class ProcessRecord:
    host: str
    pid: int
    start: int | None
    what: str


@dataclass(slots=True)
class LabState:
    tag: str
    created: float
    processes: list[ProcessRecord] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    placement: dict[str, Any] = field(default_factory=dict)  # Placement.to_json()
    instance: str = DEFAULT
    containers: list[ContainerRecord] = field(default_factory=list)

    @classmethod
    def new(cls, instance: Instance, placement: dict[str, Any] | None = None) -> LabState:
        return cls(
            tag=instance.new_tag(),
            created=time.time(),
            placement=placement or {},
            instance=instance.name,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for host in data["hosts"].values():
            host["state"] = host["state"].value
        return {"format_version": FORMAT_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        if data.get("format_version") not in READABLE:
            raise LabError(
                f"lab state format {data.get('format_version')!r}, this ringbench "
                f"reads {FORMAT_VERSION}: remove the lab by hand (see the file)"
            )
        return cls(
            tag=str(data["tag"]),
            created=float(data["created"]),
            processes=[ProcessRecord(**p) for p in data["processes"]],
            netns=list(data["netns"]),
            links=list(data["links"]),
            hosts={
                k: HostRecord(**{**v, "state": LabHostState(v["state"])})
                for k, v in data["hosts"].items()
            },
            placement=dict(data.get("placement") or {}),
            instance=str(data.get("instance") or DEFAULT),
            containers=[ContainerRecord(**c) for c in data.get("containers") or []],
        )


class StateFile:
    """The state of the lab, saved on every change; safe to use from the boot threads."""

    def __init__(self, path: Path, state: LabState) -> None:
        self.path = path
        self.state = state
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def load(cls, path: Path) -> StateFile | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except PermissionError:
            raise LabError(
                f"{path}: not readable by this user: run as the user who brought the lab up "
                "(root for the lab's default directory)"
            ) from None
        except (OSError, ValueError) as exc:
            raise LabError(f"{path}: unreadable lab state ({exc}): remove it") from None
        if not isinstance(data, dict):
            raise LabError(f"{path}: unreadable lab state (not an object): remove it")
        try:
            return cls(path, LabState.from_json(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise LabError(
                f"{path}: unreadable lab state ({type(exc).__name__}: {str(exc)[:80]}): "
                "remove it, and what it lists by hand"
            ) from None

    def save(self) -> None:
        with self._lock:
            if not self._closed:
                atomic_write_json(self.path, self.state.to_json())

    def close(self) -> None:
        """No more saves (the lab was removed; a boot thread that ends late writes nothing)."""
        with self._lock:
            self._closed = True

    def add_process(self, host: str, pid: int, what: str) -> None:
        with self._lock:
            self.state.processes.append(ProcessRecord(host, pid, start_time(pid), what))
        self.save()

    def add_netns(self, name: str) -> None:
        with self._lock:
            self.state.netns.append(name)
        self.save()

    def add_container(self, record: ContainerRecord) -> None:
        with self._lock:
            self.state.containers.append(record)
        self.save()

    def add_link(self, name: str) -> None:
        with self._lock:
            self.state.links.append(name)
        self.save()

    def host(self, record: HostRecord) -> HostRecord:
        with self._lock:
            self.state.hosts[record.name] = record
        self.save()
        return record

    def update(self, name: str, **changes: object) -> None:
        with self._lock:
            record = self.state.hosts[name]
            for key, value in changes.items():
                setattr(record, key, value)
        self.save()


@dataclass(frozen=True, slots=True)
class Leftovers:
    """What clean-up found and removed, and what it could not remove."""

    processes: int
    netns: tuple[str, ...]
    links: tuple[str, ...]
    survivors: tuple[int, ...]
    containers: tuple[str, ...] = ()


def lab_processes(state: LabState) -> list[int]:
    """Every live process of the lab: tagged, recorded (same start time) and their children."""
    recorded = [
        p.pid for p in state.processes if p.start is not None and start_time(p.pid) == p.start
    ]
    found = with_descendants(sorted({*tagged(state.tag), *recorded}))
    return [pid for pid in found if alive(pid, None)]  # a zombie is gone, only not yet reaped


def cleanup(state: LabState) -> Leftovers:
    """Kill the lab's processes, remove its containers (Podman stops what runs in them and
    unmounts their root file systems), delete its namespaces (their veth ends and taps go
    with them) and its host-side links. The processes go first: a ``podman run`` still
    creating its container would otherwise make it after its removal."""
    pids = lab_processes(state)
    survivors = kill_all(pids)
    containers = engine.remove(state.containers)
    links = [link for link in state.links if net.link_exists(link)]
    gone_ns = []
    for name in state.netns:
        if name in net.list_netns():
            net.delete_netns(name)
            gone_ns.append(name)
    for link in links:  # most went with their namespace's end of the pair
        if net.link_exists(link):
            with contextlib.suppress(LabError):
                net.delete_link(link)
    return Leftovers(len(pids), tuple(gone_ns), tuple(links), tuple(survivors), tuple(containers))


def remaining(state: LabState) -> list[str]:
    """What of the lab still exists: one line per process, namespace or link."""
    left = [f"container {name}" for name in engine.existing(state.containers)]
    left += [f"process {pid}" for pid in lab_processes(state)]
    existing = net.list_netns()
    left += [f"network namespace {n}" for n in state.netns if n in existing]
    left += [f"link {link}" for link in state.links if net.link_exists(link)]
    return left
