"""The lab inventory: an Ansible-style YAML file parsed into typed hosts.

Shape (an existing Ansible YAML inventory works as it is)::

    all:
      vars: {...}                 # inherited by every host
      hosts:
        NAME: {ansible_host: ..., virt_class: ..., baseline: ...}
      children:
        GROUP: {vars: {...}, hosts: {...}, children: {...}}

Variables are inherited group -> child group -> host, as in Ansible. ringbench's
own keys are ``virt_class``, ``machine``, ``baseline`` and ``hypervisor``; other
tools' variables are ignored, passwords refused. ``ProxyJump`` is read from
``ansible_ssh_common_args`` (or ``ansible_ssh_extra_args``). Every error is one
line, ``PATH:LINE: what is wrong: what to do``; :mod:`runners.inventory_yaml`
reads the file and walks the groups.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ringbench.errors import UserError
from runners.inventory_yaml import PendingHost, Walker, located, quote, read_yaml

VIRT_CLASSES = (
    "bare-metal",
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
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
_JUMP_HOP = re.compile(r"(?:[^@\s,]+@)?(?:\[[0-9A-Fa-f:.%\w]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")


@dataclass(frozen=True, slots=True)
class Host:
    """One host of the inventory, with every inherited variable resolved."""

    name: str
    connection: str
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

    @property
    def is_local(self) -> bool:
        return self.connection == "local"


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path
    hosts: tuple[Host, ...]

    def get(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise UserError(f"{self.path}: no host '{name}'")

    def select(self, patterns: Sequence[str] = ()) -> list[Host]:
        """Hosts whose name or one of whose groups matches a shell pattern; all when none."""
        if not patterns:
            return list(self.hosts)
        chosen = [
            h
            for h in self.hosts
            if any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (h.name, *h.groups))
        ]
        if not chosen:
            names = ", ".join(h.name for h in self.hosts)
            raise UserError(f"{self.path}: no host matches {', '.join(patterns)} (hosts: {names})")
        return chosen


def parse_proxy_jump(args: str) -> str | None:
    """The ``ProxyJump`` spec in ssh arguments (``-J SPEC``, ``-o ProxyJump=SPEC``...).

    Raises :class:`ValueError` saying what to change for unbalanced quotes, a
    ``ProxyCommand`` or a spec that is not ``[USER@]HOST[:PORT][,...]``.
    Other options are left to ssh's defaults; the first jump given wins.
    """
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ValueError(f"{exc}: close the quotes") from None
    found: str | None = None
    rest = iter(words)
    for word in rest:
        spec: str | None = None
        if word.startswith("-J"):
            spec = word[2:] or next(rest, "")
        elif word.startswith("-o"):
            option = re.match(
                r"\s*([A-Za-z]+)\s*(?:=\s*|\s+|$)(.*)", word[2:] or next(rest, ""), re.DOTALL
            )
            key, value = (option[1].lower(), option[2].strip()) if option else ("", "")
            if key == "proxycommand" and value.lower() != "none":
                raise ValueError(
                    "ProxyCommand is not supported: use -o ProxyJump=USER@BASTION "
                    "(or -J USER@BASTION)"
                )
            if key == "proxyjump":
                spec = value or next(rest, "")
        if spec is None or found is not None:
            continue
        if spec.lower() != "none" and not all(
            (hop := _JUMP_HOP.fullmatch(part)) and int(hop[1] or 22) <= 65535
            for part in spec.split(",")
        ):
            raise ValueError(
                f"ProxyJump {quote(spec)} is not [USER@]HOST[:PORT][,...]: "
                "write the jump hosts that way"
            )
        found = spec
    return found


def parse_cpus(text: str) -> tuple[int, ...]:
    """A CPU list as the kernel writes one: ``0``, ``0,2``, ``0-3,6`` (sorted, unique)."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError("write CPU numbers and ranges, e.g. 0 or 0-1,3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last > 4095:
            raise ValueError(f"the range {part} is empty or beyond CPU 4095")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def _key_problem(path: Path) -> str | None:
    """Why ssh could not read the key file at ``path``, or ``None``."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return "is not a file"
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def _build_host(walker: Walker, pending: PendingHost) -> Host:
    name, settings = pending.name, pending.vars

    def text(key: str) -> str | None:
        return settings[key].value if key in settings else None

    def fail(key: str, message: str) -> UserError:
        line = settings[key].line if key in settings else pending.line
        return walker.fail(line, f"host {quote(name)}: {message}")

    connection = text("ansible_connection") or ("local" if name == "localhost" else "ssh")
    if connection not in CONNECTIONS:
        raise fail(
            "ansible_connection",
            f"ansible_connection {quote(connection)} is not "
            "local or ssh: ringbench runs commands over ssh or "
            "on this machine",
        )
    virt_class = text("virt_class")
    if virt_class is not None and virt_class not in VIRT_CLASSES:
        close = difflib.get_close_matches(virt_class, VIRT_CLASSES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(VIRT_CLASSES)}"
        raise fail("virt_class", f"virt_class {quote(virt_class)}: {hint}")
    jump = None
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        try:
            jump = jump or parse_proxy_jump(text(key) or "")
        except ValueError as exc:
            raise fail(key, f"{key}: {exc}") from None
    key_file = text("ansible_ssh_private_key_file")
    if key_file is not None:
        try:
            key_path = walker.path.parent / Path(key_file).expanduser()
        except RuntimeError:  # ~user with no such user, or no home directory
            raise fail(
                "ansible_ssh_private_key_file",
                f"key file {quote(key_file)}: cannot expand '~': write the path in full",
            ) from None
        problem = _key_problem(key_path) if CONNECTIONS[connection] == "ssh" else None
        if problem:
            raise fail(
                "ansible_ssh_private_key_file",
                f"key file {key_path} {problem}: fix ansible_ssh_private_key_file "
                "(relative paths start at the inventory's directory) or create the key",
            )
        key_file = str(key_path)
    port = text("ansible_port")
    harness_cpu = text("harness_cpu")
    if harness_cpu is not None and not harness_cpu.isdigit():
        raise fail("harness_cpu", f"harness_cpu {quote(harness_cpu)}: write a CPU number, e.g. 1")
    controller = text("controller_cpus")
    try:
        controller_cpus = parse_cpus(controller) if controller else ()
    except ValueError as exc:
        raise fail("controller_cpus", f"controller_cpus {quote(controller or '')}: {exc}") from None
    return Host(
        name=name,
        connection=CONNECTIONS[connection],
        address=text("ansible_host") or name,
        user=text("ansible_user"),
        port=int(port) if port else 22,  # checked while reading: 1..65535
        key_file=key_file,
        ssh_common_args=text("ansible_ssh_common_args"),
        proxy_jump=jump,
        virt_class=virt_class,
        machine=text("machine") or "",
        baseline=text("baseline"),
        hypervisor=text("hypervisor"),
        groups=tuple(pending.groups),
        line=pending.line,
        placement=text("placement"),
        harness_cpu=int(harness_cpu) if harness_cpu is not None else None,
        controller_cpus=controller_cpus,
        disk=text("disk"),
    )


def _resolve_machines(hosts: dict[str, Host]) -> dict[str, Host]:
    """A host that names no machine runs on its baseline's (or is its own machine)."""
    resolved: dict[str, Host] = {}
    for host in hosts.values():
        cursor, seen = host, {host.name}
        while not cursor.machine and cursor.baseline in hosts and cursor.baseline not in seen:
            seen.add(cursor.baseline)
            cursor = hosts[cursor.baseline]
        resolved[host.name] = dataclasses.replace(host, machine=cursor.machine or cursor.name)
    return resolved


def _check_baselines(
    walker: Walker, pending: dict[str, PendingHost], hosts: dict[str, Host]
) -> None:
    def fail(host: Host, message: str) -> UserError:
        return walker.fail(
            pending[host.name].vars["baseline"].line, f"host {quote(host.name)}: {message}"
        )

    for host in hosts.values():
        if host.baseline == host.name:
            raise fail(
                host,
                "is its own baseline: name another host on the same machine, "
                "or set baseline only on the hosts measured against this one",
            )
        if host.baseline is not None and host.baseline not in hosts:
            close = difflib.get_close_matches(host.baseline, hosts, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "name a host of this inventory"
            raise fail(host, f"unknown baseline {quote(host.baseline)}: {hint}")
    for host in hosts.values():
        chain = [host.name]
        cursor = host.baseline
        while cursor is not None:
            if cursor in chain:
                raise fail(
                    host,
                    f"baselines form a cycle: {' -> '.join([*chain, cursor])}: "
                    "a baseline host has no baseline of its own",
                )
            chain.append(cursor)
            cursor = hosts[cursor].baseline
    for host in hosts.values():
        base = hosts[host.baseline] if host.baseline else None
        if base is not None and base.machine != host.machine:
            raise fail(
                host,
                f"runs on machine {quote(host.machine)} but its baseline "
                f"{quote(base.name)} on {quote(base.machine)}: overhead needs "
                "the same hardware (set 'machine' on both)",
            )


def load_inventory(path: Path) -> Inventory:
    """Parse and validate ``path``; raises :class:`UserError` as ``PATH:LINE: message``."""
    root = read_yaml(path)
    if root is None:
        raise located(path, 1, "the inventory is empty: add 'all:', then 'hosts:' and a host")
    walker = Walker(path)
    pending = {p.name: p for p in walker.walk(root)}
    if not pending:
        raise located(
            path,
            root.start_mark.line + 1,
            "the inventory has no hosts: list them under 'all:' 'hosts:'",
        )
    hosts = _resolve_machines({name: _build_host(walker, p) for name, p in pending.items()})
    _check_baselines(walker, pending, hosts)
    return Inventory(path, tuple(hosts.values()))
