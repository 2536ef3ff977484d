"""``ringbench lab up | down | status``: the local lab (see :mod:`runners.lab`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runners.cli.common import ExitCode, say
from runners.cli.progress import LiveProgress
from runners.lab import lifecycle
from runners.lab.instance import Instance
from runners.lab.oci import GVISOR_PLATFORMS
from runners.lab.paths import LabPaths
from runners.lab.placement import DISKS, Placement
from runners.lab.state import LabHostState
from runners.lab.status import lab_status

STATE_STYLES = {LabHostState.UP: "green", LabHostState.LEFT_OUT: "yellow"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lab", help="the local lab: one host per environment class (root)")
    p.add_argument(
        "action",
        choices=["up", "down", "status", "inventory"],
        help="inventory: print the path of the lab's inventory (exit 1 when the lab is down)",
    )
    p.add_argument(
        "--inventory",
        type=Path,
        metavar="FILE",
        help="where 'up' writes the lab's hosts too (it always writes them in the lab's "
        "directory: 'ringbench lab inventory' prints where)",
    )
    p.add_argument(
        "--placement",
        default="pinned",
        metavar="pinned|float|MEASURE:HELPERS",
        help="where the guests run: pinned (default: the guests' vCPUs on the last CPU, "
        "helpers and the controller on the others), float (the scheduler decides), or "
        "CPUs of your choice, e.g. 0:1",
    )
    p.add_argument(
        "--disks",
        choices=sorted(DISKS),
        default="cached",
        help="how the guests' disks are backed: cached (default: writes stop in this "
        "machine's page cache, as most hypervisors default) or durable (O_SYNC/O_DIRECT on "
        "this machine: a guest's fsync and O_DIRECT reach the disk)",
    )
    p.add_argument(
        "--gvisor-platform",
        choices=GVISOR_PLATFORMS,
        default="ptrace",
        help="how the gvisor host's application kernel intercepts system calls: ptrace "
        "(default: works on any Linux), kvm (needs a /dev/kvm that runs gVisor's guest) or "
        "systrap (gVisor releases from 2023)",
    )
    p.add_argument(
        "--instance",
        metavar="NAME",
        help="which lab of this machine: 'default' (the default: $RINGBENCH_LAB_INSTANCE or "
        "the lab as it always was) or a name of 1-5 lower-case letters and digits; each has "
        "its own directory, namespaces, links, subnets and process tag",
    )
    p.add_argument(
        "--lab-dir",
        type=Path,
        metavar="DIR",
        help="the instance's state, keys and images (default $RINGBENCH_LAB_DIR or "
        "/var/cache/ringbench-lab, with -NAME appended for an instance NAME)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where 'up' keeps the debootstrap root file system, which instances may share "
        "(default $RINGBENCH_LAB_CACHE, else the lab directory)",
    )
    p.set_defaults(func=_lab)


def _lab(console: Console, args: argparse.Namespace, argv: Sequence[str]) -> int:
    where = {"lab_dir": args.lab_dir, "instance": args.instance}
    if args.action == "up":
        placement = Placement.parse(args.placement)
        return cmd_lab_up(
            console,
            inventory=args.inventory,
            placement=placement,
            disks=args.disks,
            gvisor_platform=args.gvisor_platform,
            cache_dir=args.cache_dir,
            **where,
        )
    if args.action == "down":
        return cmd_lab_down(console, **where)
    if args.action == "inventory":
        return cmd_lab_inventory(**where)
    return cmd_lab_status(console, **where)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _containers(names: tuple[str, ...]) -> str:
    return f"{len(names)} container{'s' if len(names) != 1 else ''}, " if names else ""


def _paths(lab_dir: Path | None, instance: str | None, cache_dir: Path | None = None) -> LabPaths:
    chosen = Instance(instance) if instance else Instance.from_env()
    return LabPaths.of(chosen, lab_dir, cache_dir)


def cmd_lab_up(
    console: Console,
    *,
    inventory: Path | None = None,
    lab_dir: Path | None = None,
    placement: Placement | None = None,
    disks: str = "cached",
    gvisor_platform: str = "ptrace",
    instance: str | None = None,
    cache_dir: Path | None = None,
) -> int:
    """Bring the lab up and write its inventory; 1 when a host that should run did not."""
    placement = placement or Placement.default()
    paths = _paths(lab_dir, instance, cache_dir)
    with LiveProgress(console, width=10) as progress:
        result = lifecycle.up(
            paths,
            inventory,
            progress,
            placement=placement,
            disks=disks,
            gvisor_platform=gvisor_platform,
        )
    if result.previous is not None and result.previous.processes + len(result.previous.netns):
        p = result.previous
        say(
            console,
            f"removed a previous lab: {_containers(p.containers)}{p.processes} processes, "
            f"{len(p.netns)} namespaces, {len(p.links)} links",
        )
    table = Table(
        title=f"lab up in {result.timings['total']:.0f} s "
        f"(build {result.timings['rootfs'] + result.timings['image']:.0f} s, "
        f"boots {result.timings['boot']:.0f} s)"
    )
    for column in ("host", "class", "address", "state", "boot", "placement", "reason"):
        table.add_column(column)
    failed = False
    for r in result.hosts:
        where = f"{r.address}:{r.port}" if r.address else "-"
        boot = f"{r.boot_s:.1f} s" if r.state is LabHostState.UP else "-"
        state = Text(r.state.value, style=STATE_STYLES.get(r.state, "red"))
        cells = (Text(r.name), Text(r.virt_class), Text(where), state, boot)
        table.add_row(*cells, Text(r.placement or "-"), Text(r.reason))
        failed = failed or r.state is LabHostState.DOWN
    console.print(table)
    say(console, f"placement: {placement.describe()}; disks: {disks}: {DISKS[disks]}")
    written = f"{result.inventory}" + (f" and {result.copy}" if result.copy else "")
    say(
        console,
        f"inventory written to {written}; run on it with: ringbench run "
        f"--inventory {result.copy or result.inventory}",
    )
    return ExitCode.FAILED if failed else ExitCode.OK


def cmd_lab_inventory(*, lab_dir: Path | None = None, instance: str | None = None) -> int:
    """Print the path of the lab's inventory (for scripts: ``--inventory "$(...)"``); 1
    and nothing printed when the lab is not up."""
    paths = _paths(lab_dir, instance)
    if lab_status(paths) is None or not paths.inventory.is_file():
        return ExitCode.FAILED
    print(paths.inventory)
    return ExitCode.OK


def cmd_lab_down(
    console: Console, *, lab_dir: Path | None = None, instance: str | None = None
) -> int:
    """Stop every host and remove every namespace, veth and tap of the lab."""
    paths = _paths(lab_dir, instance)
    removed, left = lifecycle.down(paths)
    if removed is None:
        say(console, f"no lab of instance {paths.instance.name} is up (no {paths.state_file})")
        return ExitCode.OK
    say(
        console,
        f"lab down: {_containers(removed.containers)}{removed.processes} processes, "
        f"{len(removed.netns)} namespaces, {len(removed.links)} links removed",
    )
    if left:
        say(console, f"still there: {', '.join(left)}", "red")
        return ExitCode.FAILED
    return ExitCode.OK


def cmd_lab_status(
    console: Console, *, lab_dir: Path | None = None, instance: str | None = None
) -> int:
    """A table: host, class, address, state, uptime, reason when down; 1 when one is down."""
    paths = _paths(lab_dir, instance)
    hosts = lab_status(paths)
    if hosts is None:
        say(
            console,
            f"no lab of instance {paths.instance.name} is up: run "
            f"'ringbench lab up{paths.instance.option()}'",
        )
        return ExitCode.FAILED
    named = "" if paths.instance.is_default else f" instance {paths.instance.name}"
    table = Table(title=Text(f"ringbench lab{named} ({paths.root})"))
    for column in ("host", "class", "address", "state", "uptime", "placement", "reason"):
        table.add_column(column)
    for h in hosts:
        table.add_row(
            Text(h.name),
            Text(h.virt_class),
            Text(h.address),
            Text(h.state.value, style=STATE_STYLES.get(h.state, "red")),
            _duration(h.uptime_s),
            Text(h.placement or "-"),
            Text(h.reason),
        )
    console.print(table)
    if paths.inventory.is_file():
        say(console, f"inventory: {paths.inventory}")
    return ExitCode.OK if all(h.state.fine for h in hosts) else ExitCode.FAILED
