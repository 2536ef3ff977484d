"""Reading an inventory file: bytes -> YAML nodes -> groups -> each host's variables.

The YAML is only composed into nodes, never constructed into Python objects,
so every value keeps its line, anchors and aliases resolve without being
expanded, and no tag in the file can run code. The file size, the nesting and
the entries visited through aliases are bounded. Every error is a
:class:`UserError` of one line, ``PATH:LINE: what is wrong: what to do``.

Variables follow Ansible's precedence: groups from the shallowest to the
deepest (by name within a depth), then the host's own variables. Of the
variables ringbench does not read, only passwords are kept, and only as their
name and line (never their value), for :mod:`runners.inventory` to refuse.
"""

from __future__ import annotations

import difflib
import graphlib
import hashlib
import itertools
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ringbench.errors import UserError

MAX_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 200_000  # mapping entries walked, an alias counting each time it is used
STD_TAGS = "tag:yaml.org,2002:"
NULL_TAG, MERGE_TAG = STD_TAGS + "null", STD_TAGS + "merge"

HOST_KEYS = (  # the variables ringbench reads
    "ansible_host",
    "ansible_user",
    "ansible_port",
    "ansible_ssh_private_key_file",
    "ansible_connection",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "virt_class",
    "machine",
    "baseline",
    "hypervisor",
    "placement",
    "harness_cpu",
    "controller_cpus",
    "disk",
)
ALIASES = {
    "ansible_ssh_host": "ansible_host",
    "ansible_ssh_user": "ansible_user",
    "ansible_ssh_port": "ansible_port",
    "ansible_private_key_file": "ansible_ssh_private_key_file",
}
# Every password Ansible knows: the connection's (ansible_password, ansible_ssh_pass,
# ansible_paramiko_pass...), become's (ansible_become_pass/password, ansible_sudo_pass,
# ansible_su_pass...) and a key's passphrase. ringbench reads none of them.
PASSWORD_KEY = re.compile(r"ansible_(?:\w+_)?pass(?:wd|word|phrase)?")
ANSIBLE_VARS = frozenset(
    {  # Ansible's own, accepted and ignored (not typos of the keys above)
        "ansible_become",
        "ansible_become_method",
        "ansible_become_user",
        "ansible_become_exe",
        "ansible_become_flags",
        "ansible_python_interpreter",
        "ansible_shell_type",
        "ansible_shell_executable",
        "ansible_ssh_executable",
        "ansible_ssh_pipelining",
        "ansible_pipelining",
        "ansible_scp_extra_args",
        "ansible_sftp_extra_args",
        "ansible_ssh_transfer_method",
        "ansible_ssh_retries",
        "ansible_ssh_timeout",
        "ansible_timeout",
        "ansible_host_key_checking",
        "ansible_network_os",
        "ansible_user_dir",
        "ansible_remote_tmp",
    }
)
GROUP_KEYS = ("hosts", "children", "vars")
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SYNTAX_HINTS = (  # a fragment of PyYAML's problem -> what to do
    ("'\\t'", "indent with spaces, not tabs"),
    ("expected ',' or ']'", "close the '[' or separate the items with ','"),
    ("expected ',' or '}'", "close the '{' or separate the entries with ','"),
    ("but found '<stream end>'", "close the bracket or finish the entry"),
    (
        "mapping values are not allowed",
        "indent the line under its key, or quote a value containing ': '",
    ),
    ("expected <block end>", "line this entry up with the entries before it"),
    ("could not find expected ':'", "write 'KEY: VALUE'"),
    ("undefined alias", "define the anchor '&NAME' before using '*NAME'"),
    ("duplicate anchor", "give each anchor its own name"),
    ("single document", "keep one document: remove the '---' line"),
    ("quoted scalar", "close the quotes"),
)


def quote(text: str, limit: int = 60) -> str:
    """``'text'``, shortened: user text echoed in a one-line message."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def located(path: Path, line: int, message: str) -> UserError:
    """The one-line error ``PATH:LINE: message``."""
    return UserError(" ".join(f"{path}:{line}: {message}".splitlines()))


@dataclass(frozen=True, slots=True)
class Setting:
    value: str  # the scalar's text; ports are checked to be 1..65535; "" for a password
    line: int
    where: str = ""  # "host 'NAME'" or "vars of group 'NAME'": set for passwords only


def is_password(key: str) -> bool:
    """``key`` names a password (or passphrase) of Ansible's."""
    return PASSWORD_KEY.fullmatch(key) is not None


@dataclass
class _Group:
    vars: dict[str, Setting] = field(default_factory=dict)
    parents: dict[str, int] = field(default_factory=dict)  # parent -> line of the entry


@dataclass
class PendingHost:
    name: str
    line: int
    vars: dict[str, Setting] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


def read_yaml(path: Path) -> tuple[yaml.Node | None, str]:
    """The file's YAML document as nodes (``None`` when it holds only comments), and the
    SHA-256 of the bytes it was read from."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise located(path, 1, f"is {kind}: give the path of the YAML inventory file")
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise located(
            path,
            1,
            f"cannot read the inventory ({exc.strerror or exc}): check the "
            "path and its permissions",
        ) from None
    if len(data) > MAX_BYTES:
        raise located(
            path,
            1,
            f"is larger than {MAX_BYTES // 2**20} MiB: an inventory is a "
            "short YAML file, check the path",
        )
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise located(
            path,
            line,
            "holds binary data (a NUL byte), not YAML text: give the "
            "inventory file, saved as UTF-8",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise located(
            path,
            line,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x}): save the inventory as UTF-8",
        ) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), hashlib.sha256(data).hexdigest()
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark else 1
        if exc.context and not exc.context.startswith("while"):
            problem = f"{exc.context}, {problem}"
        elif exc.context and context and context.line + 1 != line:
            problem += f" ({exc.context} from line {context.line + 1})"
        hint = next(
            (h for frag, h in SYNTAX_HINTS if frag in f"{exc.context} {problem}"),
            "fix the YAML here",
        )
        raise located(path, line, f"YAML syntax error: {problem}: {hint}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise located(
            path,
            line,
            f"YAML does not allow the character U+{exc.character:04X} "
            "(a control character): remove it",
        ) from None
    except yaml.YAMLError as exc:
        raise located(path, 1, f"YAML error: {exc}: fix the YAML") from None
    except RecursionError:
        raise located(
            path, 1, "YAML nested too deeply to read: flatten the brackets or indentation"
        ) from None


class Walker:
    """Walks the YAML groups into :class:`PendingHost` entries with resolved variables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group()}
        self.hosts: dict[str, PendingHost] = {}
        self.walked: set[tuple[str, int]] = set()
        self.entries = 0

    def fail(self, line: int, message: str) -> UserError:
        return located(self.path, line, message)

    def mapping(
        self, node: yaml.Node, what: str, merging: frozenset[int] = frozenset()
    ) -> list[tuple[str, yaml.Node, int]]:
        """``(key, value node, line)`` of a mapping; ``<<`` merges resolved, empty for null."""
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
            return []
        if not isinstance(node, yaml.MappingNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else f"{quote(node.value)}"
            raise self.fail(
                node.start_mark.line + 1,
                f"{what} must be a mapping of 'NAME: ...' lines, not {kind}",
            )
        self.entries += len(node.value)
        if self.entries > MAX_ENTRIES:
            raise self.fail(
                node.start_mark.line + 1,
                f"the inventory expands to over "
                f"{MAX_ENTRIES} entries (through YAML "
                "aliases?): write it out plainly",
            )
        explicit: dict[str, tuple[str, yaml.Node, int]] = {}
        merged: dict[str, tuple[str, yaml.Node, int]] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(line, f"{what}: a key is a list or a mapping: use a plain name")
            if key_node.tag == MERGE_TAG:
                for key, item in self.merge(value_node, what, merging | {id(node)}, line):
                    merged.setdefault(key, item)
                continue
            key = key_node.value
            if key in explicit:
                raise self.fail(line, f"{quote(key)} appears twice in {what}: keep one")
            explicit[key] = (key, value_node, line)
        return [*(v for k, v in merged.items() if k not in explicit), *explicit.values()]

    def merge(
        self, node: yaml.Node, what: str, merging: frozenset[int], line: int
    ) -> list[tuple[str, tuple[str, yaml.Node, int]]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[tuple[str, tuple[str, yaml.Node, int]]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode) or id(source) in merging:
                raise self.fail(
                    line,
                    f"'<<' in {what} must merge other mappings (*ALIAS "
                    "or [*A, *B]): fix the merge key",
                )
            out.extend((item[0], item) for item in self.mapping(source, what, merging))
        return out

    def value(self, key: str, node: yaml.Node, line: int, where: str) -> str:
        """The text of one of ringbench's variables, checked."""
        if not isinstance(node, yaml.ScalarNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise self.fail(
                line, f"{quote(key)} in {where} must be one value, not {kind}: write '{key}: VALUE'"
            )
        if node.tag == NULL_TAG or not (str(node.value).strip() or key.endswith("_args")):
            raise self.fail(line, f"{quote(key)} in {where} is empty: give it a value or remove it")
        if not node.tag.startswith(STD_TAGS):
            raise self.fail(
                line,
                f"{quote(key)} in {where} has the tag {quote(node.tag)}: "
                "ringbench reads plain values only (no vault or custom tags)",
            )
        text = str(node.value).strip()
        if ALIASES.get(key, key) == "ansible_port":
            if not re.fullmatch(r"[0-9]{1,9}", text):
                raise self.fail(
                    line,
                    f"{quote(key)} in {where} must be an integer port, got "
                    f"{quote(text)}: write e.g. '{key}: 22'",
                )
            if not 1 <= int(text) <= 65535:
                raise self.fail(
                    line,
                    f"{quote(key)} {text} in {where} is out of range: use a port from 1 to 65535",
                )
        return text

    def variables(self, node: yaml.Node, where: str) -> dict[str, Setting]:
        out: dict[str, Setting] = {}
        for key, value_node, line in self.mapping(node, where):
            name = ALIASES.get(key, key)
            if name in out:
                raise self.fail(line, f"{quote(key)} in {where} repeats {quote(name)}: keep one")
            if name in HOST_KEYS:
                out[name] = Setting(self.value(key, value_node, line, where), line)
            elif is_password(key):  # its name and line only: refused per host
                out[name] = Setting("", line, where)
            elif key not in ANSIBLE_VARS:
                known = [*HOST_KEYS, *ALIASES, *ANSIBLE_VARS]
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
                if close and close[0] not in ANSIBLE_VARS:
                    raise self.fail(
                        line, f"unknown key {quote(key)} in {where}: did you mean '{close[0]}'?"
                    )
        return out

    def group(self, name: str, node: yaml.Node, parent: str | None, line: int) -> None:
        group = self.groups.setdefault(name, _Group())
        if parent is not None:
            group.parents.setdefault(parent, line)
        if (name, id(node)) in self.walked:  # an alias already walked under this name
            return
        self.walked.add((name, id(node)))
        what = f"group {quote(name)}"
        items = self.mapping(node, what)
        for key, _node, key_line in items:
            if key not in GROUP_KEYS:
                close = difflib.get_close_matches(key, GROUP_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "use hosts, children or vars"
                raise self.fail(key_line, f"unknown key {quote(key)} in {what}: {hint}")
        for key, value_node, _ in items:
            if key == "vars":
                group.vars.update(self.variables(value_node, f"vars of {what}"))
            elif key == "hosts":
                for host, host_node, host_line in self.mapping(value_node, f"hosts of {what}"):
                    self.check_host_name(host, host_line)
                    pending = self.hosts.setdefault(host, PendingHost(host, host_line))
                    pending.vars.update(self.variables(host_node, f"host {quote(host)}"))
                    pending.groups.append(name)
            elif key == "children":
                for child, child_node, child_line in self.mapping(
                    value_node, f"children of {what}"
                ):
                    self.group(child, child_node, name, child_line)

    def check_host_name(self, name: str, line: int) -> None:
        if HOST_NAME.fullmatch(name):
            return
        if re.search(r"\[.*:.*\]", name):
            raise self.fail(
                line, f"host {quote(name)}: host ranges are not supported: list each host"
            )
        raise self.fail(
            line,
            f"host name {quote(name)} cannot name result files: use letters, "
            "digits, '.', '_' and '-', starting with a letter or digit",
        )

    def walk(self, root: yaml.Node) -> list[PendingHost]:
        """Every host, its variables resolved through its groups, in file order."""
        try:
            for name, node, line in self.mapping(root, "the inventory's top level"):
                self.group(name, node, None if name == "all" else "all", line)
        except RecursionError:
            raise self.fail(1, "groups nested too deeply: flatten the children") from None
        depth = self.depths()
        for pending in self.hosts.values():
            member = self.ancestors(pending.groups)
            own = pending.vars
            pending.vars = {}
            for group in sorted(member, key=lambda g: (depth[g], g)):
                pending.vars.update(self.groups[group].vars)
            pending.vars.update(own)
            pending.groups = sorted(member - {"all"}, key=lambda g: (depth[g], g))
        return list(self.hosts.values())

    def ancestors(self, groups: list[str]) -> set[str]:
        found, todo = set(), list(groups)
        while todo:
            group = todo.pop()
            if group not in found:
                found.add(group)
                todo.extend(self.groups[group].parents)
        return found

    def depths(self) -> dict[str, int]:
        """Each group's depth below ``all`` (the longest path), refusing cycles."""
        sorter = graphlib.TopologicalSorter({g: list(v.parents) for g, v in self.groups.items()})
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
            line = max(self.groups[c].parents[p] for p, c in itertools.pairwise(cycle))
            if len(cycle) == 2:
                raise self.fail(
                    line,
                    f"group {quote(cycle[0])} contains itself: remove it from its own children",
                ) from None
            raise self.fail(
                line,
                "groups contain each other: "
                f"{' -> '.join(quote(g) for g in cycle)}: remove one of "
                "these children entries",
            ) from None
        depth: dict[str, int] = {}
        for group in order:
            depth[group] = max((depth[p] + 1 for p in self.groups[group].parents), default=0)
        return depth
