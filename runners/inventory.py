"""The lab inventory: an Ansible-style YAML file parsed into typed hosts.

Shape (an existing Ansible YAML inventory works as it is)::

    all:
      vars: {...}                 # inherited by every host
      hosts:
        NAME: {ansible_host: ..., virt_class: ..., baseline: ...}
      children:
        GROUP: {vars: {...}, hosts: {...}, children: {...}}

Variables are inherited group -> child group -> host. ringbench's own keys
are ``virt_class``, ``machine``, ``baseline`` and ``hypervisor``. Every error
is one line naming the file, the line and what to do.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runners.errors import UserError

VIRT_CLASSES = (
    "bare-metal",
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
)
HOST_KEYS = {
    "ansible_host": str,
    "ansible_user": str,
    "ansible_port": int,
    "ansible_ssh_private_key_file": str,
    "ansible_connection": str,
    "ansible_ssh_common_args": str,
    "ansible_python_interpreter": str,
    "virt_class": str,
    "machine": str,
    "baseline": str,
    "hypervisor": str,
}
GROUP_KEYS = ("hosts", "children", "vars")


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
    virt_class: str | None
    machine: str
    baseline: str | None
    hypervisor: str | None
    groups: tuple[str, ...]
    line: int

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
            h for h in self.hosts
            if any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (h.name, *h.groups))
        ]
        if not chosen:
            names = ", ".join(h.name for h in self.hosts)
            raise UserError(
                f"{self.path}: no host matches {', '.join(patterns)} (hosts: {names})"
            )
        return chosen


@dataclass
class _Pending:
    vars: dict[str, tuple[Any, int]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    line: int = 0


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.hosts: dict[str, _Pending] = {}

    def fail(self, line: int, message: str) -> UserError:
        return UserError(f"{self.path}:{line}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, int]]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node.start_mark.line + 1, f"{what} must be a mapping")
        seen: set[str] = set()
        items = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(line, f"{what}: keys must be plain names")
            key = str(key_node.value)
            if key in seen:
                raise self.fail(line, f"'{key}' appears twice in {what}: keep one")
            seen.add(key)
            items.append((key, value_node, line))
        return items

    def scalar(self, node: yaml.Node, key: str, line: int) -> Any:  # noqa: ANN401
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(line, f"'{key}' must be a single value")
        value = yaml.safe_load(yaml.serialize(node))
        kind = HOST_KEYS.get(key)
        if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.fail(line, f"'{key}' must be an integer, got {node.value!r}")
        if kind is str:
            if value is None or isinstance(value, list | dict):
                raise self.fail(line, f"'{key}' must be a text value")
            value = str(value)
        return value

    def variables(self, node: yaml.Node, where: str) -> dict[str, tuple[Any, int]]:
        out: dict[str, tuple[Any, int]] = {}
        for key, value_node, line in self.mapping(node, where):
            if key not in HOST_KEYS:
                close = difflib.get_close_matches(key, HOST_KEYS, n=1, cutoff=0.75)
                if close:
                    raise self.fail(line, f"unknown key '{key}' in {where}: did you mean "
                                          f"'{close[0]}'?")
                continue  # another tool's variable: Ansible inventories carry many
            out[key] = (self.scalar(value_node, key, line), line)
        return out

    def group(self, name: str, node: yaml.Node, inherited: dict[str, tuple[Any, int]],
              chain: tuple[str, ...]) -> None:
        if name in chain:
            raise self.fail(node.start_mark.line + 1, f"group '{name}' contains itself")
        items = self.mapping(node, f"group '{name}'")
        group_vars = dict(inherited)
        for key, _node, line in items:
            if key not in GROUP_KEYS:
                close = difflib.get_close_matches(key, GROUP_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "use hosts, children or vars"
                raise self.fail(line, f"unknown key '{key}' in group '{name}': {hint}")
        for key, value_node, _ in items:
            if key == "vars":
                group_vars.update(self.variables(value_node, f"vars of group '{name}'"))
        for key, value_node, _ in items:
            if key == "hosts":
                for host, host_node, line in self.mapping(value_node, f"hosts of '{name}'"):
                    pending = self.hosts.setdefault(host, _Pending(line=line))
                    merged = {**group_vars, **pending.vars}
                    merged.update(self.variables(host_node, f"host '{host}'"))
                    pending.vars = merged
                    pending.groups.extend(g for g in (*chain, name) if g != "all")
            elif key == "children":
                for child, child_node, _ in self.mapping(value_node, f"children of '{name}'"):
                    self.group(child, child_node, group_vars, (*chain, name))


def _build_host(parser: _Parser, name: str, pending: _Pending) -> Host:
    def var(key: str) -> Any:  # noqa: ANN401
        return pending.vars[key][0] if key in pending.vars else None

    def line(key: str) -> int:
        return pending.vars[key][1] if key in pending.vars else pending.line

    connection = var("ansible_connection") or ("local" if name in ("localhost",) else "ssh")
    if connection not in ("local", "ssh", "paramiko"):
        raise parser.fail(line("ansible_connection"),
                          f"host '{name}': ansible_connection '{connection}' is not local or ssh")
    virt_class = var("virt_class")
    if virt_class is not None and virt_class not in VIRT_CLASSES:
        close = difflib.get_close_matches(virt_class, VIRT_CLASSES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"one of {', '.join(VIRT_CLASSES)}"
        raise parser.fail(line("virt_class"), f"host '{name}': virt_class '{virt_class}': {hint}")
    port = var("ansible_port") or 22
    if not 1 <= port <= 65535:
        raise parser.fail(line("ansible_port"), f"host '{name}': port {port} is out of range")
    key_file = var("ansible_ssh_private_key_file")
    if key_file is not None:
        key_path = Path(key_file).expanduser()
        if not key_path.is_absolute():
            key_path = parser.path.parent / key_path
        key_file = str(key_path)
    return Host(
        name=name,
        connection="ssh" if connection == "paramiko" else connection,
        address=var("ansible_host") or name,
        user=var("ansible_user"),
        port=port,
        key_file=key_file,
        ssh_common_args=var("ansible_ssh_common_args"),
        virt_class=virt_class,
        machine=var("machine") or "",
        baseline=var("baseline"),
        hypervisor=var("hypervisor"),
        groups=tuple(dict.fromkeys(pending.groups)),
        line=pending.line,
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


def _check_baselines(parser: _Parser, hosts: dict[str, Host]) -> None:
    def where(host: Host) -> int:
        return parser.hosts[host.name].vars["baseline"][1]

    for host in hosts.values():
        if host.baseline is None:
            continue
        if host.baseline not in hosts:
            close = difflib.get_close_matches(host.baseline, hosts, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "name a host of this inventory"
            raise parser.fail(where(host), f"host '{host.name}': unknown baseline "
                                           f"'{host.baseline}': {hint}")
    for host in hosts.values():
        chain = [host.name]
        cursor = host.baseline
        while cursor is not None:
            if cursor in chain:
                raise parser.fail(where(host), "baselines form a cycle: "
                                               f"{' -> '.join([*chain, cursor])}; a baseline "
                                               "host has no baseline of its own")
            chain.append(cursor)
            cursor = hosts[cursor].baseline
    for host in hosts.values():
        base = hosts[host.baseline] if host.baseline else None
        if base is not None and base.machine != host.machine:
            raise parser.fail(where(host), f"host '{host.name}' runs on machine "
                                           f"'{host.machine}' but its baseline '{base.name}' "
                                           f"on '{base.machine}': overhead needs the same "
                                           "hardware (set 'machine' on both)")


def load_inventory(path: Path) -> Inventory:
    """Parse and validate ``path``; raises :class:`UserError` with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the inventory: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: YAML syntax error: {exc.problem}") from exc
    if root is None:
        raise UserError(f"{path}: the inventory is empty: add 'all: {{hosts: {{...}}}}'")
    parser = _Parser(path)
    for name, node, _ in parser.mapping(root, "the inventory"):
        parser.group(name, node, {}, ())
    if not parser.hosts:
        raise UserError(f"{path}: the inventory has no hosts")
    hosts = _resolve_machines(
        {name: _build_host(parser, name, p) for name, p in parser.hosts.items()}
    )
    _check_baselines(parser, hosts)
    return Inventory(path, tuple(hosts.values()))
