"""A YAML inventory file, read as ansible-core's ``yaml`` inventory plugin reads it.

Shape::

    all:
      vars: {...}                 # inherited by every host
      hosts:
        NAME: {ansible_host: ..., virt_class: ..., baseline: ...}
      children:
        GROUP: {vars: {...}, hosts: {...}, children: {...}}

Every top-level key is a group; a group's ``hosts``, ``children`` and ``vars`` are
read in the order they are written; a host key may be a pattern
(``www[01:20].example.com``, ``db:2222``: :mod:`.patterns`). What Ansible skips with
a warning (a key other than those three, a group that is not a mapping, a key
written twice: the last one wins) ringbench skips with the same warning. The
document is composed into nodes, never constructed whole: every value keeps its
line, is built only when read (:func:`~runners.inventory.reading.lazy_var`), and
aliases are walked once per name, with the entries visited bounded.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from ringbench.errors import UserError
from runners.inventory.model import InventoryData, Origin, quote
from runners.inventory.patterns import MAX_NAMES, expand_hostpattern
from runners.inventory.reading import MERGE_TAG, NULL_TAG, STR_TAG, lazy_var

MAX_ENTRIES = 200_000  # mapping entries walked, an alias counting each time it is used
GROUP_KEYS = ("hosts", "children", "vars")

Entry = tuple[str, yaml.Node, int]  # key, value node, line


class _Reader:
    def __init__(self, data: InventoryData, path: Path) -> None:
        self.data = data
        self.path = path
        self.walked: set[tuple[str, int]] = set()
        self.entries = 0
        self.names = 0  # host names the patterns expanded to, bounded as INI's

    def origin(self, line: int) -> Origin:
        return Origin(self.path, line)

    def fail(self, line: int, message: str) -> UserError:
        return self.origin(line).error(message)

    def warn(self, line: int, message: str) -> None:
        self.data.warnings.append(f"{self.origin(line)}: {message}")

    def is_mapping(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.MappingNode)

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG

    def mapping(
        self, node: yaml.Node, what: str, merging: frozenset[int] = frozenset()
    ) -> list[Entry]:
        """``(key, value node, line)`` of a mapping, ``<<`` merges resolved; a key written
        twice: the last, with a warning (Ansible's default)."""
        assert isinstance(node, yaml.MappingNode)
        self.entries += len(node.value)
        if self.entries > MAX_ENTRIES:
            raise self.fail(
                node.start_mark.line + 1,
                f"the inventory expands to over {MAX_ENTRIES} entries (through YAML "
                "aliases?): write it out plainly",
            )
        explicit: dict[str, Entry] = {}
        merged: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(line, f"{what}: a key is a list or a mapping: use a plain name")
            if key_node.tag == MERGE_TAG:
                for key, item in self.merge(value_node, what, merging | {id(node)}, line):
                    merged.setdefault(key, item)
                continue
            key = str(key_node.value)
            if key in explicit:
                self.warn(
                    line,
                    f"{quote(key)} appears twice in {what} (line {explicit[key][2]} and "
                    "here): the last one is used, as Ansible uses it: keep one",
                )
                del explicit[key]
            explicit[key] = (key, value_node, line)
        return [*(v for k, v in merged.items() if k not in explicit), *explicit.values()]

    def merge(
        self, node: yaml.Node, what: str, merging: frozenset[int], line: int
    ) -> list[tuple[str, Entry]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[tuple[str, Entry]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode) or id(source) in merging:
                raise self.fail(
                    line,
                    f"'<<' in {what} must merge other mappings (*ALIAS or [*A, *B]): "
                    "fix the merge key",
                )
            out.extend((item[0], item) for item in self.mapping(source, what, merging))
        return out

    def section(self, node: yaml.Node, what: str, line: int) -> list[Entry] | None:
        """A group's ``hosts``/``children``/``vars``: its entries, None when empty. A
        single name stands for ``{NAME: null}``, as in Ansible."""
        if self.is_null(node):
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG:
            empty = yaml.ScalarNode(NULL_TAG, "", node.start_mark, node.end_mark)
            return [(str(node.value), empty, line)]
        if not self.is_mapping(node):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else quote(str(node.value))
            raise self.fail(
                node.start_mark.line + 1,
                f"{what} must be a mapping of 'NAME: ...' lines, not {kind}",
            )
        return self.mapping(node, what)

    def group(self, name: str, node: yaml.Node, line: int) -> str | None:
        """Read group ``name``; None when it is skipped (not a mapping), as in Ansible."""
        if not (self.is_mapping(node) or self.is_null(node)):
            self.warn(
                line, f"{quote(name)} is not a group (not a mapping): skipped, as Ansible skips it"
            )
            return None
        self.data.add_group(name, self.origin(line))
        if self.is_null(node) or (name, id(node)) in self.walked:
            return name  # empty, or an alias already walked under this name
        self.walked.add((name, id(node)))
        what = f"group {quote(name)}"
        for key, value, key_line in self.mapping(node, what):
            if key not in GROUP_KEYS:
                close = difflib.get_close_matches(key, GROUP_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.warn(
                    key_line,
                    f"unknown key {quote(key)} in {what}{hint}: skipped, as Ansible skips "
                    "it: only hosts, children and vars are read",
                )
                continue
            entries = self.section(value, f"{key} of {what}", key_line)
            if entries is None:
                continue
            if key == "vars":
                for var, var_node, _ in entries:
                    self.data.set_group_variable(name, var, lazy_var(var_node, self.path))
            elif key == "children":
                for child, child_node, child_line in entries:
                    added = self.group(child, child_node, child_line)
                    if added is None:
                        continue
                    try:
                        self.data.add_child(name, added)
                    except ValueError:
                        raise self.fail(
                            child_line,
                            f"group {quote(added)} under {quote(name)} makes the groups "
                            "contain each other: remove one of these children entries",
                        ) from None
            else:
                for pattern, host_node, host_line in entries:
                    self.hosts(name, pattern, host_node, host_line)
        return name

    def hosts(self, group: str, pattern: str, node: yaml.Node, line: int) -> None:
        names, port = expand_hostpattern(
            pattern, self.origin(line), limit=max(1, MAX_NAMES - self.names)
        )
        self.names += len(names)
        what = f"host {quote(pattern)}"
        if self.is_null(node):
            entries: list[Entry] = []
        elif self.is_mapping(node):
            entries = self.mapping(node, what)
        else:
            raise self.fail(
                line, f"{what} must be a mapping of 'KEY: VALUE' lines (or empty), not a value"
            )
        for name in names:
            self.data.add_host(name, self.origin(line), group=group, port=port)
            for key, value_node, _ in entries:
                self.data.set_host_variable(name, key, lazy_var(value_node, self.path))


def read_yaml_inventory(data: InventoryData, path: Path, root: yaml.Node) -> None:
    """Read the YAML inventory ``root`` (composed from ``path``) into ``data``."""
    reader = _Reader(data, path)
    line = root.start_mark.line + 1
    if not reader.is_mapping(root):
        raise reader.fail(
            line,
            "the inventory's top level must be a mapping of groups ('all:', then "
            "'hosts:'), not " + ("a list" if isinstance(root, yaml.SequenceNode) else "a value"),
        )
    try:
        for name, node, group_line in reader.mapping(root, "the inventory's top level"):
            reader.group(name, node, group_line)
    except RecursionError:
        raise reader.fail(line, "groups nested too deeply: flatten the children") from None
