"""``ringbench inventory check|show`` and ``ringbench probe``: the hosts, before any run.

The inventory's sources are files or directories, merged in order as Ansible
merges several ``-i``: positional arguments of ``inventory check|show``, or
``--inventory`` repeated (not both), ``inventory.yaml`` when none is given.

Whatever came from the inventory or from a host (names, addresses, probe
evidence, reasons, hypervisor strings) is shown through :func:`shown`: plain
text, never rich markup, its control characters written as ``\\x..`` escapes.

Format history of ``ringbench inventory show --json`` (a JSON object on standard output):

1. first version: ``format``, ``sources``, ``hosts`` (by name: ``address``, ``port``,
   ``user``, ``connection``, ``key_file``, ``groups``, ``usable``, ``reason``,
   ``source``, ``vars`` of ringbench's own keys), ``warnings``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ringbench.errors import UserError
from ringbench.results import RunDir
from ringbench.results.text import printable
from runners.cli.common import (
    ExitCode,
    Parser,
    add_inventory_sources,
    add_ssh_options,
    connect_options,
    inventory_sources,
    say,
)
from runners.deploy import deploy
from runners.inventory import Host, Inventory, load_inventory
from runners.pipeline import HOST_FAILURES
from runners.plan import LOCAL_HOST, ConnectOptions, connect
from runners.probe import ProbedHost, probe_host
from suites.build import build

MAX_PARALLEL = 16
SHOW_FORMAT = 1  # of ``inventory show --json``: the history is in the module's docstring


def shown(text: str, style: str = "") -> Text:
    """Inventory or host text as a cell: plain (``[/red]`` stays as it is), its control
    characters as ``\\x..`` escapes (:func:`ringbench.results.text.printable`)."""
    return Text(printable(text), style=style)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inventory", help="check or show the inventory")
    actions = p.add_subparsers(
        dest="action", metavar="check|show", required=True, parser_class=Parser
    )
    for action, help_text in (
        (
            "check",
            "whether ringbench can run on the hosts: exit 0 when at least one host is usable, "
            "1 when none is, 2 when the inventory is wrong",
        ),
        ("show", "the hosts as resolved, usable or not, and why not"),
    ):
        q = actions.add_parser(action, help=help_text, description=help_text)
        q.add_argument(
            "sources",
            nargs="*",
            type=Path,
            metavar="SOURCE",
            help="inventory files or directories, merged in order (or --inventory; "
            "default inventory.yaml)",
        )
        add_inventory_sources(q)
        if action == "show":
            q.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
            q.add_argument("--json", action="store_true", help="the resolved inventory as JSON")
    p.set_defaults(func=_inventory)
    p = sub.add_parser("probe", help="what each host is: facts and virtualization layers")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="this machine only, no inventory")
    where.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
    add_inventory_sources(p)
    p.add_argument("--json", action="store_true", help="print the probe documents as JSON")
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="write the probe documents in DIR/probes/"
    )
    add_ssh_options(p)
    p.set_defaults(func=_probe)


def _inventory(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.sources and args.inventory:
        raise UserError(
            f"inventory {args.action}: give the sources as arguments or with --inventory, not both"
        )
    sources = tuple(args.sources) or inventory_sources(args)
    if args.action == "check":
        return cmd_inventory_check(console, sources)
    if args.json:
        return cmd_inventory_json(sources, args.hosts)
    return cmd_inventory_show(console, sources, args.hosts)


def _probe(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_probe(
        console,
        inventory_sources(args),
        args.hosts,
        options=connect_options(args),
        local=args.local,
        as_json=args.json,
        out=args.out,
    )


def _named(sources: Sequence[Path]) -> str:
    return ", ".join(str(s) for s in sources)


def cmd_inventory_check(console: Console, sources: Sequence[Path]) -> int:
    """One line for the inventory, one per warning and per host left out; 0 when at least
    one host is usable, 1 when none is (a wrong inventory raises: 2)."""
    inv = load_inventory(sources)
    machines = {h.machine for h in inv.hosts}
    usable = len(inv.usable)
    verdict = "valid" if usable else "no host ringbench can run on"
    say(
        console,
        printable(
            f"{_named(sources)}: {len(inv.hosts)} host(s) on {len(machines)} machine(s), "
            f"{usable} usable: {verdict}"
        ),
        None if usable else "red",
    )
    for line in inv.notes():
        say(console, printable(line), "yellow")
    return ExitCode.OK if usable else ExitCode.FAILED


def _matching(inv: Inventory, patterns: Sequence[str]) -> list[Host]:
    """:meth:`Inventory.matching`, its error escaped (host names are the inventory's text)."""
    try:
        return inv.matching(patterns)
    except UserError as exc:
        raise UserError(printable(str(exc))) from None


def _address(h: Host) -> str:
    if h.is_local:
        return "local"
    user = f"{h.user}@" if h.user else ""
    jump = f" via {h.proxy_jump}" if h.proxy_jump else ""
    return f"{user}{h.address}:{h.port}{jump}"


def cmd_inventory_show(console: Console, sources: Sequence[Path], patterns: Sequence[str]) -> int:
    """A table of the hosts, usable or not (with why not), and the inventory's warnings."""
    inv = load_inventory(sources)
    table = Table(title=shown(_named(sources)))
    columns = ("host", "address", "usable", "class declared", "machine", "baseline")
    for column in (*columns, "hypervisor", "groups"):
        table.add_column(column)
    for h in _matching(inv, patterns):
        cells = (h.name, _address(h), h.virt_class, h.machine, h.baseline, h.hypervisor)
        usable = shown("yes") if h.usable else shown(h.unusable or "", style="yellow")
        row = [shown(c or "-") for c in cells]
        row.insert(2, usable)
        table.add_row(*row, shown(", ".join(h.groups) or "-"))
    console.print(table)
    for warning in inv.warnings:
        say(console, printable(f"warning: {warning}"), "yellow")
    return ExitCode.OK


def inventory_document(inv: Inventory, hosts: Sequence[Host]) -> dict[str, object]:
    """``inventory show --json``: format :data:`SHOW_FORMAT` (history in the docstring)."""
    return {
        "format": SHOW_FORMAT,
        "sources": [str(s) for s in inv.sources],
        "hosts": {
            h.name: {
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "connection": h.connection,
                "key_file": h.key_file,
                "groups": list(h.groups),
                "usable": h.usable,
                "reason": h.unusable,
                "source": h.source,
                "vars": h.own_vars,
            }
            for h in hosts
        },
        "warnings": list(inv.warnings),
    }


def cmd_inventory_json(sources: Sequence[Path], patterns: Sequence[str]) -> int:
    """The resolved inventory as JSON on standard output (JSON escapes what hosts hold)."""
    inv = load_inventory(sources)
    print(json.dumps(inventory_document(inv, _matching(inv, patterns)), indent=2, sort_keys=True))
    return ExitCode.OK


def _probe_one(host: Host, options: ConnectOptions) -> ProbedHost | str:
    conn = connect(host, options)
    try:
        binary = deploy(conn, build())
        return probe_host(conn, host, binary.path)
    except HOST_FAILURES as exc:
        return str(exc)
    finally:
        conn.close()


def probe_table(rows: Sequence[tuple[Host, ProbedHost | str]]) -> Table:
    """What the probe found on each host (a failure: its reason), every cell plain text."""
    table = Table(title="virtualization layers, outermost first")
    for column in ("host", "class", "declared", "layers", "evidence / disagreement"):
        table.add_column(column)
    for host, result in rows:
        if isinstance(result, str):
            cells = [shown(host.name), Text("failed", style="red"), shown(host.virt_class or "-")]
            table.add_row(*cells, Text("-"), shown(result))
            continue
        cls = result.classification
        notes = shown("\n".join(e for layer in cls.layers for e in layer.evidence))
        for line in [f"disagreement: {d}" for d in cls.disagreements] + [result.warning or ""]:
            if line:
                notes.append(shown(("\n" if notes.plain else "") + line, style="yellow"))
        table.add_row(
            shown(host.name),
            shown(cls.virt_class),
            shown(host.virt_class or "-"),
            shown(cls.technologies()),
            notes if notes.plain else Text("no virtualization seen"),
        )
    return table


def cmd_probe(
    console: Console,
    inventory: Sequence[Path],
    patterns: Sequence[str],
    *,
    options: ConnectOptions,
    local: bool,
    as_json: bool,
    out: Path | None,
) -> int:
    """Deploy the harness and probe each host: facts, layers with evidence, the declared class."""
    hosts = [LOCAL_HOST] if local else load_inventory(inventory).select(patterns)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts))) as pool:
        found = list(pool.map(lambda h: _probe_one(h, options), hosts))
    rows = list(zip(hosts, found, strict=True))
    documents = {
        host.name: {**result.document, "host": host.name}
        for host, result in rows
        if not isinstance(result, str)
    }
    if out is not None:
        for name, document in documents.items():
            RunDir(out).write_probe(name, document)
    if as_json:
        print(json.dumps(documents, indent=2, sort_keys=True))
    else:
        console.print(probe_table(rows))
        if out is not None:
            say(console, printable(f"probe documents written to {RunDir(out).probes_dir}/"))
    return ExitCode.FAILED if len(documents) < len(rows) else ExitCode.OK
