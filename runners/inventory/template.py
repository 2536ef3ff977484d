"""Jinja2 templates in inventory values, rendered as ansible-core 2.19 renders them.

A value such as ``ansible_host: "{{ prefix }}.{{ inventory_hostname }}"`` is rendered
with the host's own resolved variables, in jinja2's immutable sandbox, the way
ansible-core's ``Templar`` renders it:

- a template that is one expression gives that expression's native value
  (``"{{ base + 1 }}"`` is an ``int``); a template with text around it, or several
  expressions, gives the text; ``None`` outputs are dropped; trailing newlines kept;
  backslashes in ``{{ }}`` string constants are taken literally (``escape_backslashes``);
- a variable that is itself a template is rendered when read (lists and mappings
  element-wise), up to :data:`MAX_DEPTH` variables deep; a cycle is an error;
- the magic variables ``inventory_hostname``, ``inventory_hostname_short``,
  ``group_names``, ``groups`` and ``hostvars`` (another host's variables, rendered in
  that host's scope), plus ``inventory_dir``/``inventory_file`` when the host has them;
- ``omit``: a value that renders to ``omit`` is "not set": :func:`render` returns
  :data:`OMIT`, which the caller treats as if the key were absent (inside a list or a
  mapping, an omitted item is dropped, as Ansible drops it).

Only jinja2's own filters and tests exist here (``default``, ``lower``, ``replace``,
``join``, ``int``...); Ansible's (``regex_replace``, ``b64decode``, ``ipaddr``...) and
lookups are refused in one line. ``!unsafe`` values are never rendered; ``!vault``
values are never decrypted (:class:`VaultEncrypted`). Every render is bounded: at most
:data:`MAX_STEPS` steps (variable reads, calls, loop iterations), no value built over
:data:`MAX_TEXT` characters (or :data:`MAX_ITEMS` items), no output over 64 KiB.
Every failure is one line, ``PATH:LINE: KEY of host 'H': what is wrong: what to do``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, cast

from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import Frame
from jinja2.environment import Template
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.runtime import Context, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ringbench.errors import UserError
from runners.inventory.model import Origin, Tagged, Unsafe, Var

MAX_TEXT: Final = 64 * 1024  # characters of any value a template builds, and of its output
MAX_ITEMS: Final = 100_000  # items of a list a template builds
MAX_DEPTH: Final = 50  # variables read through variables
MAX_STEPS: Final = 100_000  # variable reads, calls and loop iterations of one render
_MARKERS = ("{{", "{%", "{#")
_IPV4 = re.compile(
    r"^(?:(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\.){3}(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])$"
)
_FORMAT_NUMBER = re.compile(
    r"%[-#0 +(\w)]*?(\d+)?(?:\.(\d+))?[a-zA-Z%]|\{[^{}]*?:[^{}\d]*(\d+)(?:\.(\d+))?"
)


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


class _Omit:
    """Ansible's ``omit``: the value is "not set"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()  # what render() returns for a value that renders to ``omit``


class VaultEncrypted(UserError):
    """The value, or a variable its template reads, is ``!vault``-encrypted."""


@dataclass(frozen=True)
class TemplateContext:
    """What every host's templates may see beside its own variables."""

    groups: Mapping[str, Sequence[str]]  # Ansible's ``groups``: every group's hosts
    hostvars: Callable[[str], Mapping[str, Var] | None]  # another host's resolved vars

    @cached_property
    def _memberships(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for group, hosts in self.groups.items():
            if group != "all":
                for host in hosts:
                    out.setdefault(host, []).append(group)
        return {host: sorted(set(names)) for host, names in out.items()}

    def group_names(self, host: str) -> list[str]:
        """Ansible's ``group_names``: the host's groups, sorted, without ``all``."""
        return list(self._memberships.get(host, ()))


def is_template(value: object) -> bool:
    """Whether Ansible would render ``value``: a string (not ``!unsafe``) holding
    ``{{``, ``{%`` or ``{#``."""
    return (
        isinstance(value, str)
        and "{" in value
        and not isinstance(value, Unsafe)
        and any(marker in value for marker in _MARKERS)
    )


def short_name(host: str) -> str:
    """Ansible's ``inventory_hostname_short``: up to the first '.', an address whole."""
    if _IPV4.match(host):
        return host
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            pass
        else:
            return host
    return host.split(".")[0]


# --- bounds -----------------------------------------------------------------------


class _Refusal(Exception):
    """A render stopped on purpose; the message says why and what to do."""


def _too_big(what: str) -> _Refusal:
    return _Refusal(f"the template builds {what} over {MAX_TEXT // 1024} KiB: write the value out")


def _size(value: object) -> int:
    """Characters of text plus one per item, counted until past :data:`MAX_TEXT`."""
    total, todo = 0, [value]
    while todo and total <= MAX_TEXT:
        item = todo.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, range)):
            total += len(item)
            if not isinstance(item, range):
                todo.extend(item)
        else:
            total += 1
    return total


def _check(estimate: int, what: str = "a value") -> None:
    if estimate > MAX_TEXT:
        raise _too_big(what)


def _count(value: object) -> None:
    if isinstance(value, int) and value > MAX_TEXT:
        raise _Refusal(f"a width or count of {value} is over {MAX_TEXT}: use a smaller one")


def _bounded_list(value: object) -> list[object]:
    items = list(itertools.islice(iter(cast("Iterable[object]", value)), MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise _Refusal(f"the template goes through more than {MAX_ITEMS} items: write it out")
    return items


def _check_format(text: str, args: object) -> None:
    for match in _FORMAT_NUMBER.finditer(text):
        for number in match.groups():
            if number:
                _count(int(number))
    if "*" in text:
        values = args if isinstance(args, (tuple, list)) else (args,)
        for value in values:
            _count(value)


def _materialize(arguments: dict[str, object], name: str) -> list[object]:
    items = _bounded_list(arguments.get(name, ()))
    arguments[name] = items
    return items


def _text(arguments: dict[str, object], name: str) -> str:
    return str(arguments.get(name, ""))


def _center(arguments: dict[str, object]) -> None:
    _count(arguments.get("width"))


def _indent(arguments: dict[str, object]) -> None:
    text, width = _text(arguments, "s"), arguments.get("width")
    _check(
        len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(str(width)))
    )


def _format(arguments: dict[str, object]) -> None:
    values = arguments.get("args") or tuple(
        cast("dict[str, object]", arguments.get("kwargs", {})).values()
    )
    _check_format(_text(arguments, "value"), values)


def _join(arguments: dict[str, object]) -> None:
    items = _materialize(arguments, "value")
    _check(sum(map(_size, items)) + len(_text(arguments, "d")) * max(len(items) - 1, 0))


def _replace(arguments: dict[str, object]) -> None:
    _check_replace(_text(arguments, "s"), _text(arguments, "old"), _text(arguments, "new"))


def _sum(arguments: dict[str, object]) -> None:
    items, start = _materialize(arguments, "iterable"), arguments.get("start", 0)
    if not isinstance(start, (int, float)):
        _check(_size(start) + sum(map(_size, items)))


def _wordwrap(arguments: dict[str, object]) -> None:
    text, width = _text(arguments, "s"), arguments.get("width")
    breaks = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    _check(len(text) + breaks * len(str(arguments.get("wrapstring") or "\n")))


def _batch(arguments: dict[str, object]) -> None:
    _count(arguments.get("linecount"))
    _materialize(arguments, "value")


def _slice(arguments: dict[str, object]) -> None:
    _count(arguments.get("slices"))
    _materialize(arguments, "value")


_FILTER_CHECKS: dict[str, Callable[[dict[str, object]], None]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "join": _join,
    "replace": _replace,
    "sum": _sum,
    "wordwrap": _wordwrap,
    "batch": _batch,
    "slice": _slice,
}


def _guarded(
    original: Callable[..., object], check: Callable[[dict[str, object]], None]
) -> Callable[..., object]:
    """jinja2's filter ``original``, its arguments checked first (lists made bounded)."""
    signature = inspect.signature(original)

    @functools.wraps(original)  # keeps jinja2's pass_eval_context/pass_environment mark
    def guarded(*args: object, **kwargs: object) -> object:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        check(bound.arguments)
        return original(*bound.args, **bound.kwargs)

    return guarded


def _check_replace(text: str, old: str, new: str) -> None:
    hits = text.count(old) if old else len(text) + 1
    _check(len(text) + hits * max(len(new) - len(old), 0))


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_call(obj: object, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    """Refuse a ``str`` method call that would build a text over :data:`MAX_TEXT`."""
    method = getattr(obj, "__wrapped__", obj)
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return
    values = (*args, *kwargs.values())
    if name in _WIDTH_METHODS:
        for value in values:
            _count(value)
        if name == "expandtabs" and values:
            tabsize = values[0]
            _check(len(owner) * (tabsize if isinstance(tabsize, int) and tabsize > 1 else 1))
    elif name in ("format", "format_map"):
        _check_format(owner, values)
    elif name == "replace" and len(values) >= 2:
        _check_replace(owner, str(values[0]), str(values[1]))
    elif name == "join" and values:
        items = values[0]
        if isinstance(items, (list, tuple, str)):
            _check(_size(items) + len(owner) * len(items))


def _refuse_lookup(*args: object, **kwargs: object) -> object:
    raise _Refusal(
        "lookups are not supported: ringbench reads no files, commands or services "
        "to resolve the inventory: write the value out"
    )


# --- the jinja2 environment ---------------------------------------------------------


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
    joins through :meth:`_Environment.bounded_concat`."""

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
        hint = "define it in the inventory, group_vars or host_vars"
        if obj is missing:
            return f"{name!r} is undefined: {hint}"
        if isinstance(obj, _HostVars):
            return f"hostvars[{name!r}] is undefined: there is no host {name!r} in the inventory"
        if isinstance(obj, _Scope):
            return f"{name!r} is undefined for host {obj.host!r}: {hint}"
        return f"object of type {type(obj).__name__!r} has no attribute {name!r}: {hint}"


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, undefined=_Undefined, autoescape=False)
        self.optimized = False  # as Ansible: no constant folding around its code generator
        self.globals.pop("lipsum", None)  # unbounded text, and not Ansible's concern
        self.globals.update(
            omit=OMIT, lookup=_refuse_lookup, query=_refuse_lookup, q=_refuse_lookup
        )
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _guarded(self.filters[name], check)
        self._lexer = _Lexer(self)

    @property
    def lexer(self) -> Lexer:
        return self._lexer

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # every loop iteration is a step
            wrapped = nodes.Call(
                nodes.EnvironmentAttribute("bounded_iter"), [loop.iter], [], None, None
            )
            loop.iter = wrapped.set_lineno(loop.lineno).set_environment(self)
        return tree

    @staticmethod
    def bounded_iter(iterable: Iterable[object]) -> Iterator[object]:
        state = _STATE.get()
        for item in iterable:
            state.step()
            yield item

    @staticmethod
    def bounded_concat(values: Iterable[object]) -> str:
        parts = [str(value) for value in values]
        _check(sum(map(len, parts)), "a text")
        return "".join(parts)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        _STATE.get().step()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    _check(_size(seq) * n)
        elif operator == "+" and isinstance(left, (str, list, tuple)):
            _check(_size(left) + _size(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0:
                _check(left.bit_length() * right // 8, "a number")
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: object, *args: object, **kwargs: object) -> object:
        _STATE.get().step()
        _check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


_ENV: Final = _Environment()


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


_PLAIN_VARIABLE = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")
_JINJA_WORDS = _names("true false none True False None and or not in is if else")


@functools.lru_cache(maxsize=4096)
def _plain_parts(source: str) -> tuple[tuple[int, str], ...] | None:
    """A template of text and ``{{ NAME }}`` only, as (index, part) pairs, text at even
    indices: rendered without jinja2, as jinja2 renders it (None: any other template)."""
    if "\r" in source:
        return None  # jinja2 normalises newlines
    parts = _PLAIN_VARIABLE.split(source[:-1] if source.endswith("\n") else source)
    if any(marker in text for text in parts[::2] for marker in _MARKERS):
        return None
    if any(name in _JINJA_WORDS for name in parts[1::2]):
        return None
    return tuple((i, part) for i, part in enumerate(parts) if part)


def _concat(values: Iterable[object]) -> object:
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
            _check(length, "a text")
    return first if count < 2 else "".join(parts)


# --- what a template reads ------------------------------------------------------------


_MAGIC_NAMES = ("inventory_hostname", "inventory_hostname_short", "group_names", "groups")
_MAGIC = frozenset((*_MAGIC_NAMES, "hostvars"))


class _Scope(Mapping[str, object]):
    """One host's variables as its templates read them: magic variables first, then
    the host's variables (rendered when read), then jinja2's globals."""

    __slots__ = ("host", "state", "vars")

    def __init__(self, state: _Render, host: str, host_vars: Mapping[str, Var]) -> None:
        self.state, self.host, self.vars = state, host, host_vars

    def _magic(self, name: str) -> object:
        if name == "inventory_hostname":
            return self.host
        if name == "inventory_hostname_short":
            return short_name(self.host)
        if name == "group_names":
            return self.state.context.group_names(self.host)
        if name == "groups":
            return self.state.context.groups
        return self.state.hostvars

    def __getitem__(self, name: str) -> object:
        if name in _MAGIC:
            return self._magic(name)
        if name in self.vars:
            return self.state.read(self, name)
        return _ENV.globals[name]

    def __contains__(self, name: object) -> bool:
        return name in self.vars or name in _MAGIC or name in _ENV.globals

    def lookup(self, name: str) -> object:
        """``{{ name }}``, as jinja2 resolves it (undefined: the error)."""
        if name in _MAGIC:
            return self._magic(name)
        if name in self.vars:
            return self.state.read(self, name)
        if name in _ENV.globals:
            return _ENV.globals[name]
        _Undefined(name=name)._fail_with_undefined_error()

    def __iter__(self) -> Iterator[str]:
        yield from _MAGIC_NAMES
        yield from (name for name in self.vars if name not in _MAGIC)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _HostVars(Mapping[str, object]):
    """Ansible's ``hostvars``: a host's variables, each rendered in that host's scope."""

    __slots__ = ("state",)

    def __init__(self, state: _Render) -> None:
        self.state = state

    def __getitem__(self, host: str) -> _Scope:
        return self.state.scope(host)

    def __iter__(self) -> Iterator[str]:
        return iter(self.state.context.groups.get("all", ()))

    def __len__(self) -> int:
        return len(self.state.context.groups.get("all", ()))


_STATE: contextvars.ContextVar[_Render] = contextvars.ContextVar("ringbench_template")


class _Render:
    """One call of :func:`render`: its budget, the variables being read, their values."""

    def __init__(self, context: TemplateContext, host: str, host_vars: Mapping[str, Var]) -> None:
        self.context = context
        self.steps = 0
        self.stack: list[tuple[str, str]] = []  # (host, variable) being rendered
        self.done: dict[tuple[str, str], object] = {}
        self.scopes = {host: _Scope(self, host, host_vars)}

    @cached_property
    def hostvars(self) -> _HostVars:
        return _HostVars(self)

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Refusal(f"the template takes more than {MAX_STEPS} steps: simplify it")

    def scope(self, host: str) -> _Scope:
        scope = self.scopes.get(host)
        if scope is None:
            host_vars = self.context.hostvars(host)
            if host_vars is None:
                raise KeyError(host)
            scope = self.scopes[host] = _Scope(self, host, host_vars)
        return scope

    def label(self, host: str, name: str) -> str:
        return name if host == self.stack[0][0] else f"hostvars[{host!r}].{name}"

    def what(self) -> str:
        top_host, top = self.stack[0]
        if len(self.stack) == 1:
            return f"{top} of host {top_host!r}"
        host, name = self.stack[-1]
        if host == top_host:
            return f"{name} (read by {top}) of host {host!r}"
        return f"{name} of host {host!r} (read by {top} of host {top_host!r})"

    def read(self, scope: _Scope, name: str) -> object:
        """The value of one variable of ``scope``, rendered."""
        here = (scope.host, name)
        if here in self.done:
            return self.done[here]
        var = scope.vars[name]
        if here in self.stack:
            loop = [*self.stack[self.stack.index(here) :], here]
            chain = " -> ".join(self.label(*item) for item in loop)
            raise var.origin.error(
                f"{self.what()}: variables refer to each other: {chain}: "
                "give one of them a value that is not a template"
            )
        if len(self.stack) > MAX_DEPTH:
            raise var.origin.error(
                f"{self.what()}: templates read templates more than {MAX_DEPTH} variables "
                "deep: write one of the values out"
            )
        value = self.evaluate(var.value, scope, name, var.origin)
        self.done[here] = value
        return value

    def evaluate(self, value: object, scope: _Scope, name: str, origin: Origin) -> object:
        self.stack.append((scope.host, name))
        try:
            return self.value(value, scope, origin)
        finally:
            self.stack.pop()

    def value(self, value: object, scope: _Scope, origin: Origin) -> object:
        self.step()
        if type(value) is str:  # the common case first
            return self.template(value, scope, origin) if is_template(value) else value
        if isinstance(value, Tagged):
            if "vault" not in value.tag:
                raise origin.error(
                    f"{self.what()} is a YAML value ringbench does not read ({value.tag}): "
                    "write it as plain YAML"
                )
            raise VaultEncrypted(
                f"{origin}: {self.what()} is vault-encrypted ({value.tag}): ringbench does "
                "not decrypt vaults: write the value in clear or leave the host out"
            )
        if isinstance(value, Unsafe) or not isinstance(value, (str, list, dict)):
            return value
        if isinstance(value, str):
            return self.template(value, scope, origin) if is_template(value) else value
        if isinstance(value, list):
            items = (self.value(item, scope, origin) for item in value)
            return [item for item in items if item is not OMIT]
        pairs = ((k, self.value(v, scope, origin)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not OMIT}

    def template(self, source: str, scope: _Scope, origin: Origin) -> object:
        try:
            parts = _plain_parts(source)
            if parts is None:
                compiled = _compile(source)
                context = Context(_ENV, cast("dict[str, Any]", scope), None, compiled.blocks)
                result = _concat(compiled.root_render_func(context))
            else:
                result = _concat([scope.lookup(part) if i % 2 else part for i, part in parts])
            if result is OMIT:
                return OMIT
            if type(result) is not str:
                result = self.finish(result)
            _check(_size(result), "an output")
        except UserError:
            raise
        except Exception as exc:  # jinja2's and Python's, from whatever the template ran
            raise origin.error(f"{self.what()}: {_explain(exc)}") from None
        if isinstance(result, str) and source.endswith("\n"):  # Ansible keeps them
            missing_newlines = _trailing_newlines(source) - _trailing_newlines(result)
            if missing_newlines > 0:
                result += "\n" * missing_newlines
        return result

    def finish(self, value: object) -> object:
        """The result as plain values: undefined values raise, ``omit`` items drop out,
        mappings and sequences become dicts and lists."""
        self.step()
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        if isinstance(value, str):  # jinja2's Markup (tojson...) as plain text, as Ansible
            return value if type(value) is str or isinstance(value, Unsafe) else str(value)
        if isinstance(value, (int, float, type(None))):
            return value
        if isinstance(value, Mapping):
            pairs = ((k, self.finish(v)) for k, v in value.items() if v is not OMIT)
            return {k: v for k, v in pairs}
        if isinstance(value, (list, tuple, range, Iterator)):
            return [self.finish(v) for v in _bounded_list(value) if v is not OMIT]
        return value


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def _explain(exc: Exception) -> str:
    """One line for an exception a template raised: what is wrong, what to do."""
    message = getattr(exc, "message", None) or str(exc)
    unknown = re.search(r"No (filter|test) named '([^']+)'", message)
    if isinstance(exc, _Refusal):
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


def render(
    value: object,
    host: str,
    host_vars: Mapping[str, Var],
    origin: Origin,
    context: TemplateContext,
    *,
    key: str,
) -> object:
    """``value`` (the variable ``key`` of ``host``, written at ``origin``) rendered as
    ansible-core renders it, reading ``host_vars`` and the magic variables.

    A value that is not a template comes back as it is (lists and mappings rendered
    element-wise); one that renders to ``omit`` comes back as :data:`OMIT`: treat the
    key as not set. Raises a one-line :class:`~ringbench.errors.UserError` naming
    ``origin``, the key and the host (:class:`VaultEncrypted` for a vault value).
    """
    state = _Render(context, host, host_vars)
    token = _STATE.set(state)
    try:
        return state.evaluate(value, state.scopes[host], key, origin)
    except _Refusal as exc:  # a bound hit outside any template (a huge list value)
        raise origin.error(f"{key} of host {host!r}: {exc}") from None
    except RecursionError:
        raise origin.error(
            f"{key} of host {host!r}: values nest too deeply to render: simplify them"
        ) from None
    finally:
        _STATE.reset(token)
