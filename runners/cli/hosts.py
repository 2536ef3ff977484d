"""``ringbench inventory check|show`` and ``ringbench probe``: the hosts, before any run."""

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
    p.add_argument("--out", type=Path, metavar="DIR", help="write <host>.probe.json files here")
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
    say(console, f"{inventory}: {len(inv.hosts)} host(s) on {len(machines)} machine(s): valid")
    return ExitCode.OK


def cmd_inventory_show(console: Console, inventory: Path, patterns: Sequence[str]) -> int:
    inv = load_inventory(inventory)
    table = Table(title=Text(str(inventory)))
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
        table.add_row(*(Text(c or "-") for c in cells))
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
    documents = {}
    table = Table(title="virtualization layers, outermost first")
    for column in ("host", "class", "declared", "layers", "evidence / disagreement"):
        table.add_column(column)
    failed = False
    for host, result in zip(hosts, found, strict=True):
        if isinstance(result, str):
            failed = True
            cells = [Text(host.name), Text("failed", style="red"), Text(host.virt_class or "-")]
            table.add_row(*cells, Text("-"), Text(result))
            continue
        documents[host.name] = {**result.document, "host": host.name}
        cls = result.classification
        notes = Text("\n".join(e for layer in cls.layers for e in layer.evidence))
        for line in [f"disagreement: {d}" for d in cls.disagreements] + [result.warning or ""]:
            if line:
                notes.append(("\n" if notes.plain else "") + line, style="yellow")
        table.add_row(
            Text(host.name),
            Text(cls.virt_class),
            Text(host.virt_class or "-"),
            Text(cls.technologies()),
            notes if notes.plain else Text("no virtualization seen"),
        )
    if out is not None:
        for name, document in documents.items():
            RunDir(out).write_probe(name, document)
    if as_json:
        print(json.dumps(documents, indent=2, sort_keys=True))
    else:
        console.print(table)
        if out is not None:
            say(console, f"probe documents written to {out}/")
    return ExitCode.FAILED if failed else ExitCode.OK
