"""What every inventory source is read into: groups, hosts and their variables, as
ansible-core's ``InventoryData`` holds them, each variable with the file and line it
came from.

Every reader (:mod:`.yaml_source`, :mod:`.ini`, :mod:`.listjson`, :mod:`.dynamic`)
adds to one :class:`InventoryData` through the same calls Ansible's inventory plugins
make (``add_group``, ``add_host``, ``add_child``, ``set_variable``); the variable files
beside a source (``group_vars/``, ``host_vars/``) are kept apart, per source, in
:class:`VarsFiles`, because Ansible gives them their own places in the precedence
(:mod:`.resolve`). Values are kept as Ansible holds them (strings, numbers, booleans,
lists, mappings, ``None``); a value Ansible would decrypt (``!vault``) is a
:class:`Tagged` marker, its text never kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ringbench.errors import UserError

UNKNOWN_LINE = 0
LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")  # Ansible's C.LOCALHOST


def quote(text: str, limit: int = 60) -> str:
    """``'text'``, shortened: user text echoed in a one-line message."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value, a host or a group was written: ``PATH:LINE`` (line 0: unknown)."""

    path: Path
    line: int = UNKNOWN_LINE

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def error(self, message: str) -> UserError:
        """The one-line error ``PATH:LINE: message``."""
        return UserError(" ".join(f"{self}: {message}".splitlines()))


@dataclass(frozen=True, slots=True)
class Tagged:
    """A value under a tag ringbench does not read (``!vault``...): never its text."""

    tag: str


class Unsafe(str):
    """A string Ansible never templates (YAML ``!unsafe``): its braces are text."""

    __slots__ = ()


class Var:
    """One variable's value and origin. A reader may give the value as a thunk
    (``lazy``): YAML values are built only when something reads them."""

    __slots__ = ("_lazy", "_value", "origin")

    def __init__(
        self,
        value: object = None,
        origin: Origin = Origin(Path("-")),
        *,
        lazy: Callable[[], object] | None = None,
    ) -> None:
        self._value = value
        self._lazy = lazy
        self.origin = origin

    @property
    def value(self) -> object:
        if self._lazy is not None:
            self._value, self._lazy = self._lazy(), None
        return self._value

    def __repr__(self) -> str:
        return f"Var({self.value!r}, {self.origin})"


Vars = dict[str, Var]


@dataclass(slots=True)
class Group:
    name: str
    origin: Origin
    vars: Vars = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)  # ordered set
    parents: dict[str, None] = field(default_factory=dict)
    hosts: dict[str, None] = field(default_factory=dict)
    depth: int = 0
    priority: int = 1  # ansible_group_priority


@dataclass(slots=True)
class HostEntry:
    name: str
    origin: Origin  # where the host was first written
    vars: Vars = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)  # direct groups, in order added
    implicit: bool = False  # Ansible's implicit localhost


@dataclass(slots=True)
class VarsFiles:
    """The ``group_vars/`` and ``host_vars/`` of one source's directory, in the order
    Ansible loads them: per entity name, the files' variables one file after another."""

    basedir: Path
    groups: dict[str, list[Vars]] = field(default_factory=dict)
    hosts: dict[str, list[Vars]] = field(default_factory=dict)


class InventoryData:
    """Groups and hosts as ansible-core's ``InventoryData`` keeps them.

    ``all`` and ``ungrouped`` exist from the start (``ungrouped`` a child of
    ``all``); :meth:`reconcile` applies Ansible's rules after the last source.
    """

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, HostEntry] = {}
        self.sources: list[Path] = []  # as given, in order (directories stay directories)
        self.vars_files: list[VarsFiles] = []  # one per source, in the sources' order
        self.warnings: list[str] = []
        for name in ("all", "ungrouped"):
            self.add_group(name, Origin(Path("-")))
        self.add_child("all", "ungrouped")

    def add_group(self, name: str, origin: Origin) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, origin)
        return group

    def add_host(
        self, name: str, origin: Origin, group: str | None = None, port: int | None = None
    ) -> HostEntry:
        """The host ``name`` (created when new, with ``port`` as its ``ansible_port``, as
        Ansible's ``Host(name, port)``), added to ``group`` when one is given."""
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostEntry(name, origin)
            if port:  # as Ansible's Host(name, port): port 0 sets nothing
                host.vars["ansible_port"] = Var(port, origin)
        if group is not None:
            self.groups[group].hosts[name] = None
            host.groups[group] = None
        return host

    def add_child(self, parent: str, child: str) -> None:
        """``child`` (a group) under ``parent``, depths updated as Ansible's
        ``Group.add_child_group``; raises :class:`ValueError` on a cycle."""
        up, down = self.groups[parent], self.groups[child]
        if child in up.children:
            return
        if parent == child or parent in self.descendants(child):
            raise ValueError(f"group {child!r} would contain itself through {parent!r}")
        up.children[child] = None
        down.parents[parent] = None
        todo = [(down, up.depth + 1)]
        while todo:
            group, depth = todo.pop()
            if group.depth >= depth:
                continue
            group.depth = depth
            todo.extend((self.groups[c], depth + 1) for c in group.children)

    def descendants(self, name: str) -> set[str]:
        found: set[str] = set()
        todo = [name]
        while todo:
            for child in self.groups[todo.pop()].children:
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def ancestors(self, groups: Iterable[str]) -> set[str]:
        found: set[str] = set()
        todo = list(groups)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        return found

    def set_group_variable(self, group: str, key: str, var: Var) -> None:
        """As Ansible's ``Group.set_variable``: ``ansible_group_priority`` sets the
        group's priority (an integer; anything else is left as it was)."""
        target = self.groups[group]
        if key == "ansible_group_priority":
            try:
                target.priority = int(var.value)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                self.warnings.append(
                    f"{var.origin}: ansible_group_priority of group {group!r} is not an "
                    "integer: ignored, as Ansible ignores it"
                )
            return
        target.vars[key] = var

    def set_host_variable(self, host: str, key: str, var: Var) -> None:
        """As Ansible's ``InventoryData.set_variable``, which looks for a group of that
        name first: a host named like a group gives its variables to the group."""
        if host in self.groups:
            self.set_group_variable(host, key, var)
        else:
            self.hosts[host].vars[key] = var

    def reconcile(self) -> None:
        """Ansible's ``reconcile_inventory``: groups without a parent go under ``all``; a
        host in no group but ``all`` is ``ungrouped``, one in another group is not."""
        for name, group in list(self.groups.items()):
            if name != "all" and not group.parents:
                try:
                    self.add_child("all", name)
                except ValueError:  # 'all' is below this group
                    raise group.origin.error(
                        f"group 'all' is among the children of group {name!r} (or of its "
                        "children): 'all' holds every group and cannot be a child: remove it"
                    ) from None
        ungrouped = self.groups["ungrouped"]
        for name, host in self.hosts.items():
            others = set(host.groups) - {"all", "ungrouped"}
            if others:
                if name in ungrouped.hosts:
                    del ungrouped.hosts[name]
                    del host.groups["ungrouped"]
            elif not host.implicit:
                if name in self.groups:  # Ansible's add_child('ungrouped', name) takes the group
                    with contextlib.suppress(ValueError):
                        self.add_child("ungrouped", name)
                    continue
                ungrouped.hosts[name] = None
                host.groups["ungrouped"] = None
