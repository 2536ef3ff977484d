"""What bounds one render of an inventory template, so that no template hangs or eats memory.

An inventory is read before anything runs, often from files ringbench did not write, and
a template of a few characters can ask for a great deal: ``{{ "x" * 10**9 }}``,
``{{ "%999999999d" % 1 }}``, ``{{ 2 ** 10**9 }}``, ``{{ range(99999) | join(text) }}``,
a loop in a loop. jinja2's sandbox keeps a template from Python's internals (and from
ranges over 100,000 items), not from that. So each render has a budget, and each value
it builds is measured *before* it is built:

- at most :data:`MAX_STEPS` steps (values read, calls, operators, loop iterations) per
  render: :class:`Budget`, the current render's in :data:`BUDGET`;
- no text, list or number built over :data:`MAX_TEXT` characters, estimated from the
  operands of ``*``, ``+``, ``**`` and ``%``, of the jinja2 filters that build text or
  lists (``join``, ``indent``, ``center``, ``format``...) and of ``str`` methods
  (``ljust``, ``replace``, ``format``...), all in :class:`BoundedSandbox`; no output
  over :data:`MAX_TEXT` either (:func:`check`, :func:`size`);
- no iterable gone through over :data:`MAX_ITEMS` items (:func:`bounded_list`);
- no variable read through more than :data:`MAX_DEPTH` variables.

A bound hit raises :class:`Refusal`, whose message says what was too big and what to do."""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, cast

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT: Final = 64 * 1024  # characters of any value a template builds, and of its output
MAX_ITEMS: Final = 100_000  # items of a list a template builds
MAX_DEPTH: Final = 50  # variables read through variables
MAX_STEPS: Final = 100_000  # variable reads, calls and loop iterations of one render
_FORMAT_NUMBER = re.compile(
    r"%[-#0 +(\w)]*?(\d+)?(?:\.(\d+))?[a-zA-Z%]|\{[^{}]*?:[^{}\d]*(\d+)(?:\.(\d+))?"
)


class Refusal(Exception):
    """A render stopped on purpose; the message says why and what to do."""


class Budget:
    """The steps one render has taken, at most :data:`MAX_STEPS`."""

    steps = 0  # a class default: a render's budget costs nothing to set up

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Refusal(f"the template takes more than {MAX_STEPS} steps: simplify it")


BUDGET: contextvars.ContextVar[Budget] = contextvars.ContextVar("ringbench_template")


def _too_big(what: str) -> Refusal:
    return Refusal(f"the template builds {what} over {MAX_TEXT // 1024} KiB: write the value out")


def size(value: object) -> int:
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


def check(estimate: int, what: str = "a value") -> None:
    """Refuse ``what`` when its estimated size is over :data:`MAX_TEXT`."""
    if estimate > MAX_TEXT:
        raise _too_big(what)


def _count(value: object) -> None:
    if isinstance(value, int) and value > MAX_TEXT:
        raise Refusal(f"a width or count of {value} is over {MAX_TEXT}: use a smaller one")


def bounded_list(value: object) -> list[object]:
    """The items of the iterable ``value``, refused past :data:`MAX_ITEMS`."""
    items = list(itertools.islice(iter(cast("Iterable[object]", value)), MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise Refusal(f"the template goes through more than {MAX_ITEMS} items: write it out")
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


def _check_replace(text: str, old: str, new: str) -> None:
    hits = text.count(old) if old else len(text) + 1
    check(len(text) + hits * max(len(new) - len(old), 0))


# --- jinja2's filters that build text or lists, their arguments checked -----------------


def _materialize(arguments: dict[str, object], name: str) -> list[object]:
    items = bounded_list(arguments.get(name, ()))
    arguments[name] = items
    return items


def _text(arguments: dict[str, object], name: str) -> str:
    return str(arguments.get(name, ""))


def _center(arguments: dict[str, object]) -> None:
    _count(arguments.get("width"))


def _indent(arguments: dict[str, object]) -> None:
    text, width = _text(arguments, "s"), arguments.get("width")
    check(
        len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(str(width)))
    )


def _format(arguments: dict[str, object]) -> None:
    values = arguments.get("args") or tuple(
        cast("dict[str, object]", arguments.get("kwargs", {})).values()
    )
    _check_format(_text(arguments, "value"), values)


def _join(arguments: dict[str, object]) -> None:
    items = _materialize(arguments, "value")
    check(sum(map(size, items)) + len(_text(arguments, "d")) * max(len(items) - 1, 0))


def _replace(arguments: dict[str, object]) -> None:
    _check_replace(_text(arguments, "s"), _text(arguments, "old"), _text(arguments, "new"))


def _sum(arguments: dict[str, object]) -> None:
    items, start = _materialize(arguments, "iterable"), arguments.get("start", 0)
    if not isinstance(start, (int, float)):
        check(size(start) + sum(map(size, items)))


def _wordwrap(arguments: dict[str, object]) -> None:
    text, width = _text(arguments, "s"), arguments.get("width")
    breaks = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    check(len(text) + breaks * len(str(arguments.get("wrapstring") or "\n")))


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
    original: Callable[..., object], check_arguments: Callable[[dict[str, object]], None]
) -> Callable[..., object]:
    """jinja2's filter ``original``, its arguments checked first (lists made bounded)."""
    signature = inspect.signature(original)

    @functools.wraps(original)  # keeps jinja2's pass_eval_context/pass_environment mark
    def guarded(*args: object, **kwargs: object) -> object:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        check_arguments(bound.arguments)
        return original(*bound.args, **bound.kwargs)

    return guarded


# --- str methods ------------------------------------------------------------------------


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
            check(len(owner) * (tabsize if isinstance(tabsize, int) and tabsize > 1 else 1))
    elif name in ("format", "format_map"):
        _check_format(owner, values)
    elif name == "replace" and len(values) >= 2:
        _check_replace(owner, str(values[0]), str(values[1]))
    elif name == "join" and values:
        items = values[0]
        if isinstance(items, (list, tuple, str)):
            check(size(items) + len(owner) * len(items))


# --- the sandbox ----------------------------------------------------------------------


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox, every operator, call and loop iteration a step of the
    current :data:`BUDGET`, and no value its operators, filters or ``str`` methods build
    over :data:`MAX_TEXT`. Code generators join ``~`` through :meth:`bounded_concat`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:  # noqa: ANN401 - jinja2's options, passed on
        super().__init__(**options)
        for name, check_arguments in _FILTER_CHECKS.items():
            self.filters[name] = _guarded(self.filters[name], check_arguments)

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
        budget = BUDGET.get()
        for item in iterable:
            budget.step()
            yield item

    @staticmethod
    def bounded_concat(values: Iterable[object]) -> str:
        parts = [str(value) for value in values]
        check(sum(map(len, parts)), "a text")
        return "".join(parts)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        BUDGET.get().step()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    check(size(seq) * n)
        elif operator == "+" and isinstance(left, (str, list, tuple)):
            check(size(left) + size(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0:
                check(left.bit_length() * right // 8, "a number")
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: object, *args: object, **kwargs: object) -> object:
        BUDGET.get().step()
        _check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)
