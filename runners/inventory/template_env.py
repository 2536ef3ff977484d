"""The jinja2 environment inventory templates render in, made to behave as ansible-core's.

:data:`ENV` is jinja2's immutable sandbox with Ansible's settings (``trim_blocks``, no
autoescape, no constant folding) and Ansible's quirks: backslashes in ``{{ }}`` string
constants taken literally (the lexer), one output node keeping its native type (the code
generator), outputs joined as Ansible's ``concat`` joins them (:func:`concat`), ``omit``
as a global (:data:`OMIT`), lookups refused. Its operators, calls, loops and the filters
that build text or lists are bounded by :mod:`.template_bounds`. An undefined name fails
with what is undefined and what to do (:class:`Namespace` says it for the mappings that
templates read names from); :func:`explain` turns whatever a render raised into one line.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Final

from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import Frame
from jinja2.environment import Template
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.runtime import StrictUndefined, Undefined
from jinja2.utils import missing

from runners.inventory.template_bounds import BoundedSandbox, Refusal, check


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ANSIBLE_FILTERS: Final = _names(  # ansible.builtin's, and the collections' inventories use
    """
    b64decode b64encode basename bool checksum combinations combine comment commonpath
    dict2items difference dirname expanduser expandvars extract fileglob flatten from_json
    from_yaml from_yaml_all hash human_readable human_to_bytes intersect items2dict log
    mandatory md5 normpath password_hash path_join permutations pow product quote realpath
    regex_escape regex_findall regex_replace regex_search rekey_on_member relpath root sha1
    shuffle split splitext strftime subelements symmetric_difference ternary to_datetime
    to_json to_nice_json to_nice_yaml to_uuid to_yaml type_debug union unvault urldecode
    urlsplit vault win_basename win_dirname win_splitdrive zip zip_longest
    ipaddr ipv4 ipv6 ipwrap ipmath ipsubnet next_nth_usable nthhost json_query
    """
)
ANSIBLE_TESTS: Final = _names(
    """
    abs all any change changed contains directory exists failed failure falsy file finished
    is_abs is_dir is_file is_link is_mount is_same_file isnan issubset issuperset link
    link_exists match mount nan reachable regex same_file search skip skipped started subset
    succeeded success successful superset timedout truthy unreachable uri url urn
    vault_encrypted vaulted_file version version_compare
    """
)
DEFINE_IT: Final = "define it in the inventory, group_vars or host_vars"


class _Omit:
    """Ansible's ``omit``: the value is "not set"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()  # what render() returns for a value that renders to ``omit``


class Namespace(ABC):
    """A mapping templates read names from (a host's variables, ``hostvars``)."""

    __slots__ = ()

    @abstractmethod
    def _undefined(self, name: str | None) -> str:
        """What it means that ``name`` is not in it, and what to do (for the undefined
        error; underscored, so that the sandbox keeps templates from calling it)."""


class _Lexer(Lexer):
    """Ansible's ``escape_backslashes``: in ``{{ }}``, a backslash in a string
    constant is a backslash (YAML already read the escapes)."""

    def tokeniter(
        self, source: str, name: str | None, filename: str | None = None, state: str | None = None
    ) -> Iterator[tuple[int, str, str]]:
        in_variable = False
        for lineno, kind, value in super().tokeniter(source, name, filename, state):
            if kind == TOKEN_VARIABLE_BEGIN:
                in_variable = True
            elif kind == TOKEN_VARIABLE_END:
                in_variable = False
            elif in_variable and kind == TOKEN_STRING:
                value = value.replace("\\", "\\\\")
            yield lineno, kind, value


class _CodeGenerator(NativeCodeGenerator):
    """jinja2's native code as Ansible's: one output node keeps its type; ``~``
    joins through :meth:`~.template_bounds.BoundedSandbox.bounded_concat`."""

    def _output_const_repr(self, group: Iterable[object]) -> str:
        items = list(group)
        return repr(items[0]) if len(items) == 1 else repr("".join(map(str, items)))

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Undefined(StrictUndefined):
    """StrictUndefined whose message says what is undefined and what to do."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name, obj = self._undefined_name, self._undefined_obj
        if obj is missing:
            return f"{name!r} is undefined: {DEFINE_IT}"
        if isinstance(obj, Namespace):
            return obj._undefined(name)
        return f"object of type {type(obj).__name__!r} has no attribute {name!r}: {DEFINE_IT}"


def _refuse_lookup(*args: object, **kwargs: object) -> object:
    raise Refusal(
        "lookups are not supported: ringbench reads no files, commands or services "
        "to resolve the inventory: write the value out"
    )


class _Environment(BoundedSandbox):
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, undefined=_Undefined, autoescape=False)
        self.optimized = False  # as Ansible: no constant folding around its code generator
        self.globals.pop("lipsum", None)  # unbounded text, and not Ansible's concern
        self.globals.update(
            omit=OMIT, lookup=_refuse_lookup, query=_refuse_lookup, q=_refuse_lookup
        )
        self._lexer = _Lexer(self)

    @property
    def lexer(self) -> Lexer:
        return self._lexer

    def getattr(self, obj: object, attribute: str) -> object:
        """``ns.name`` on a host's variables or ``hostvars`` is ``ns['name']``: a template
        reads variables, never the scope's own attributes (``host``, ``vars``...)."""
        if isinstance(obj, Namespace):
            try:
                return obj[attribute]  # type: ignore[index]  # a Mapping, by its subclasses
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


ENV: Final = _Environment()


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """``source`` compiled in :data:`ENV` (the last 4096 kept)."""
    return ENV.from_string(source)


def concat(values: Iterable[object]) -> object:
    """Ansible's ``concat``: no output is ``None``, one output is itself (``omit``
    included), several are joined as text (``omit`` left out); ``None`` outputs never
    count."""
    first: object = None
    parts: list[str] = []
    count = length = 0
    for value in values:
        if value is None:
            continue
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        count += 1
        if count == 1:
            first = value
            continue
        if count == 2 and first is not OMIT:
            parts.append(str(first))
            length = len(parts[0])
        if value is not OMIT:
            parts.append(str(value))
            length += len(parts[-1])
            check(length, "a text")
    return first if count < 2 else "".join(parts)


def explain(exc: Exception) -> str:
    """One line for an exception a template raised: what is wrong, what to do."""
    message = getattr(exc, "message", None) or str(exc)
    unknown = re.search(r"No (filter|test) named '([^']+)'", message)
    if isinstance(exc, Refusal):
        return message
    if unknown and isinstance(exc, TemplateError):
        kind, name = unknown.groups()
        known = ANSIBLE_FILTERS if kind == "filter" else ANSIBLE_TESTS
        whose = (
            "Ansible's"
            if name in known or name.startswith("ansible.")
            else "from a collection"
            if "." in name
            else "not one of jinja2's"
        )
        return (
            f"{kind} {name!r} is {whose}: ringbench renders jinja2's own {kind}s only: "
            "write the value out"
        )
    if isinstance(exc, UndefinedError):
        return message
    if isinstance(exc, SecurityError):
        return f"unsafe access refused ({message}): a template may not reach Python internals"
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno} of the template)" if exc.lineno and exc.lineno > 1 else ""
        return f"template syntax error: {message}{where}: fix the template"
    if isinstance(exc, RecursionError):
        return "templates nest too deeply to render: simplify them"
    if isinstance(exc, MemoryError):
        return "the template runs out of memory: simplify it"
    return f"cannot render the template ({type(exc).__name__}: {message}): fix the template"
