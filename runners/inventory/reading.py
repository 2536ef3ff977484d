"""Reading a source's text, bounded, and its YAML as nodes that keep their lines.

Every file an inventory is made of (the inventory files, ``group_vars/`` and
``host_vars/``) is read through :func:`read_text`: at most :data:`MAX_BYTES`,
UTF-8, no NUL. YAML is composed into nodes by libyaml's C parser where PyYAML has
it (the pure-Python composer is kept for its better messages when a file is
malformed) and values are built from the nodes only when something reads them
(:func:`construct`); no tag can run code: a tag ringbench does not know
(``!vault``...) becomes a :class:`~runners.inventory.model.Tagged` marker, and
``!unsafe`` an :class:`~runners.inventory.model.Unsafe` string (never templated).
"""

from __future__ import annotations

import functools
import hashlib
import stat
from pathlib import Path

import yaml

from runners.inventory.model import Origin, Tagged, Unsafe, Var, Vars

MAX_BYTES = 4 * 1024 * 1024
STD_TAGS = "tag:yaml.org,2002:"
NULL_TAG, MERGE_TAG, STR_TAG = STD_TAGS + "null", STD_TAGS + "merge", STD_TAGS + "str"
UNSAFE_TAG = "!unsafe"
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
_C_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FastLoader(_C_LOADER):  # type: ignore[valid-type,misc]  # a class chosen at import
    """libyaml's parser and composer, with PyYAML's resolver (Python) asked only about
    the plain scalars that may not be strings: those starting with a character some
    implicit type (int, bool, null, float, timestamp, merge...) can start with. An
    inventory's host names and keys (``web01``, ``ansible_host``) are strings at once."""

    _may_type = frozenset(k for k in _C_LOADER.yaml_implicit_resolvers if k is not None)
    _wildcard = None in _C_LOADER.yaml_implicit_resolvers

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if (
            kind is yaml.ScalarNode
            and implicit[0]
            and value
            and value[0] not in self._may_type
            and not self._wildcard
        ):
            return STR_TAG
        resolved: str = super().resolve(kind, value, implicit)
        return resolved


def read_text(path: Path, what: str = "the inventory") -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes; one-line errors naming the file."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise Origin(path, 1).error(f"is {kind}: give the path of {what}")
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Origin(path, 1).error(
            f"cannot read {what} ({exc.strerror or exc}): check the path and its permissions"
        ) from None
    if len(data) > MAX_BYTES:
        raise Origin(path, 1).error(
            f"is larger than {MAX_BYTES // 2**20} MiB: an inventory is a short text file, "
            "check the path"
        )
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise Origin(path, line).error(
            f"holds binary data (a NUL byte), not text: give {what}, saved as UTF-8"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Origin(path, line).error(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x}): save {what} as UTF-8"
        ) from None
    return text, hashlib.sha256(data).hexdigest()


def compose(text: str, path: Path) -> yaml.Node | None:
    """The text's YAML document as nodes (``None`` when it holds only comments)."""
    try:
        return yaml.compose(text, Loader=FastLoader)
    except (yaml.YAMLError, RecursionError):
        pass  # composed again below by the pure-Python parser, for its message
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
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
        raise Origin(path, line).error(f"YAML syntax error: {problem}: {hint}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise Origin(path, line).error(
            f"YAML does not allow the character U+{exc.character:04X} "
            "(a control character): remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise Origin(path, 1).error(f"YAML error: {exc}: fix the YAML") from None
    except RecursionError:
        raise Origin(path, 1).error(
            "YAML nested too deeply to read: flatten the brackets or indentation"
        ) from None


class _Constructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor; ``!unsafe`` a string, any other unknown tag a marker."""


def _unsafe(loader: _Constructor, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return Unsafe(loader.construct_scalar(node))
    return Tagged(node.tag)


def _other_tag(loader: _Constructor, suffix: str, node: yaml.Node) -> object:
    return Tagged(node.tag)


_Constructor.add_constructor(UNSAFE_TAG, _unsafe)  # type: ignore[type-var]  # stubs: loaders only
_Constructor.add_multi_constructor("", _other_tag)


def construct(node: yaml.Node) -> object:
    """The value of ``node`` as Ansible's YAML loader builds it (YAML 1.1 typing)."""
    try:
        return _Constructor().construct_document(node)
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as exc:
        # A mapping with an unhashable key, a timestamp out of range...: kept as text.
        return Tagged(f"unreadable: {type(exc).__name__}")


def lazy_var(node: yaml.Node, path: Path) -> Var:
    """A variable whose value is built from ``node`` when first read (a plain string at
    once: most values are, and building them costs nothing)."""
    origin = Origin(path, node.start_mark.line + 1)
    if node.tag == STR_TAG and isinstance(node, yaml.ScalarNode):
        return Var(node.value, origin)
    return Var(origin=origin, lazy=functools.partial(construct, node))


def mapping_vars(node: yaml.Node, path: Path) -> Vars:
    """The top-level keys of a mapping node as variables (``<<`` merges resolved by the
    value); a document that is not a mapping gives none (the caller says why)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    out: Vars = {}
    value = construct(node)
    if not isinstance(value, dict):
        return {}
    lines = {
        k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
    }
    for key, item in value.items():
        if isinstance(key, str):
            out[key] = Var(item, Origin(path, lines.get(key, node.start_mark.line + 1)))
    return out
