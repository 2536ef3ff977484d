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
tools' variables are ignored (and kept nowhere), passwords of every kind refused
(ringbench logs in with keys and never becomes root). ``ProxyJump`` is read from
``ansible_ssh_common_args`` (or ``ansible_ssh_extra_args``). A key file others can
read is refused, as OpenSSH refuses it; so are host names that cannot name a file,
or would name another host's (``h1`` and ``H1``). Every error is one
line, ``PATH:LINE: what is wrong: what to do``; :mod:`runners.inventory_yaml`
reads the file and walks the groups.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import re
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ringbench.errors import UserError
from ringbench.results import host_file_key, host_file_problem
from runners.inventory.yaml_source import (
    PendingHost,
    Walker,
    is_password,
    located,
    quote,
    read_yaml,
)

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
    sha256: str = ""  # of the bytes the hosts were read from

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
    """Why ssh would not use the key file at ``path`` (what is wrong: what to do), or None."""
    fix = (
        "fix ansible_ssh_private_key_file (relative paths start at the inventory's "
        "directory) or create the key"
    )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return f"key file {path} is not a file: {fix}"
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            # As OpenSSH: "UNPROTECTED PRIVATE KEY FILE", and it will not use the key.
            return (
                f"permissions 0{info.st_mode & 0o777:03o} for {path} are too open "
                f"(others can read the private key; ssh refuses it): "
                f"chmod 600 {shlex.quote(str(path))}"
            )
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return f"key file {path} does not exist: {fix}"
    except OSError as exc:
        return f"key file {path} cannot be read ({exc.strerror or exc}): {fix}"


def _password_refusal(walker: Walker, pending: PendingHost) -> UserError | None:
    """The refusal of a host whose variables hold a password; None when they hold none.

    The one place passwords are refused: the value was never kept (only the
    variable's name and line), and nothing of the host is built past this.
    """
    for key, setting in pending.vars.items():
        if not is_password(key):
            continue
        where = setting.where
        if where != f"host {quote(pending.name)}":
            where += f", for host {quote(pending.name)}"
        return walker.fail(
            setting.line,
            f"{quote(key)} in {where}: ringbench never uses passwords (to log in, "
            "nor for sudo or su): remove it and log in with a key "
            "(ansible_ssh_private_key_file or ssh-agent)",
        )
    return None


def _check_names(walker: Walker, pending: dict[str, PendingHost]) -> None:
    """Refuse host names that cannot name the host's result files, or name another's.

    :func:`ringbench.results.host_file_problem` says what a file name can be;
    two names with one :func:`ringbench.results.host_file_key` (``h1`` and ``H1``)
    would be one file on a case-insensitive disk.
    """
    taken: dict[str, str] = {}  # host_file_key -> the first host with it
    for name, host in pending.items():
        problem = host_file_problem(name)
        if problem is not None:
            raise walker.fail(host.line, f"host name {quote(name)} {problem}: rename the host")
        other = taken.setdefault(host_file_key(name), name)
        if other != name:
            raise walker.fail(
                host.line,
                f"host {quote(name)} and host {quote(other)} (line {pending[other].line}) "
                "differ only in case: their result files would be one file on a "
                "case-insensitive disk: rename one of them",
            )


def _build_host(walker: Walker, pending: PendingHost) -> Host:
    refusal = _password_refusal(walker, pending)
    if refusal is not None:
        raise refusal
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
            raise fail("ansible_ssh_private_key_file", problem)
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
    """A host that names no machine runs on its baseline's (or is its own machine).

    Each chain of baselines is walked once (baselines are known and acyclic here).
    """
    machine: dict[str, str] = {}
    for host in hosts.values():
        chain: list[str] = []
        cursor = host
        while cursor.name not in machine and not cursor.machine and cursor.baseline:
            chain.append(cursor.name)
            cursor = hosts[cursor.baseline]
        end = machine.setdefault(cursor.name, cursor.machine or cursor.name)
        machine.update(dict.fromkeys(chain, end))
    return {name: dataclasses.replace(h, machine=machine[name]) for name, h in hosts.items()}


def _check_baselines(
    walker: Walker, pending: dict[str, PendingHost], hosts: dict[str, Host]
) -> None:
    """Every baseline is another host of the inventory, and no chain of them loops.

    Each host is walked past once: a chain stops at a host already known to end.
    """

    def fail(name: str, message: str) -> UserError:
        return walker.fail(pending[name].vars["baseline"].line, f"host {quote(name)}: {message}")

    for host in hosts.values():
        if host.baseline == host.name:
            raise fail(
                host.name,
                "is its own baseline: name another host on the same machine, "
                "or set baseline only on the hosts measured against this one",
            )
        if host.baseline is not None and host.baseline not in hosts:
            close = difflib.get_close_matches(host.baseline, hosts, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "name a host of this inventory"
            raise fail(host.name, f"unknown baseline {quote(host.baseline)}: {hint}")
    ends: set[str] = set()  # hosts whose chain of baselines is known to end
    for start in hosts:
        chain: dict[str, None] = {}  # this walk, in order
        cursor: str | None = start
        while cursor is not None and cursor not in ends:
            if cursor in chain:
                walked = list(chain)
                ring = [*walked[walked.index(cursor) :], cursor]
                raise fail(
                    ring[0],
                    f"baselines form a cycle: {' -> '.join(ring)}: "
                    "a baseline host has no baseline of its own",
                )
            chain[cursor] = None
            cursor = hosts[cursor].baseline
        ends.update(chain)


def _check_machines(
    walker: Walker, pending: dict[str, PendingHost], hosts: dict[str, Host]
) -> None:
    for host in hosts.values():
        base = hosts[host.baseline] if host.baseline else None
        if base is not None and base.machine != host.machine:
            raise walker.fail(
                pending[host.name].vars["baseline"].line,
                f"host {quote(host.name)}: runs on machine {quote(host.machine)} but its "
                f"baseline {quote(base.name)} on {quote(base.machine)}: overhead needs "
                "the same hardware (set 'machine' on both)",
            )


def load_inventory(path: Path) -> Inventory:
    """Parse and validate ``path``; raises :class:`UserError` as ``PATH:LINE: message``."""
    root, sha256 = read_yaml(path)
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
    _check_names(walker, pending)
    built = {name: _build_host(walker, p) for name, p in pending.items()}
    _check_baselines(walker, pending, built)
    hosts = _resolve_machines(built)
    _check_machines(walker, pending, hosts)
    return Inventory(path, tuple(hosts.values()), sha256)
