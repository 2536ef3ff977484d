"""``ringbench inventory check|show`` and ``ringbench probe``: the hosts, before any run.

Whatever came from the inventory or from a host (names, addresses, probe
evidence, reasons, hypervisor strings) is shown through :func:`shown`: plain
text, never rich markup, its control characters written as ``\\x..`` escapes.
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

from ringbench.results import RunDir
from ringbench.results.text import printable
from runners.cli.common import (
    ExitCode,
    add_inventory_option,
    add_ssh_options,
    connect_options,
    say,
)
from runners.deploy import deploy
from runners.inventory import Host, load_inventory
from runners.pipeline import HOST_FAILURES
from runners.plan import LOCAL_HOST, ConnectOptions, connect
from runners.probe import ProbedHost, probe_host
from suites.build import build

MAX_PARALLEL = 16


def shown(text: str, style: str = "") -> Text:
    """Inventory or host text as a cell: plain (``[/red]`` stays as it is), its control
    characters as ``\\x..`` escapes (:func:`ringbench.results.text.printable`)."""
    return Text(printable(text), style=style)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inventory", help="check or show the inventory")
    p.add_argument("action", choices=["check", "show"])
    add_inventory_option(p)
    p.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
    p.set_defaults(func=_inventory)
    p = sub.add_parser("probe", help="what each host is: facts and virtualization layers")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="this machine only, no inventory")
    where.add_argument("--hosts", action="append", default=[], metavar="PATTERN")
    add_inventory_option(p)
    p.add_argument("--json", action="store_true", help="print the probe documents as JSON")
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="write the probe documents in DIR/probes/"
    )
    add_ssh_options(p)
    p.set_defaults(func=_probe)


def _inventory(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.action == "check":
        return cmd_inventory_check(console, args.inventory)
    return cmd_inventory_show(console, args.inventory, args.hosts)


def _probe(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    return cmd_probe(
        console,
        args.inventory,
        args.hosts,
        options=connect_options(args),
        local=args.local,
        as_json=args.json,
        out=args.out,
    )


def cmd_inventory_check(console: Console, inventory: Path) -> int:
    inv = load_inventory(inventory)
    machines = {h.machine for h in inv.hosts}
    say(
        console,
        printable(f"{inventory}: {len(inv.hosts)} host(s) on {len(machines)} machine(s): valid"),
    )
    return ExitCode.OK


def cmd_inventory_show(console: Console, inventory: Path, patterns: Sequence[str]) -> int:
    inv = load_inventory(inventory)
    table = Table(title=shown(str(inventory)))
    for column in ("host", "address", "class declared", "machine", "baseline", "hypervisor"):
        table.add_column(column)
    for h in inv.select(patterns):
        if h.is_local:
            address = "local"
        else:
            user = f"{h.user}@" if h.user else ""
            jump = f" via {h.proxy_jump}" if h.proxy_jump else ""
            address = f"{user}{h.address}:{h.port}{jump}"
        cells = (h.name, address, h.virt_class, h.machine, h.baseline, h.hypervisor)
        table.add_row(*(shown(c or "-") for c in cells))
    console.print(table)
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
    inventory: Path,
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
