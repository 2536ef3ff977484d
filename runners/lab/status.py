"""What the lab is doing now: each host's state, read from the state file and /proc."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

from runners.lab.hosts import specs
from runners.lab.paths import LabPaths
from runners.lab.placement import where
from runners.lab.procs import alive
from runners.lab.state import LabHostState, StateFile

BANNER_TIMEOUT_S = 2.0
ORDER = {spec.name: i for i, spec in enumerate(specs())}  # the lab's order of its hosts


@dataclass(frozen=True, slots=True)
class LabHostStatus:
    name: str
    virt_class: str
    address: str
    state: LabHostState
    uptime_s: float | None
    reason: str
    placement: str = ""  # where its host processes may run now, read from /proc


def answers(address: str, port: int, timeout_s: float = BANNER_TIMEOUT_S) -> bool:
    """Whether an SSH server answers with its banner at ``address:port`` (bounded)."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection((address, port), timeout=timeout_s) as sock,
    ):
        sock.settimeout(timeout_s)
        return sock.recv(4).startswith(b"SSH-")
    return False


def lab_status(paths: LabPaths) -> list[LabHostStatus] | None:
    """One line per host of the lab, or None when no lab is recorded."""
    loaded = StateFile.load(paths.state_file)
    if loaded is None:
        return None
    state = loaded.state
    out = []
    for record in sorted(state.hosts.values(), key=lambda r: ORDER.get(r.name, 99)):
        address = f"{record.address}:{record.port}" if record.address else "-"
        live = [p.pid for p in state.processes if p.host == record.name and alive(p.pid, p.start)]
        uptime: float | None = time.time() - record.started
        now: LabHostState
        if record.state is not LabHostState.UP:
            now, uptime, reason = record.state, None, record.reason
        elif not live:
            now, uptime = LabHostState.DOWN, None
            reason = "its process is gone (killed or crashed): run 'lab up'"
        elif not answers(record.address, record.port):
            now, reason = LabHostState.NOT_ANSWERING, "no SSH banner"
        else:
            now, reason = LabHostState.UP, ""
        placement = where(live) if live else record.placement  # as it is now, from /proc
        out.append(
            LabHostStatus(record.name, record.virt_class, address, now, uptime, reason, placement)
        )
    for spec in specs():  # a lab brought up by an older ringbench lacks the newer hosts
        if spec.name not in state.hosts:
            reason = "not in the running lab (brought up without it): run 'ringbench lab up'"
            out.append(
                LabHostStatus(spec.name, spec.virt_class, "-", LabHostState.DOWN, None, reason)
            )
    return sorted(out, key=lambda s: ORDER.get(s.name, 99))
