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

Here: the public API, the scopes a template reads names from and the rendering; the
bounds are in :mod:`.template_bounds`, the jinja2 environment in :mod:`.template_env`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from jinja2.runtime import Context, Undefined

from ringbench.errors import UserError
from runners.inventory.model import Origin, Tagged, Unsafe, Var
from runners.inventory.template_bounds import (
    BUDGET,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STEPS,
    MAX_TEXT,
    Budget,
    Refusal,
    bounded_list,
    check,
    size,
)
from runners.inventory.template_env import (
    ANSIBLE_FILTERS,
    ANSIBLE_TESTS,
    DEFINE_IT,
    ENV,
    OMIT,
    Namespace,
    compile_template,
    concat,
    explain,
)

__all__ = [
    "ANSIBLE_FILTERS",
    "ANSIBLE_TESTS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STEPS",
    "MAX_TEXT",
    "OMIT",
    "TemplateContext",
    "VaultEncrypted",
    "is_template",
    "render",
    "short_name",
]

_MARKERS = ("{{", "{%", "{#")
_IPV4 = re.compile(
    r"^(?:(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\.){3}(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])$"
)


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


# --- templates of text and {{ NAME }} only, rendered without jinja2 -----------------


_PLAIN_VARIABLE = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")
_JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}
)


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


# --- what a template reads ------------------------------------------------------------


_MAGIC_NAMES = ("inventory_hostname", "inventory_hostname_short", "group_names", "groups")
_MAGIC = frozenset((*_MAGIC_NAMES, "hostvars"))


class _Scope(Namespace, Mapping[str, object]):
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
        return ENV.globals[name]

    def __contains__(self, name: object) -> bool:
        return name in self.vars or name in _MAGIC or name in ENV.globals

    def lookup(self, name: str) -> object:
        """``{{ name }}``, as jinja2 resolves it (undefined: the error)."""
        if name in _MAGIC:
            return self._magic(name)
        if name in self.vars:
            return self.state.read(self, name)
        if name in ENV.globals:
            return ENV.globals[name]
        ENV.undefined(name=name)._fail_with_undefined_error()

    def __iter__(self) -> Iterator[str]:
        yield from _MAGIC_NAMES
        yield from (name for name in self.vars if name not in _MAGIC)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _undefined(self, name: str | None) -> str:
        return f"{name!r} is undefined for host {self.host!r}: {DEFINE_IT}"


class _HostVars(Namespace, Mapping[str, object]):
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

    def _undefined(self, name: str | None) -> str:
        return f"hostvars[{name!r}] is undefined: there is no host {name!r} in the inventory"


class _Render(Budget):
    """One call of :func:`render`: its budget, the variables being read, their values."""

    def __init__(self, context: TemplateContext, host: str, host_vars: Mapping[str, Var]) -> None:
        self.context = context
        self.stack: list[tuple[str, str]] = []  # (host, variable) being rendered
        self.done: dict[tuple[str, str], object] = {}
        self.scopes = {host: _Scope(self, host, host_vars)}

    @cached_property
    def hostvars(self) -> _HostVars:
        return _HostVars(self)

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
                compiled = compile_template(source)
                context = Context(ENV, cast("dict[str, Any]", scope), None, compiled.blocks)
                result = concat(compiled.root_render_func(context))
            else:
                result = concat([scope.lookup(part) if i % 2 else part for i, part in parts])
            if result is OMIT:
                return OMIT
            if type(result) is not str:
                result = self.finish(result)
            check(size(result), "an output")
        except UserError:
            raise
        except Exception as exc:  # jinja2's and Python's, from whatever the template ran
            raise origin.error(f"{self.what()}: {explain(exc)}") from None
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
            return [self.finish(v) for v in bounded_list(value) if v is not OMIT]
        return value


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


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
    token = BUDGET.set(state)
    try:
        return state.evaluate(value, state.scopes[host], key, origin)
    except Refusal as exc:  # a bound hit outside any template (a huge list value)
        raise origin.error(f"{key} of host {host!r}: {exc}") from None
    except RecursionError:
        raise origin.error(
            f"{key} of host {host!r}: values nest too deeply to render: simplify them"
        ) from None
    finally:
        BUDGET.reset(token)
