"""``ringbench inventory check|show`` and ``ringbench probe``: the hosts, before any run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from runners.deploy import DeployError, deploy
from runners.errors import UserError
from runners.files import atomic_write_json
from runners.inventory import Host, load_inventory
from runners.pipeline import ProbedHost, probe_host
from runners.plan import LOCAL_HOST, ConnectOptions, connect
from runners.ssh import TransportError
from runners.transport import CommandError
from suites.build import build

EXIT_OK, EXIT_FAILED = 0, 1
MAX_PARALLEL = 16


def cmd_inventory_check(console: Console, inventory: Path) -> int:
    inv = load_inventory(inventory)
    machines = {h.machine for h in inv.hosts}
    console.print(f"{inventory}: {len(inv.hosts)} host(s) on {len(machines)} machine(s): valid")
    return EXIT_OK


def cmd_inventory_show(console: Console, inventory: Path, patterns: Sequence[str]) -> int:
    inv = load_inventory(inventory)
    table = Table(title=str(inventory))
    for column in ("host", "address", "class declared", "machine", "baseline", "hypervisor"):
        table.add_column(column)
    for h in inv.select(patterns):
        if h.is_local:
            address = "local"
        else:
            user = f"{h.user}@" if h.user else ""
            jump = f" via {h.proxy_jump}" if h.proxy_jump else ""
            address = f"{user}{h.address}:{h.port}{jump}"
        table.add_row(
            h.name, address, h.virt_class or "-", h.machine, h.baseline or "-", h.hypervisor or "-"
        )
    console.print(table)
    return EXIT_OK


def _probe_one(host: Host, options: ConnectOptions) -> ProbedHost | str:
    conn = connect(host, options)
    try:
        binary = deploy(conn, build())
        return probe_host(conn, host, binary.path)
    except (DeployError, TransportError, CommandError, UserError, OSError) as exc:
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
            table.add_row(host.name, "[red]failed[/red]", host.virt_class or "-", "-", result)
            continue
        documents[host.name] = {**result.document, "host": host.name}
        cls = result.classification
        notes = [e for layer in cls.layers for e in layer.evidence]
        notes += [f"[yellow]disagreement: {d}[/yellow]" for d in cls.disagreements]
        if result.warning:
            notes.append(f"[yellow]{result.warning}[/yellow]")
        table.add_row(
            host.name,
            cls.virt_class,
            host.virt_class or "-",
            cls.technologies(),
            "\n".join(notes) or "no virtualization seen",
        )
    if out is not None:
        for name, document in documents.items():
            atomic_write_json(out / f"{name}.probe.json", document)
    if as_json:
        print(json.dumps(documents, indent=2, sort_keys=True))
    else:
        console.print(table)
        if out is not None:
            console.print(f"probe documents written to {out}/")
    return EXIT_FAILED if failed else EXIT_OK
