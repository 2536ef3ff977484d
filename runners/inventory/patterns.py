"""Host patterns as Ansible's inventory plugins expand them: ``www[01:50:2].example.com``,
``db-[a:f]``, ``rack[1:4]-node[01:16]``, ``host:2222``, ``[::1]:2222``.

:func:`expand_hostpattern` gives what ansible-core's
``BaseInventoryPlugin._expand_hostpattern`` gives: the pattern is first read as an
address with an optional port (``parse_address(allow_ranges=True)``: a port is taken
off only when what is left is a host name, an IPv4 or an IPv6 address, each of which
may hold ranges); anything else is kept whole, without a port. Then every
``[BEGIN:END]`` or ``[BEGIN:END:STEP]`` range is expanded, left to right, as
``expand_hostname_range`` does: numbers (with leading zeros kept when ``BEGIN`` has
them, and then ``END`` as wide), letters of ``a-zA-Z`` in that order, the step a
positive number. Names come out in Ansible's order.

Where Ansible gives nothing (a range counting down, ``[5:1]``, or a negative step) the
pattern is an error here: Ansible would silently drop the line's hosts. The expansion
is bounded (:data:`MAX_NAMES` names, :data:`MAX_CHARS` characters); every error is one
line naming the file and line and what to write instead.
"""

from __future__ import annotations

import re
import string

from runners.inventory.model import Origin, quote

MAX_NAMES = 100_000  # host names one file may expand to
MAX_CHARS = 32 * 2**20  # characters of the names made, intermediate ones included

# A port after the address: ``[ADDRESS]:PORT`` (what is in brackets is checked after),
# then ``ADDRESS:PORT`` with no ':' outside brackets. Python's '$' also matches before
# a final newline, as Ansible's expressions do; kept so the two agree on every text.
_BRACKETED_PORT = re.compile(r"\[(.+)\]:([0-9]+)$")
_PLAIN_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")

# A host name: dot-separated labels of word characters and '-', not starting with '-'
# nor ending with '-' or '_'; a label may hold ranges of digits or of one letter each.
_NAME_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:\w|{_NAME_RANGE})(?:[\w-]|{_NAME_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*$", re.I)
# An IPv4 address is also a host name by the rule above: no test of its own is needed.

# IPv6 pieces: a group of 1-4 hex digits or a hex range, a ':' or a '.'.
_V6_TOKEN = re.compile(r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]|[0-9a-f]+|[:.]", re.I)
_V6_EMBEDDED_PREFIXES = (  # what may come before an IPv4-style tail a.b.c.d
    ("0", ":") * 6,
    (":", ":"),
    (":", ":", "ffff", ":"),
    ("0", ":") * 5 + ("ffff", ":"),
)
_V6_MAX_GROUPS = 8


def _ipv6_shape(tokens: list[str]) -> bool:
    """Whether ``tokens`` (groups, ':' and '.') are an IPv6 address as Ansible accepts
    it: eight groups; or at most seven around one '::' (at most six on either side,
    and ``a::`` needs at most six before); or an IPv4-style tail after a known prefix."""
    if "." in tokens:
        head, tail = tokens[:-7], tokens[-7:]
        if len(tail) != 7 or tail[1::2] != [".", ".", "."]:
            return False
        if any(t in ":." for t in tail[::2]):
            return False
        return tuple(t.lower() for t in head) in _V6_EMBEDDED_PREFIXES
    shape = "".join(t if t == ":" else "c" for t in tokens)
    if "::" not in shape:
        return shape == ":".join("c" * _V6_MAX_GROUPS)
    if shape.count("::") != 1 or ":::" in shape:
        return False
    left, right = shape.split("::")
    sizes = []
    for side in (left, right):
        if side and side != ":".join("c" * (len(side) // 2 + 1)):
            return False
        sizes.append(side.count("c"))
    before, after = sizes
    return before + after <= _V6_MAX_GROUPS - 1 and max(before, after) <= _V6_MAX_GROUPS - 2


def is_ipv6(text: str) -> bool:
    """Whether ``text`` is an IPv6 address (ranges allowed) as Ansible's grammar has it."""
    if text.endswith("\n"):  # '$' again: one final newline is allowed
        text = text[:-1]
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _V6_TOKEN.match(text, pos)
        if m is None:
            return False
        piece = m.group()
        if piece not in ":." and piece[0] != "[" and len(piece) > 4:
            return False
        tokens.append(piece)
        pos = m.end()
    return bool(tokens) and _ipv6_shape(tokens)


def split_port(text: str) -> tuple[str, int | None]:
    """``(address, port)`` as Ansible's ``parse_address(text, allow_ranges=True)``
    reads ``text``; ``(text, None)`` where Ansible cannot read it as an address."""
    if ":" not in text:
        return text, None  # the common case: no port (both expressions need a ':')
    address, port = text, None
    for expression in (_BRACKETED_PORT, _PLAIN_PORT):  # both, in turn, as Ansible
        m = expression.match(address)
        if m is not None:
            address, port = m.group(1), int(m.group(2))
    if port is None:
        return text, None  # nothing taken off: whether it is an address does not matter
    if _HOSTNAME.match(address) or is_ipv6(address):
        return address, port
    return text, None


def expand_hostpattern(
    text: str, origin: Origin, *, limit: int = MAX_NAMES
) -> tuple[list[str], int | None]:
    """The host names ``text`` stands for and the port given with them (``None``: no
    port), as Ansible's inventory plugins read a host key or a host line's first word.

    At most ``limit`` names (a reader passes what is left of its file's
    :data:`MAX_NAMES`); errors are one line, ``origin.error(...)``.
    """
    pattern, port = split_port(text)
    if "[" not in pattern:
        return [pattern], port
    if port is None and text.startswith("[") and text.endswith("]") and is_ipv6(text[1:-1]):
        raise origin.error(  # Ansible reads it as a range, and fails: say why
            f"host {quote(text)}: an IPv6 address in brackets needs a port after it "
            f"({text}:22); without a port, write the address bare ({text[1:-1]})"
        )
    return _expand(pattern, text, origin, limit), port


def _expand(pattern: str, text: str, origin: Origin, limit: int) -> list[str]:
    """Every range of ``pattern`` expanded, first range outermost (Ansible's order)."""
    names: list[str] = []
    todo = [pattern]  # a stack, next name last: the order of Ansible's recursion
    made = 0
    while todo:
        name = todo.pop()
        if "[" not in name:
            names.append(name)
            continue
        head, values, tail = _one_range(name, text, origin)
        if len(names) + len(todo) + len(values) > limit:  # each pending name gives >= 1
            raise _too_many(text, origin, limit)
        made += len(values) * (len(head) + len(tail)) + sum(len(v) for v in values)
        if made > MAX_CHARS:
            raise origin.error(
                f"host pattern {quote(text)} expands to more than {MAX_CHARS // 2**20} MiB "
                "of host names: shorten the names or narrow the ranges"
            )
        todo.extend(head + value + tail for value in reversed(values))
    return names


def _too_many(text: str, origin: Origin, limit: int) -> Exception:
    if limit < MAX_NAMES:
        return origin.error(
            f"host pattern {quote(text)} takes the file past {MAX_NAMES:,} host names "
            f"(with the hosts before it): ringbench reads at most {MAX_NAMES:,} per file; "
            "split the inventory into several files"
        )
    return origin.error(
        f"host pattern {quote(text)} expands to more than {MAX_NAMES:,} host names: "
        f"ringbench reads at most {MAX_NAMES:,} per file; narrow the range"
    )


def _one_range(name: str, text: str, origin: Origin) -> tuple[str, list[str], str]:
    """``name``'s first range: the text before it, the values it stands for, the text
    after it (which may hold more ranges), as Ansible's ``expand_hostname_range`` cuts
    ``name`` (its first '[' and its first ']')."""
    parts = name.replace("[", "|", 1).replace("]", "|", 1).split("|")
    if len(parts) != 3:
        raise origin.error(
            f"host pattern {quote(text)} has a '[' without its ']' (or a '|'): "
            "write a range as NAME[BEGIN:END] or NAME[BEGIN:END:STEP]"
        )
    head, spec, tail = parts
    what = f"host range [{spec}] in {quote(text)}"
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise origin.error(
            f"{what} is not BEGIN:END or BEGIN:END:STEP: write it as [1:9], [01:20:2] or [a:f]"
        )
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise origin.error(f"{what} has no end: write [BEGIN:END]")
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    if width and width != len(end):
        raise origin.error(
            f"{what} starts with a leading zero, so its end must have as many digits "
            f"({len(begin)}): write e.g. [{begin}:{end.zfill(width)}]"
        )
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise origin.error(f"{what} has a step that is not a number: write [BEGIN:END:2]") from None
    if step == 0:
        raise origin.error(f"{what} has a step of 0: give a step of 1 or more")
    if step < 0:
        raise origin.error(
            f"{what} has a negative step, which Ansible expands to no host at all: "
            "give a positive step"
        )
    letters = string.ascii_letters
    if begin in letters and end in letters:  # Ansible looks them up as substrings
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise origin.error(
                f"{what} counts down ({letters} is the order): write the lower letter first"
            )
        return head, list(letters[first : last + 1 : step]), tail
    try:
        low, high = int(begin), int(end)
    except ValueError:
        raise origin.error(
            f"{what} is neither two numbers nor two letters: write e.g. [1:9] or [a:f]"
        ) from None
    if low > high:
        raise origin.error(
            f"{what} counts down, which Ansible expands to no host at all: write [{end}:{begin}]"
        )
    count = (high - low) // step + 1
    if count > MAX_NAMES:
        raise _too_many(text, origin, MAX_NAMES)
    numbers = range(low, high + 1, step)
    if width:
        return head, [str(n).zfill(width) for n in numbers], tail
    return head, [str(n) for n in numbers], tail
