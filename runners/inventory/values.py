"""The values ringbench reads out of ssh arguments, CPU lists and key files."""

from __future__ import annotations

import functools
import os
import re
import shlex
import stat
from pathlib import Path

from runners.inventory.model import quote

_JUMP_HOP = re.compile(r"(?:[^@\s,]+@)?(?:\[[0-9A-Fa-f:.%\w]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")


@functools.lru_cache(maxsize=4096)  # a fleet shares a few: 30,000 hosts, one string
def parse_proxy_jump(args: str) -> str | None:
    """The ``ProxyJump`` spec in ssh arguments (``-J SPEC``, ``-o ProxyJump=SPEC``...).

    Raises :class:`ValueError` saying what to change for unbalanced quotes, a
    ``ProxyCommand`` or a spec that is not ``[USER@]HOST[:PORT][,...]``.
    Other options are left to ssh's defaults; the first jump given wins.
    """
    if not args.strip():
        return None
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ValueError(f"{exc}: close the quotes") from None
    found: str | None = None
    rest = iter(words)
    for word in rest:
        spec: str | None = None
        if word.startswith("-J"):
            spec = word[2:] or next(rest, "")
        elif word.startswith("-o"):
            option = re.match(
                r"\s*([A-Za-z]+)\s*(?:=\s*|\s+|$)(.*)", word[2:] or next(rest, ""), re.DOTALL
            )
            key, value = (option[1].lower(), option[2].strip()) if option else ("", "")
            if key == "proxycommand" and value.lower() != "none":
                raise ValueError(
                    "ProxyCommand is not supported: use -o ProxyJump=USER@BASTION "
                    "(or -J USER@BASTION)"
                )
            if key == "proxyjump":
                spec = value or next(rest, "")
        if spec is None or found is not None:
            continue
        if spec.lower() != "none" and not all(
            (hop := _JUMP_HOP.fullmatch(part)) and int(hop[1] or 22) <= 65535
            for part in spec.split(",")
        ):
            raise ValueError(
                f"ProxyJump {quote(spec)} is not [USER@]HOST[:PORT][,...]: "
                "write the jump hosts that way"
            )
        found = spec
    return found


def parse_cpus(text: str) -> tuple[int, ...]:
    """A CPU list as the kernel writes one: ``0``, ``0,2``, ``0-3,6`` (sorted, unique)."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError("write CPU numbers and ranges, e.g. 0 or 0-1,3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last > 4095:
            raise ValueError(f"the range {part} is empty or beyond CPU 4095")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def key_problem(path: Path) -> str | None:
    """Why ssh would not use the key file at ``path`` (what is wrong: what to do), or None."""
    fix = (
        "fix ansible_ssh_private_key_file (relative paths start at the inventory's "
        "directory) or create the key"
    )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return f"key file {path} is not a file: {fix}"
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            # As OpenSSH: "UNPROTECTED PRIVATE KEY FILE", and it will not use the key.
            return (
                f"permissions 0{info.st_mode & 0o777:03o} for {path} are too open "
                f"(others can read the private key; ssh refuses it): "
                f"chmod 600 {shlex.quote(str(path))}"
            )
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return f"key file {path} does not exist: {fix}"
    except OSError as exc:
        return f"key file {path} cannot be read ({exc.strerror or exc}): {fix}"
