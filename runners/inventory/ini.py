"""An INI inventory file, read as ansible-core's ``ini`` inventory plugin reads it.

Shape::

    host0                          # before any section: the 'ungrouped' group
    [web]                          # hosts of 'web', one per line, a pattern allowed
    www[01:20:2].example.com ansible_user=deploy
    db.example.com:2222 virt_class=vm-cpu-assisted  # a port after the name
    [web:vars]                     # one KEY=VALUE a line, for every host of 'web'
    ansible_port=22
    [fleet:children]               # groups under 'fleet' (declared here or later)
    web

Lines are stripped; blank lines and lines starting with ``#`` or ``;`` are skipped. A
host line is split as a shell would (``shlex``, a ``#`` starts a comment), its first
word a host pattern (:mod:`.patterns`), the others ``KEY=VALUE``. Every value, on a
host line or in a ``:vars`` section, is typed as Ansible types it
(``ast.literal_eval``: ``22`` a number, ``[1, 2]`` a list, ``True`` a boolean,
``'22'`` or ``0022`` text; anything that is not a Python literal stays text, in a
``:vars`` section a trailing ``# comment`` included unless the value is a literal).
A ``[g:vars]`` or ``[g:children]`` entry may name a group declared further down; one
never declared is an error naming the line where it was used, as in Ansible. Group
names are kept as written (Ansible warns about characters that are not letters,
digits or ``_``, and so does this reader, once per file).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ringbench.errors import UserError
from runners.inventory.model import InventoryData, Origin, Var, quote
from runners.inventory.patterns import MAX_NAMES, expand_hostpattern, is_ipv6

KINDS = ("hosts", "children", "vars")
COMMENT_MARKS = ("#", ";")
# [NAME] or [NAME:KIND], then only blanks or a '#' comment: Ansible's section header.
_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?$")  # a [NAME:children] line
_UNSAFE_GROUP_CHARS = re.compile(r"^[\d\W]|\W")  # what Ansible warns about in group names
_SHELL_SPECIAL = ('"', "'", "\\", "#")  # without these, shlex splits at blanks only
_BLANKS = re.compile(r"[^ \t\r\n]+")  # shlex's whitespace
_LITERAL_WORDS = ("True", "False", "None")
_QUOTES = frozenset("'\"")
_SHORT = 1000  # literal_eval fails on a word this short without recursing too deep
_PLAIN_INT = re.compile(r"(?:0|[1-9][0-9]{0,17})$")
_NUMBERS_NOT_A_LITERAL = re.compile(r"[0-9]+(?:\.[0-9]+){2,}$|0+[1-9][0-9]*$")
# One piece of a shell word: plain characters, '...', "..." (where only \" and \\ are
# escapes), a backslash and the character it escapes; or blanks, or a comment's '#'.
_SHELL_PIECE = re.compile(
    r"""([^ \t\r\n'"\\#]+)|'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([ \t\r\n]+)|(\#)""", re.S
)
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\(["\\])')


@dataclass(slots=True)
class _Pending:
    """A group used before it is declared: where first, how, and under which parents."""

    line: int
    kind: str  # "vars" ([g:vars] first) or "children" (named in [p:children])
    parents: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, data: InventoryData, path: Path) -> None:
        self.data = data
        self.path = path
        self.line = 0
        self.group = "ungrouped"  # as though the file began with [ungrouped]
        self.kind = "hosts"
        self.pending: dict[str, _Pending] = {}
        self.names = 0  # host names expanded so far (bounded by MAX_NAMES)
        self.odd_groups: list[tuple[str, int]] = []
        self.origin = Origin(path)  # the current host line's

    def fail(self, message: str, line: int | None = None) -> UserError:
        return Origin(self.path, self.line if line is None else line).error(message)

    def read(self, text: str) -> None:
        if text.startswith("\ufeff"):
            raise self.fail(
                "the file starts with a byte order mark (U+FEFF), which Ansible reads as "
                "part of the first line: save the file as UTF-8 without BOM",
                1,
            )
        with warnings.catch_warnings():
            # ast.literal_eval warns of invalid escapes ('\d') in quoted values: Ansible
            # silences them too. Set once for the file: it costs more than the parse.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.read_lines(text)
        self.check_pending()
        self.warn_odd_groups()

    def read_lines(self, text: str) -> None:
        for self.line, raw in enumerate(text.splitlines(), 1):  # Ansible's line count
            line = raw.strip()
            if not line or line.startswith(COMMENT_MARKS):
                continue
            section = _SECTION.match(line)
            if section is not None:
                self.section(section.group(1), section.group(2) or "hosts")
            elif line.startswith("[") and line.endswith("]"):
                hint = "write [NAME], [NAME:vars] or [NAME:children]"
                if is_ipv6(line[1:-1]):
                    hint = f"an IPv6 host in brackets needs a port ({line}:22), else write it bare"
                raise self.fail(
                    f"section header {quote(line)} is not valid: a group name has no "
                    f"spaces, ':' or ']'; {hint}"
                )
            elif self.kind == "hosts":
                self.host_line(line)
            elif self.kind == "vars":
                self.variable_line(line)
            else:
                self.child_line(line)

    def section(self, name: str, kind: str) -> None:
        self.group, self.kind = name, kind
        if kind not in KINDS:
            raise self.fail(
                f"section [{name}:{kind}] has unknown type {kind!r}: write [{name}], "
                f"[{name}:vars] or [{name}:children]"
            )
        if _UNSAFE_GROUP_CHARS.search(name):
            self.odd_groups.append((name, self.line))
        if name not in self.data.groups:
            # [g] and [g:children] declare a group; [g:vars] needs one declared elsewhere
            # (before or after), and a group named in [p:children] already waits.
            if kind == "vars" and name not in self.pending:
                self.pending[name] = _Pending(self.line, "vars")
            self.data.add_group(name, Origin(self.path, self.line))
        waiting = self.pending.get(name)
        if waiting is not None and kind != "vars":
            if waiting.kind == "children":
                self.adopt(name)
            else:
                del self.pending[name]

    def adopt(self, name: str) -> None:
        """The group ``name``, now declared, under every parent that named it (and, as
        Ansible does, those parents under theirs when they too were waiting)."""
        stack = [(name, iter(list(self.pending[name].parents)))]
        while stack:
            child, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                self.pending.pop(child, None)
                continue
            self.add_child(parent, child)
            waiting = self.pending.get(parent)
            on_stack = any(parent == g for g, _ in stack)
            if waiting is not None and waiting.kind == "children" and not on_stack:
                stack.append((parent, iter(list(waiting.parents))))

    def add_child(self, parent: str, child: str) -> None:
        try:
            self.data.add_child(parent, child)
        except ValueError:
            if parent == child:
                raise self.fail(
                    f"group {child!r} is listed among its own children: remove this line"
                ) from None
            raise self.fail(
                f"group {child!r} under {parent!r} makes the two groups contain each "
                f"other ({parent!r} is already inside {child!r}): remove one of the two "
                "children entries"
            ) from None

    def child_line(self, line: str) -> None:
        m = _GROUP_NAME.match(line)
        if m is None:
            raise self.fail(
                f"{quote(line)} is not a group name: a line of [{self.group}:children] "
                "names one group (no spaces, ':' or ']'), with at most a '#' comment after it"
            )
        child = m.group(1)
        if child in self.data.groups:
            self.add_child(self.group, child)
        elif child in self.pending:
            self.pending[child].parents.append(self.group)
        else:
            self.pending[child] = _Pending(self.line, "children", [self.group])

    def variable_line(self, line: str) -> None:
        if "=" not in line:
            raise self.fail(
                f"{quote(line)} is not a variable: a line of [{self.group}:vars] is KEY=VALUE"
            )
        key, value = (part.strip() for part in line.split("=", 1))
        var = Var(self.value(value), Origin(self.path, self.line))
        self.data.set_group_variable(self.group, key, var)

    def host_line(self, line: str) -> None:
        words = self.split(line)
        try:
            names, port = self.expand(words[0])
        except UserError:
            if _SECTION.match(words[0]):  # "[g] ; comment": a header takes only '#'
                raise self.fail(
                    f"{quote(line)} is neither a section header nor a host: a header is "
                    "[NAME], [NAME:vars] or [NAME:children], followed by nothing but a "
                    "'#' comment"
                ) from None
            raise
        origin = self.origin
        variables: dict[str, Var] = {}
        for word in words[1:]:
            if "=" not in word:
                raise self.fail(
                    f"{quote(word)} after the host is not KEY=VALUE: write KEY=VALUE, "
                    "quoting a value with spaces (KEY=\"a b\"), or start a comment with '#'"
                )
            key, value = word.split("=", 1)
            variables[key] = Var(self.value(value), origin)
        groups = self.data.groups
        for name in names:
            if not name:
                raise self.fail("the host name is empty: remove the empty quotes")
            self.data.add_host(name, origin, group=self.group, port=port or None)
            # Ansible's set_variable looks for a group of that name first
            assign = self.data.set_group_variable if name in groups else self.data.set_host_variable
            for key, var in variables.items():
                assign(name, key, var)

    def split(self, line: str) -> list[str]:
        if not any(special in line for special in _SHELL_SPECIAL):
            return _BLANKS.findall(line)  # nothing shlex treats apart: split at blanks
        try:
            words = shell_words(line)
        except ValueError as exc:
            raise self.fail(
                f"this host line cannot be split into words ({exc}): close the quotes, or "
                "write a backslash as \\\\"
            ) from None
        if not words:
            raise self.fail("this host line holds no host name: write the host first")
        return words

    def expand(self, pattern: str) -> tuple[list[str], int | None]:
        self.origin = Origin(self.path, self.line)
        names, port = expand_hostpattern(pattern, self.origin, limit=MAX_NAMES - self.names)
        self.names += len(names)
        if pattern.strip().endswith(":") and port is None:
            raise self.fail(
                f"host pattern {quote(pattern)} ends in ':', which Ansible keeps for a "
                "port: write HOST:PORT with the port number, or remove the ':'"
            )
        if "---" in pattern and any(name.strip() == "---" for name in names):
            raise self.fail(
                "'---' starts a YAML document: this file is read as INI because it is not "
                "a YAML inventory (a mapping of groups); fix the YAML and name the file "
                ".yml or .yaml"
            )
        return names, port

    def value(self, text: str) -> object:
        """``text`` typed as Ansible's ``_parse_value`` types it."""
        first = text[:1]
        if (
            (first.isalpha() or first == "_")
            and len(text) <= _SHORT
            and not text.startswith(_LITERAL_WORDS)
            and _QUOTES.isdisjoint(text[:3])
        ):
            # A word that is not True/False/None nor a string with a prefix (b'', r"")
            # starts no Python literal: literal_eval fails on it (the common case, fast).
            return text
        if _PLAIN_INT.match(text):
            return int(text)
        if _NUMBERS_NOT_A_LITERAL.match(text):
            return text  # an IPv4 address, a version, 0022: a syntax error to Python
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text  # Ansible's rule: what is not a Python literal is text
        except (TypeError, MemoryError, RecursionError) as exc:
            reason = "nested too deeply" if not isinstance(exc, TypeError) else str(exc)
            raise self.fail(
                f"the value {quote(text)} is a Python literal Ansible cannot build "
                f"({reason}): quote it (KEY=\"'...'\") to keep it as text"
            ) from None
        return _plain(value)

    def check_pending(self) -> None:
        for name, waiting in self.pending.items():  # the first, as Ansible reports
            if waiting.kind == "vars":
                raise self.fail(
                    f"section [{name}:vars] is for group {name!r}, which no [{name}] or "
                    f"[{name}:children] section declares: add one (it may be empty), or "
                    "fix the name",
                    waiting.line,
                )
            raise self.fail(
                f"[{waiting.parents[0]}:children] names group {name!r}, which no [{name}] "
                f"or [{name}:children] section declares: add one (it may be empty), or "
                "fix the name",
                waiting.line,
            )

    def warn_odd_groups(self) -> None:
        if not self.odd_groups:
            return
        name, line = self.odd_groups[0]
        more = len({n for n, _ in self.odd_groups}) - 1
        others = f" (and {more} other group{'s' if more > 1 else ''})" if more else ""
        self.data.warnings.append(
            f"{Origin(self.path, line)}: group name {name!r}{others} holds characters "
            "other than letters, digits and '_' (or starts with a digit): kept as "
            "written, as Ansible keeps it; Ansible warns about it too"
        )


def shell_words(line: str) -> list[str]:
    """``shlex.split(line, comments=True)``, the same words and the same errors, without
    its character-at-a-time loop (tests/test_inventory_ini.py holds the two together)."""
    words: list[str] = []
    word: str | None = None  # None: between words ('' is a word: empty quotes)
    pos = 0
    while pos < len(line):
        m = _SHELL_PIECE.match(line, pos)
        if m is None:
            if line[pos] == "\\" and pos == len(line) - 1:
                raise ValueError("No escaped character")
            raise ValueError("No closing quotation")
        plain, single, double, escaped, blanks, comment = m.groups()
        if comment is not None:
            break
        if blanks is not None:
            if word is not None:
                words.append(word)
                word = None
        elif double is not None:
            word = (word or "") + _DOUBLE_QUOTED_ESCAPE.sub(r"\1", double)
        else:
            piece = next(p for p in (plain, single, escaped) if p is not None)
            word = (word or "") + piece
        pos = m.end()
    if word is not None:
        words.append(word)
    return words


def _plain(value: object) -> object:
    """A literal as Ansible keeps it: tuples and sets as lists, bytes as text,
    ``...`` and complex numbers as their text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    return value


def read_ini(data: InventoryData, path: Path, text: str) -> None:
    """Read the INI inventory ``text`` (of ``path``) into ``data``, as Ansible's ``ini``
    plugin does; every error is one line ``PATH:LINE: what is wrong: what to do``."""
    _Reader(data, path).read(text)
