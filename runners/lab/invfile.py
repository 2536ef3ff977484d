"""The lab's inventory: its hosts that answer, and a comment for each one left out."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from ringbench.errors import UserError
from ringbench.files import atomic_write_text
from runners.inventory import load_inventory
from runners.lab.instance import Instance
from runners.lab.placement import DISKS, Placement
from runners.lab.procs import LabError
from runners.lab.state import HostRecord, LabHostState

BASELINE = "native"
MARKER = "# ringbench lab inventory"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


HARNESS_PINNED = (
    "native",
    "container",
    "podman",
    "podman-nosec",
)  # hosts whose harness pins itself to a host CPU
GUESTS = ("uml", "tcg", "kvm")  # hosts with a disk of their own


def render(
    records: list[HostRecord],
    key_file: Path,
    known_hosts: Path,
    placement: Placement,
    disks: str = "cached",
    instance: Instance | None = None,
) -> str:
    """The inventory text: group ``lab``, ``native`` the baseline of every other host, and
    where each host's processes run (``placement``, ``harness_cpu``, ``controller_cpus``)."""
    machine = socket.gethostname() or "localhost"
    now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    option = (instance or Instance()).option()
    lines = [
        f"{MARKER}, written by `ringbench lab up{option}` on {now}.",
        "#",
        "# Every host runs on this machine; `native` (this machine through an sshd of the",
        "# lab's own) is the baseline of the others. SSH uses the lab's key; the lab's host",
        f"# keys are in {' '.join(str(known_hosts).split())}.",
        f"# `ringbench lab down{option}` stops the hosts.",
        "all:",
        "  children:",
        "    lab:",
        "      vars:",
        "        ansible_user: root",
        f"        ansible_ssh_private_key_file: {_q(str(key_file))}",
        f"        machine: {_q(machine)}",
    ]
    if placement.pinned and placement.helpers != (placement.measure,):
        lines.append(f"        controller_cpus: {_q(','.join(map(str, placement.helpers)))}")
    lines.append("      hosts:")
    up = [r for r in records if r.state is LabHostState.UP]
    has_baseline = any(r.name == BASELINE for r in up)
    for record in up:
        lines += [
            f"        {record.name}:",
            f"          ansible_host: {_q(record.address)}",
            f"          ansible_port: {record.port}",
            f"          virt_class: {record.virt_class}",
            f"          hypervisor: {_q(record.hypervisor)}",
            f"          placement: {_q(record.placement or placement.describe())}",
        ]
        if placement.measure is not None and record.name in HARNESS_PINNED:
            lines.append(f"          harness_cpu: {placement.measure}")
        if record.name in GUESTS:
            lines.append(f"          disk: {_q(DISKS[disks])}")
        if record.name != BASELINE and has_baseline:
            lines.append(f"          baseline: {BASELINE}")
    for record in records:
        if record.state is not LabHostState.UP:
            reason = " ".join(record.reason.split()) or "did not come up"
            lines.append(f"        # {record.name} ({record.virt_class}) left out: {reason}")
    return "\n".join(lines) + "\n"


def check_replaceable(path: Path) -> None:
    """Refuse to replace an inventory the lab did not write and that holds remote hosts."""
    if not path.exists():
        return
    try:
        if path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
            return
        hosts = load_inventory(path).hosts
    except (OSError, UserError):
        hosts = ()
    if hosts and all(h.is_local for h in hosts):
        return  # the shipped default: this machine only, nothing of the user's to lose
    raise LabError(
        f"{path} holds hosts the lab did not write: it is kept; give the lab "
        "its own file with 'ringbench lab up --inventory FILE'"
    )


def write_inventory(
    path: Path,
    records: list[HostRecord],
    key_file: Path,
    known_hosts: Path,
    placement: Placement,
    disks: str = "cached",
    instance: Instance | None = None,
) -> None:
    """Write the inventory atomically, then read it back as ringbench will (a check); a
    file that does not read back is removed (the lab failed: nothing of it is left)."""
    check_replaceable(path)
    atomic_write_text(path, render(records, key_file, known_hosts, placement, disks, instance))
    try:
        load_inventory(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
