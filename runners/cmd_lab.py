"""``ringbench lab up | down | status``: the local lab (see :mod:`runners.lab`)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from runners.lab import lifecycle
from runners.lab.paths import LabPaths
from runners.lab.status import lab_status

EXIT_OK, EXIT_FAILED = 0, 1
DEFAULT_INVENTORY = Path("inventory.yaml")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def cmd_lab_up(
    console: Console, *, inventory: Path = DEFAULT_INVENTORY, lab_dir: Path | None = None
) -> int:
    """Bring the lab up and write its inventory; 1 when a host that should run did not."""
    paths = LabPaths(lab_dir) if lab_dir else LabPaths.default()
    result = lifecycle.up(console, paths, inventory)
    if result.previous is not None and result.previous.processes + len(result.previous.netns):
        p = result.previous
        console.print(
            f"removed a previous lab: {p.processes} processes, "
            f"{len(p.netns)} namespaces, {len(p.links)} links"
        )
    table = Table(
        title=f"lab up in {result.timings['total']:.0f} s "
        f"(build {result.timings['rootfs'] + result.timings['image']:.0f} s, "
        f"boots {result.timings['boot']:.0f} s)"
    )
    for column in ("host", "class", "address", "state", "boot", "reason"):
        table.add_column(column)
    failed = False
    for r in result.hosts:
        where = f"{r.address}:{r.port}" if r.address else "-"
        boot = f"{r.boot_s:.1f} s" if r.state == "up" else "-"
        table.add_row(r.name, r.virt_class, where, r.state, boot, r.reason)
        failed = failed or r.state == "down"
    console.print(table)
    console.print(
        f"inventory written to {result.inventory}; run on it with: ringbench run "
        f"--inventory {result.inventory}"
    )
    return EXIT_FAILED if failed else EXIT_OK


def cmd_lab_down(console: Console, *, lab_dir: Path | None = None) -> int:
    """Stop every host and remove every namespace, veth and tap of the lab."""
    paths = LabPaths(lab_dir) if lab_dir else LabPaths.default()
    removed, left = lifecycle.down(paths)
    if removed is None:
        console.print("no lab is up (no state file)")
        return EXIT_OK
    console.print(
        f"lab down: {removed.processes} processes, {len(removed.netns)} namespaces, "
        f"{len(removed.links)} links removed"
    )
    if left:
        console.print(f"[red]still there: {', '.join(left)}[/red]", highlight=False)
        return EXIT_FAILED
    return EXIT_OK


def cmd_lab_status(console: Console, *, lab_dir: Path | None = None) -> int:
    """A table: host, class, address, state, uptime, reason when down; 1 when one is down."""
    paths = LabPaths(lab_dir) if lab_dir else LabPaths.default()
    hosts = lab_status(paths)
    if hosts is None:
        console.print("no lab is up: run 'ringbench lab up'")
        return EXIT_FAILED
    table = Table(title=f"ringbench lab ({paths.root})")
    for column in ("host", "class", "address", "state", "uptime", "reason"):
        table.add_column(column)
    for h in hosts:
        color = {"up": "green", "left-out": "yellow"}.get(h.state, "red")
        table.add_row(
            h.name,
            h.virt_class,
            h.address,
            f"[{color}]{h.state}[/{color}]",
            _duration(h.uptime_s),
            h.reason,
        )
    console.print(table)
    return EXIT_OK if all(h.state in ("up", "left-out") for h in hosts) else EXIT_FAILED
