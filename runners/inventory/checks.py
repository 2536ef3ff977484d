"""What holds across hosts: names that can name result files, baselines that are
hosts of the same machine and never loop."""

from __future__ import annotations

import dataclasses
import difflib

from ringbench.errors import UserError
from ringbench.results import host_file_key
from runners.inventory.host import Host
from runners.inventory.model import Origin, quote
from runners.inventory.resolve import Resolved


def check_names(hosts: dict[str, Host]) -> dict[str, Host]:
    """Two names with one :func:`ringbench.results.host_file_key` (``h1`` and ``H1``)
    would be one file on a case-insensitive disk: the second is left out."""
    taken: dict[str, str] = {}  # host_file_key -> the first host with it
    out = dict(hosts)
    for name, host in hosts.items():
        if not host.usable:
            continue
        other = taken.setdefault(host_file_key(name), name)
        if other != name:
            out[name] = dataclasses.replace(
                host,
                unusable=f"its name differs only in case from host {quote(other)} "
                f"({hosts[other].source}): their result files would be one file on a "
                "case-insensitive disk: rename one of them",
            )
    return out


def resolve_machines(hosts: dict[str, Host]) -> dict[str, Host]:
    """A host that names no machine runs on its baseline's (or is its own machine).

    Each chain of baselines is walked once (baselines are known and acyclic here).
    """
    machine: dict[str, str] = {}
    for host in hosts.values():
        chain: list[str] = []
        cursor = host
        while cursor.name not in machine and not cursor.machine and cursor.baseline:
            chain.append(cursor.name)
            cursor = hosts[cursor.baseline]
        end = machine.setdefault(cursor.name, cursor.machine or cursor.name)
        machine.update(dict.fromkeys(chain, end))
    return {
        name: h if h.machine == machine[name] else dataclasses.replace(h, machine=machine[name])
        for name, h in hosts.items()
    }


def _baseline_origin(resolved: Resolved, name: str) -> Origin:
    var = resolved.hosts[name].vars.get("baseline")
    return var.origin if var is not None and var.origin.line else resolved.hosts[name].origin


def check_baselines(resolved: Resolved, hosts: dict[str, Host]) -> dict[str, Host]:
    """Every baseline is another host of the inventory, and no chain of them loops; a
    host whose baseline is left out is left out too.

    Each host is walked past once: a chain stops at a host already known to end.
    """

    def fail(name: str, message: str) -> UserError:
        return _baseline_origin(resolved, name).error(f"host {quote(name)}: {message}")

    for host in hosts.values():
        if not host.usable:
            continue
        if host.baseline == host.name:
            raise fail(
                host.name,
                "is its own baseline: name another host on the same machine, "
                "or set baseline only on the hosts measured against this one",
            )
        if host.baseline is not None and host.baseline not in hosts:
            close = difflib.get_close_matches(host.baseline, hosts, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "name a host of this inventory"
            raise fail(host.name, f"unknown baseline {quote(host.baseline)}: {hint}")
    ends: set[str] = set()  # hosts whose chain of baselines is known to end
    for start in hosts:
        chain: dict[str, None] = {}  # this walk, in order
        cursor: str | None = start
        while cursor is not None and cursor not in ends:
            if cursor in chain:
                walked = list(chain)
                ring = [*walked[walked.index(cursor) :], cursor]
                raise fail(
                    ring[0],
                    f"baselines form a cycle: {' -> '.join(ring)}: "
                    "a baseline host has no baseline of its own",
                )
            chain[cursor] = None
            cursor = hosts[cursor].baseline if hosts[cursor].usable else None
        ends.update(chain)
    out = dict(hosts)
    for name in hosts:  # in file order; a chain of left-out baselines is followed to its end
        walker = out[name]
        seen = 0
        while walker.usable and walker.baseline is not None and seen < len(hosts):
            base = out[walker.baseline]
            if not base.usable:
                out[name] = dataclasses.replace(
                    out[name],
                    unusable=f"its baseline {quote(base.name)} is left out ({base.unusable})",
                )
                break
            walker, seen = base, seen + 1
    return out


def check_machines(resolved: Resolved, hosts: dict[str, Host]) -> None:
    for host in hosts.values():
        base = hosts[host.baseline] if host.baseline and host.usable else None
        if base is not None and base.machine != host.machine:
            raise _baseline_origin(resolved, host.name).error(
                f"host {quote(host.name)}: runs on machine {quote(host.machine)} but its "
                f"baseline {quote(base.name)} on {quote(base.machine)}: overhead needs "
                "the same hardware (set 'machine' on both)"
            )
