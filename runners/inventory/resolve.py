"""Each host's variables, combined in ansible-core's order of precedence.

For host H, whose groups G are every group it is in (directly or through
parents) but ``all``, sorted by (depth, ``ansible_group_priority``, name) as
Ansible's ``sort_groups``, the layers are, later ones replacing earlier keys
(Ansible's ``VariableManager.get_vars`` with its default ``VARIABLE_PRECEDENCE``
and ``hash_behaviour = replace``)::

    1. the inventory's vars of group all
    2. the inventory's vars of each group of G, in order
    3. group_vars/all, for each source in order
    4. group_vars/GROUP for each group of G, for each source in order
    5. H's inventory vars (inventory_file and inventory_dir first)
    6. host_vars/H, for each source in order

Playbook-adjacent ``group_vars/`` are not read: ringbench runs no playbook. The
combined layers 1-4 are the same for every host with the same groups, so they
are combined once per set of groups (a fleet of 30,000 hosts in a dozen groups
combines a dozen times).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from runners.inventory.model import InventoryData, Origin, Var, Vars

MAGIC_SOURCE = Origin(Path("-"))


@dataclass(frozen=True, slots=True)
class ResolvedHost:
    name: str
    origin: Origin  # where the host was first written
    vars: Vars  # every variable, after precedence
    groups: tuple[str, ...]  # sorted as Ansible sorts them, without 'all'


@dataclass(frozen=True, slots=True)
class Resolved:
    hosts: dict[str, ResolvedHost]
    groups: dict[str, list[str]]  # Ansible's `groups`: every group's hosts, 'all' included


def resolve(data: InventoryData) -> Resolved:
    """Every host of ``data`` with its variables resolved (templates not yet rendered)."""
    groups = data.groups

    def order(names: frozenset[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=lambda g: (groups[g].depth, groups[g].priority, g)))

    def files(kind: str, name: str) -> list[Vars]:
        out: list[Vars] = []
        for source in data.vars_files:
            out.extend((source.groups if kind == "group" else source.hosts).get(name, ()))
        return out

    @cache
    def chain(member: tuple[str, ...]) -> Vars:
        combined: Vars = dict(groups["all"].vars)
        for group in member:
            combined.update(groups[group].vars)
        for layer in files("group", "all"):
            combined.update(layer)
        for source in data.vars_files:
            for group in member:
                for layer in source.groups.get(group, ()):
                    combined.update(layer)
        return combined

    @cache
    def ancestors(direct: frozenset[str]) -> tuple[str, ...]:
        return order(frozenset(data.ancestors(direct)) - {"all"})

    @cache
    def magic(source: Path) -> Vars:
        return {
            "inventory_file": Var(str(source), MAGIC_SOURCE),
            "inventory_dir": Var(str(source.parent), MAGIC_SOURCE),
        }

    hosts: dict[str, ResolvedHost] = {}
    members: dict[str, list[str]] = {"all": []}
    for name, entry in data.hosts.items():
        member = ancestors(frozenset(entry.groups))
        combined = dict(chain(member))
        combined.update(magic(entry.origin.path))
        combined.update(entry.vars)
        for layer in files("host", name):
            combined.update(layer)
        hosts[name] = ResolvedHost(name, entry.origin, combined, member)
        members["all"].append(name)
        for group in member:
            members.setdefault(group, []).append(name)
    for group in groups:
        members.setdefault(group, [])
    return Resolved(hosts, members)
