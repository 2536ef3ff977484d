"""``lab up`` and ``lab down``: the steps, in order, each bounded.

up: remove a previous lab (whatever its state file lists), install what is
missing, make the keys, build the root file system and image (cached), boot
every host side by side, trust the lab's host keys, write the inventory.
down: kill, delete, forget, remove the state file.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ringbench.progress import Level, Progress
from runners.lab import hosts, invfile, keys, packages, rootfs
from runners.lab.boot import boot_all
from runners.lab.context import LabContext
from runners.lab.paths import LabPaths
from runners.lab.placement import Placement
from runners.lab.procs import LabError
from runners.lab.state import (
    HostRecord,
    LabHostState,
    LabState,
    Leftovers,
    StateFile,
    cleanup,
    remaining,
)
from runners.ssh import default_known_hosts


@dataclass(frozen=True, slots=True)
class UpResult:
    hosts: tuple[HostRecord, ...]
    timings: dict[str, float]  # step -> seconds
    previous: Leftovers | None
    inventory: Path


def remove_previous(paths: LabPaths) -> Leftovers | None:
    """Clean up what the state file lists (a lab still up, or one that died)."""
    previous = StateFile.load(paths.state_file)
    if previous is None:
        return None
    left = cleanup(previous.state)
    if left.survivors:
        raise LabError(
            f"processes {', '.join(map(str, left.survivors))} of the previous lab "
            "survive SIGKILL: the state file is kept; try 'lab down' again"
        )
    endpoints = [(r.address, r.port) for r in previous.state.hosts.values() if r.address]
    keys.forget(default_known_hosts(), endpoints)
    paths.state_file.unlink(missing_ok=True)
    return left


def up(
    paths: LabPaths,
    inventory: Path,
    progress: Progress,
    host_filter: Callable[[hosts.HostSpec], bool] | None = None,
    placement: Placement | None = None,
    disks: str = "cached",
) -> UpResult:
    """Bring the whole lab up; hosts that do not come up are reported, not raised.

    ``progress`` hears of each step (``packages``, ``rootfs``, ``image``) and
    of each host's boot (a task named after the host)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    invfile.check_replaceable(inventory)  # before anything starts: never lose a user's file
    previous = remove_previous(paths)
    timings["cleanup"] = time.monotonic() - started
    step = time.monotonic()
    missing = packages.missing_packages()
    if missing:
        progress.message(
            f"installing the lab's Debian packages: {' '.join(missing)}", level=Level.INFO
        )
        packages.install(missing, progress)
    timings["install"] = time.monotonic() - step
    step = time.monotonic()
    keys.ensure_keys(paths)
    tree = rootfs.build_rootfs(paths, progress)
    timings["rootfs"] = time.monotonic() - step
    step = time.monotonic()
    image = rootfs.build_image(paths, tree, progress)
    timings["image"] = time.monotonic() - step
    shutil.rmtree(paths.run, ignore_errors=True)
    paths.run.mkdir(parents=True)
    placement = placement or Placement.default()
    state = StateFile(paths.state_file, LabState.new(placement.to_json()))
    state.save()
    ctx = LabContext(paths, state, image, placement, disks)
    chosen = [s for s in hosts.specs() if host_filter is None or host_filter(s)]
    step = time.monotonic()
    records = boot_all(chosen, ctx, default_known_hosts(), progress)
    timings["boot"] = time.monotonic() - step
    for record in records:
        timings[f"boot:{record.name}"] = record.boot_s
    if not any(r.state is LabHostState.UP for r in records):
        raise LabError(
            "no host of the lab came up: " + "; ".join(f"{r.name}: {r.reason}" for r in records)
        )
    invfile.write_inventory(
        inventory, records, paths.client_key, default_known_hosts(), placement, disks
    )
    timings["total"] = time.monotonic() - started
    return UpResult(tuple(records), timings, previous, inventory)


def down(paths: LabPaths) -> tuple[Leftovers | None, list[str]]:
    """Remove the lab; what was removed, and what is left (empty when all went)."""
    state = StateFile.load(paths.state_file)
    if state is None:
        return None, []
    left = cleanup(state.state)
    still = remaining(state.state)
    if not still:
        endpoints = [(r.address, r.port) for r in state.state.hosts.values() if r.address]
        keys.forget(default_known_hosts(), endpoints)
        paths.state_file.unlink(missing_ok=True)
        shutil.rmtree(paths.run, ignore_errors=True)
    return left, still
