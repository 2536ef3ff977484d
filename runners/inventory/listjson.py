"""The JSON that ``ansible-inventory --list`` and inventory scripts print, read as
ansible-core's ``script`` inventory plugin reads it::

    {"_meta": {"hostvars": {"h1": {"ansible_host": "10.0.0.1"}}},
     "all": {"children": ["web", "ungrouped"], "vars": {"ansible_user": "ops"}},
     "web": {"hosts": ["h1", "h2"], "vars": {"http_port": 80}, "children": ["db"]},
     "db": ["d1", "d2"]}

Every top-level key but ``_meta`` is a group, in the order written; a group given as a
list is its hosts; a mapping with none of ``hosts``, ``vars`` and ``children`` is a
group that is its own sole host, with that mapping as its variables (Ansible's
deprecated "malformed group"). ``hosts`` and ``children`` are lists of names (host
names are not patterns: ``web[1:3]`` is one host), ``vars`` a mapping. A host's
variables come from ``_meta.hostvars`` (a host listed there but in no group is left
out, as Ansible leaves it out). JSON objects ``{"__ansible_unsafe": TEXT}`` are
:class:`~runners.inventory.model.Unsafe` strings and ``{"__ansible_vault": ...}``
:class:`~runners.inventory.model.Tagged` ``!vault`` values, as Ansible's JSON decoder
reads them.

Two differences from Ansible, both stated in warnings or messages: without
``_meta`` Ansible runs the script again with ``--host NAME`` for each host; ringbench
runs nothing, and the hosts get only their groups' variables. And ringbench also
reads a static file of this shape (``inventory.json``), which Ansible's ``yaml``
plugin refuses (its ``hosts`` must be a mapping): ``ansible-inventory --list > F``
gives an inventory ringbench reads as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from runners.inventory.model import UNKNOWN_LINE, InventoryData, Origin, Tagged, Unsafe, Var

META = "_meta"
SECTIONS = ("hosts", "vars", "children")
VAULT_TAG = "!vault"
JSON_STARTS = frozenset('{["-0123456789tfnIN')  # what a JSON document can start with


def _markers(pairs: dict[str, object]) -> object:
    """Ansible's legacy JSON profile: the two objects that stand for a tagged value."""
    if "__ansible_unsafe" in pairs:
        text = pairs["__ansible_unsafe"]
        if not isinstance(text, str):
            raise ValueError("__ansible_unsafe is not a string")  # not JSON Ansible reads
        return Unsafe(text)
    if "__ansible_vault" in pairs:
        return Tagged(VAULT_TAG)
    return pairs


def decode_json(text: str) -> object | None:
    """``text`` as Ansible's JSON decoder reads it (markers included); ``None`` when it
    is not JSON (or is JSON ``null``): the caller reads it as YAML then, as Ansible."""
    if text.lstrip()[:1] not in JSON_STARTS:
        return None  # cannot start a JSON document: spare the decoder the attempt
    try:
        value: object = json.loads(text, object_hook=_markers)
    except (ValueError, RecursionError):
        return None
    return value


def looks_like_list_json(value: object) -> bool:
    """``value`` (a parsed document) has the shape of ``--list`` JSON: a ``_meta`` key,
    or a group whose ``hosts`` or ``children`` is a list."""
    if not isinstance(value, dict):
        return False
    if META in value:
        return True
    return any(
        isinstance(group, dict)
        and (isinstance(group.get("hosts"), list) or isinstance(group.get("children"), list))
        for group in value.values()
    )


class _Lines:
    """Where each part of the document was written, when it was read from a file whose
    YAML nodes are at hand (line 0, unknown, for a program's output). Each mapping is
    indexed once, when first asked about (a ``_meta.hostvars`` of 30,000 hosts)."""

    def __init__(self, path: Path, node: yaml.Node | None) -> None:
        self.path = path
        self.node = node
        self._index: dict[int, dict[str, tuple[int, yaml.Node]]] = {}
        self._unknown = Origin(path, UNKNOWN_LINE)

    def _keys(self, node: yaml.Node | None) -> dict[str, tuple[int, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            return {}
        index = self._index.get(id(node))
        if index is None:  # the last of a repeated key wins, as in JSON
            index = self._index[id(node)] = {
                str(k.value): (int(k.start_mark.line) + 1, v)
                for k, v in node.value
                if isinstance(k, yaml.ScalarNode)
            }
        return index

    def child(self, node: yaml.Node | None, key: str) -> yaml.Node | None:
        found = self._keys(node).get(key)
        return found[1] if found else None

    def at(self, node: yaml.Node | None, key: str | None = None) -> Origin:
        """The line of ``key`` in the mapping ``node`` (of ``node`` itself without a key
        or when the key is not there)."""
        if node is None:
            return self._unknown
        found = self._keys(node).get(key) if key is not None else None
        if found:
            return Origin(self.path, found[0])
        return Origin(self.path, int(node.start_mark.line) + 1)


def read_list_json(
    data: InventoryData, path: Path, value: object, node: yaml.Node | None = None
) -> None:
    """Add the groups, hosts and variables of ``value`` (the parsed ``--list`` JSON of
    ``path``) to ``data``; ``node``, the same document composed as YAML, gives lines.

    A variable that a host or group already has with the same value keeps its origin
    (the output of ``ansible-inventory`` repeats what earlier sources gave it).
    """
    lines = _Lines(path, node)
    top = lines.at(node)
    if not isinstance(value, dict):
        raise top.error(
            f"the inventory JSON must be a mapping of groups, not {_kind(value)}: give the "
            "output of 'ansible-inventory --list'"
        )
    hostvars = _hostvars(value, lines, top)
    hosts: dict[str, None] = {}
    for name, group in value.items():
        if name != META:
            _group(data, name, group, lines, hosts)
    if hostvars is None:
        if hosts:
            data.warnings.append(
                f"{top}: no '_meta.hostvars': Ansible would run the inventory script "
                "with --host for each host, ringbench runs nothing: its hosts get only "
                "their groups' variables"
            )
        return
    meta_node = lines.child(lines.child(node, META), "hostvars")
    for host, variables in hostvars.items():
        if host not in hosts:
            data.warnings.append(
                f"{lines.at(meta_node, host)}: host {host!r} has variables in "
                "_meta.hostvars but is in no group: left out, as Ansible leaves it out"
            )
            continue
        where = lines.at(meta_node, host)
        if not isinstance(variables, dict):
            raise where.error(
                f"the variables of host {host!r} in _meta.hostvars must be a mapping, not "
                f'{_kind(variables)}: write {{"NAME": VALUE}}'
            )
        host_node = lines.child(meta_node, host)
        for key, item in variables.items():
            var = _new_var(data.hosts[host].vars, key, item, lines.at(host_node, key))
            if var is not None:
                data.set_host_variable(host, key, var)


def _hostvars(value: dict[str, object], lines: _Lines, top: Origin) -> dict[str, object] | None:
    """``_meta.hostvars`` (checked as Ansible checks it), ``None`` without ``_meta``."""
    if META not in value:
        return None
    meta = value[META]
    where = lines.at(lines.node, META) if lines.node is not None else top
    if not isinstance(meta, dict):
        raise where.error(
            f"'_meta' must be a mapping holding 'hostvars', not {_kind(meta)}: write "
            '"_meta": {"hostvars": {}}'
        )
    profile = meta.get("profile", "inventory_legacy")
    if not isinstance(profile, str) or not profile.startswith("inventory_"):
        raise where.error(
            f"'_meta.profile' {profile!r} is not an inventory profile (Ansible refuses it): "
            "remove it, or write 'inventory_legacy'"
        )
    hostvars = meta.get("hostvars")
    if not isinstance(hostvars, dict):
        raise where.error(
            f"'_meta.hostvars' must be a mapping of HOST: {{variables}}, not "
            f'{_kind(hostvars)} (Ansible refuses it): write "hostvars": {{}} when no host '
            "has variables"
        )
    return hostvars


def _group(
    data: InventoryData, name: str, group: object, lines: _Lines, hosts: dict[str, None]
) -> None:
    """Ansible's ``script`` plugin ``_parse_group``."""
    group_node = lines.child(lines.node, name)
    where = lines.at(lines.node, name)
    if not name:
        raise where.error("a group has an empty name: name it")
    data.add_group(name, where)
    nodes = {section: lines.child(group_node, section) for section in SECTIONS}
    if not isinstance(group, dict):  # a list of hosts
        group, nodes = {"hosts": group}, {"hosts": group_node}
    elif not any(section in group for section in SECTIONS):
        data.warnings.append(
            f"{where}: group {name!r} has none of hosts, vars and children: it is read as "
            "its own sole host with these variables, as Ansible reads it (deprecated): "
            'write {"hosts": [...], "vars": {...}}'
        )
        group, nodes = {"hosts": [name], "vars": group}, {"vars": group_node}
    if "hosts" in group:
        _hosts(data, name, group["hosts"], nodes.get("hosts"), lines, hosts)
    if "vars" in group:
        variables, vars_node = group["vars"], nodes.get("vars")
        if not isinstance(variables, dict):
            raise lines.at(vars_node or group_node).error(
                f"the vars of group {name!r} must be a mapping, not {_kind(variables)}: "
                'write "vars": {"NAME": VALUE}'
            )
        for key, item in variables.items():
            var = _new_var(data.groups[name].vars, key, item, lines.at(vars_node, key))
            if var is not None:
                data.set_group_variable(name, key, var)
    if "children" in group:
        _children(data, name, group["children"], nodes.get("children") or group_node, lines)


def _hosts(
    data: InventoryData,
    group: str,
    listed: object,
    node: yaml.Node | None,
    lines: _Lines,
    hosts: dict[str, None],
) -> None:
    if not isinstance(listed, list):
        raise lines.at(node).error(
            f"the hosts of group {group!r} must be a list of names, not {_kind(listed)}: "
            'write "hosts": ["NAME", ...]'
        )
    items = node.value if isinstance(node, yaml.SequenceNode) else []
    for index, host in enumerate(listed):
        at = lines.at(items[index]) if index < len(items) else lines.at(lines.node, group)
        if not isinstance(host, str) or not host:
            raise at.error(
                f"a host of group {group!r} is {_kind(host)}, not a name: quote it as a string"
            )
        hosts[host] = None
        data.add_host(host, at, group=group)


def _children(
    data: InventoryData, group: str, children: object, node: yaml.Node | None, lines: _Lines
) -> None:
    at = lines.at(node)
    if isinstance(children, dict):  # Ansible iterates what it is given: a mapping's keys
        children = list(children)
    if not isinstance(children, list):
        raise at.error(
            f"the children of group {group!r} must be a list of group names, not "
            f'{_kind(children)}: write "children": ["GROUP", ...]'
        )
    for child in children:
        if not isinstance(child, str) or not child:
            raise at.error(f"a child of group {group!r} is {_kind(child)}, not a group name")
        data.add_group(child, at)
        try:
            data.add_child(group, child)
        except ValueError as exc:
            raise at.error(f"{exc}: remove one of these children") from None


def _new_var(current: dict[str, Var], key: object, value: object, origin: Origin) -> Var | None:
    """The variable to set, ``None`` when there is none to set: a key that is not a name,
    or a value the target already has (``ansible-inventory`` repeats what earlier
    sources gave): that one keeps where it was written."""
    if not isinstance(key, str):
        return None
    old = current.get(key)
    if old is not None and type(old.value) is type(value) and old.value == value:
        return None
    return Var(value, origin)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {
        list: "a list",
        dict: "a mapping",
        str: f"the string {str(value)[:40]!r}",
        int: f"the number {value}",
        float: f"the number {value}",
    }.get(type(value), f"a {type(value).__name__}")
