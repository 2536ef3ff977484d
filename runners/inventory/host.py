"""The hosts of an inventory as ringbench uses them: :class:`Host` and :class:`Inventory`.

:mod:`.load` builds them from any inventory Ansible reads; a host ringbench cannot
run on is listed with the reason (:attr:`Host.unusable`) and left out of runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ringbench.errors import UserError
from runners.inventory.model import quote

VIRT_CLASSES = (
    "bare-metal",
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
    "application-kernel",
)
CONNECTIONS = {  # ansible_connection -> how ringbench connects
    "local": "local",
    "ansible.builtin.local": "local",
    "ssh": "ssh",
    "smart": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "ansible.builtin.ssh": "ssh",
    "ansible.builtin.paramiko_ssh": "ssh",
}
# The variables the ssh connection plugin reads for each option: the last one set wins.


@dataclass(frozen=True, slots=True)
class Host:
    """One host of the inventory, with every inherited variable resolved."""

    name: str
    connection: str  # local or ssh; for an unusable host, ansible_connection as written
    address: str
    user: str | None
    port: int
    key_file: str | None
    ssh_common_args: str | None
    proxy_jump: str | None  # raw ssh -J spec, [USER@]HOST[:PORT][,...], or None
    virt_class: str | None
    machine: str
    baseline: str | None
    hypervisor: str | None
    groups: tuple[str, ...]
    line: int
    placement: str | None = None  # where the host's own processes run (the lab says)
    harness_cpu: int | None = None  # the host CPU the harness pins itself to under --cpu auto
    controller_cpus: tuple[int, ...] = ()  # where the controller keeps its own work
    disk: str | None = None  # how the host's disk is backed (what its fsync/O_DIRECT reach)
    unusable: str | None = None  # why ringbench cannot run on it; None: usable
    source: str = ""  # PATH:LINE where the host was first written

    @property
    def is_local(self) -> bool:
        return self.connection == "local"

    @property
    def usable(self) -> bool:
        return self.unusable is None

    @property
    def own_vars(self) -> dict[str, str]:
        """ringbench's own keys that are set, as text."""
        values = {
            "virt_class": self.virt_class,
            "machine": self.machine or None,
            "baseline": self.baseline,
            "hypervisor": self.hypervisor,
            "placement": self.placement,
            "harness_cpu": None if self.harness_cpu is None else str(self.harness_cpu),
            "controller_cpus": ",".join(map(str, self.controller_cpus)) or None,
            "disk": self.disk,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path  # the first source
    hosts: tuple[Host, ...]  # every host, usable or not
    sha256: str = ""  # of the bytes the hosts were read from
    sources: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    implicit_localhost: Host | None = None  # Ansible's, when no localhost is written

    @property
    def usable(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.usable)

    def get(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        if self.implicit_localhost is not None and name == self.implicit_localhost.name:
            return self.implicit_localhost
        raise UserError(f"{self.path}: no host '{name}'")

    def select(self, patterns: Sequence[str] = ()) -> list[Host]:
        """Usable hosts whose name or one of whose groups matches a shell pattern (all
        when none); a pattern that names an unusable host exactly is an error."""
        if not patterns:
            chosen = list(self.usable)
            if not chosen:
                raise UserError(f"{self.path}: no usable host: {self._left_out()}")
            return chosen
        for pattern in patterns:
            named = next((h for h in self.hosts if h.name == pattern), None)
            if named is not None and not named.usable:
                raise UserError(
                    f"{named.source or self.path}: host {quote(named.name)} cannot be run "
                    f"on: {named.unusable}"
                )
        chosen = [h for h in self._matches(patterns) if h.usable]
        local = self.implicit_localhost
        if local is not None and local.name in patterns:
            chosen.append(local)
        if not chosen:
            names = ", ".join(h.name for h in self.usable) or "none usable"
            raise UserError(f"{self.path}: no host matches {', '.join(patterns)} (hosts: {names})")
        return chosen

    def matching(self, patterns: Sequence[str] = ()) -> list[Host]:
        """Every host, usable or not, whose name or one of whose groups matches a shell
        pattern (every host when none); no host matching is an error."""
        if not patterns:
            return list(self.hosts)
        chosen = self._matches(patterns)
        if not chosen:
            names = ", ".join(h.name for h in self.hosts)
            raise UserError(f"{self.path}: no host matches {', '.join(patterns)} (hosts: {names})")
        return chosen

    def notes(self) -> list[str]:
        """What to say of the inventory before using it: a line per warning, then one per
        host left out, with where it was written and why."""
        lines = [f"warning: {w}" for w in self.warnings]
        lines += [
            f"host {h.name!r} ({h.source}): left out: {h.unusable}"
            for h in self.hosts
            if not h.usable
        ]
        return lines

    def _matches(self, patterns: Sequence[str]) -> list[Host]:
        return [
            h
            for h in self.hosts
            if any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (h.name, *h.groups))
        ]

    def _left_out(self) -> str:
        reasons = [f"{h.name}: {h.unusable}" for h in self.hosts[:3]]
        more = f" (and {len(self.hosts) - 3} more)" if len(self.hosts) > 3 else ""
        return "; ".join(reasons) + more
