"""``lab up`` and ``lab down``: the steps, in order, each bounded.

up: refuse a lab directory the guests' command lines would split, take the
instance's lock, remove a previous lab of the instance (whatever its state
file lists), install what is missing, make the keys, build the root file
system (under the cache's lock) and image (cached), boot every host side by
side, trust the lab's host keys, write the inventory. Either the lab is up
and its inventory written, or nothing of it is left: a failure or an
interruption (Ctrl-C, SIGTERM) abandons every boot at once and removes every
process, namespace, link, tap, known_hosts line and file of the run, then
raises (:class:`~ringbench.errors.Interrupted` for an interruption).
down: kill, delete, forget, remove the state file.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ringbench.errors import Interrupted
from ringbench.files import LockBusy, locked
from ringbench.progress import Level, Progress
from runners.lab import hosts, invfile, keys, packages, rootfs
from runners.lab.boot import INTERRUPTED, boot_all
from runners.lab.context import LabContext
from runners.lab.paths import LabPaths, check_safe_path, private_dir
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

# How long a lab up waits for another instance's build of a shared cache.
CACHE_WAIT_S = rootfs.DEBOOTSTRAP_TIMEOUT_S + rootfs.COPY_TIMEOUT_S + rootfs.MKFS_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class UpResult:
    hosts: tuple[HostRecord, ...]
    timings: dict[str, float]  # step -> seconds
    previous: Leftovers | None
    inventory: Path  # the lab's own (paths.inventory)
    copy: Path | None = None  # the file given with --inventory, written too


@contextlib.contextmanager
def _instance_lock(paths: LabPaths) -> Iterator[None]:
    """One ``lab up`` or ``lab down`` of the instance at a time."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(paths.lock))
        except LockBusy:
            raise LabError(
                f"another 'ringbench lab up' or 'lab down' of instance {paths.instance.name} "
                f"({paths.root}) is running: wait for it to end"
            ) from None
        yield


def _load_own(paths: LabPaths) -> StateFile | None:
    """The state file of the instance; refused when it is another instance's."""
    state = StateFile.load(paths.state_file)
    if state is not None and state.state.instance != paths.instance.name:
        raise LabError(
            f"{paths.state_file} is the state of lab instance {state.state.instance!r}, "
            f"not {paths.instance.name!r}: give each instance its own directory, or run "
            f"'ringbench lab down --instance {state.state.instance} --lab-dir {paths.root}'"
        )
    return state


def _forget_endpoints(state: LabState) -> None:
    endpoints = [(r.address, r.port) for r in state.hosts.values() if r.address]
    keys.forget(default_known_hosts(), endpoints)


def remove_previous(paths: LabPaths) -> Leftovers | None:
    """Clean up what the state file lists (a lab still up, or one that died)."""
    previous = _load_own(paths)
    if previous is None:
        return None
    left = cleanup(previous.state)
    if left.survivors:
        raise LabError(
            f"processes {', '.join(map(str, left.survivors))} of the previous lab "
            "survive SIGKILL: the state file is kept; try 'lab down' again"
        )
    _forget_endpoints(previous.state)
    paths.state_file.unlink(missing_ok=True)
    paths.inventory.unlink(missing_ok=True)
    return left


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGINT and SIGTERM held back while the lab is removed (a second Ctrl-C would leave
    half of it); the list says which came. Only the main thread can do this."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        del frame
        arrived.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield arrived
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _abandon(paths: LabPaths, state: StateFile) -> tuple[Leftovers, list[str]]:
    """Remove everything the interrupted or failed ``up`` created; what could not go."""
    left = cleanup(state.state)
    still = remaining(state.state)
    if still:  # kept for 'lab down'; its hosts are down
        for record in state.state.hosts.values():
            if record.state is LabHostState.BOOTING:
                record.state, record.reason = LabHostState.DOWN, INTERRUPTED
        state.save()
        state.close()
        return left, still
    state.close()
    _forget_endpoints(state.state)
    paths.state_file.unlink(missing_ok=True)
    shutil.rmtree(paths.run, ignore_errors=True)
    return left, still


def _interrupted(paths: LabPaths, state: StateFile, left: Leftovers, still: list[str]) -> str:
    booting = [
        name
        for name, r in state.state.hosts.items()
        if r.state is LabHostState.BOOTING or r.reason == INTERRUPTED
    ]
    during = f" during the boot of {', '.join(booting)}" if booting else ""
    stopped = len({p.pid for p in state.state.processes}) or left.processes
    removed = (
        f"stopped {stopped} processes, removed {len(left.netns)} namespaces and "
        f"{len(left.links)} links"
    )
    if still:
        return (
            f"lab up interrupted{during}: {removed}; still there: {', '.join(still)}: run "
            f"'ringbench lab down{paths.instance.option()} --lab-dir {paths.root}'"
        )
    return f"lab up interrupted{during}: {removed}; nothing of instance {paths.instance.name} left"


def up(
    paths: LabPaths,
    inventory: Path | None,
    progress: Progress,
    host_filter: Callable[[hosts.HostSpec], bool] | None = None,
    placement: Placement | None = None,
    disks: str = "cached",
    gvisor_platform: str = "ptrace",
) -> UpResult:
    """Bring the whole lab up; hosts that do not come up are reported, not raised.

    ``progress`` hears of each step (``packages``, ``rootfs``, ``image``) and
    of each host's boot (a task named after the host). The inventory is written in the
    lab's directory (``paths.inventory``), and to ``inventory`` too when one is given."""
    check_safe_path(paths.root, "lab directory", "--lab-dir, or $RINGBENCH_LAB_DIR")
    # the cache's too: debootstrap's mounts in it are found again by path
    check_safe_path(paths.cache, "lab cache directory", "--cache-dir, or $RINGBENCH_LAB_CACHE")
    if inventory is not None:  # before anything starts: never lose a user's file
        invfile.check_replaceable(inventory)
    try:
        private_dir(paths.root)
    except OSError as exc:
        raise LabError(
            f"cannot make the lab directory {paths.root} ({exc.strerror}): run as root, or "
            "choose another with --lab-dir"
        ) from None
    try:
        with _instance_lock(paths):
            return _up(paths, inventory, progress, host_filter, placement, disks, gvisor_platform)
    except KeyboardInterrupt:  # before any host started: the builds removed their parts
        said = "lab up interrupted before any host started: no build was left half-done"
        if paths.state_file.exists():  # a previous lab's, not removed yet
            said += (
                f"; {paths.state_file} lists what is left of a previous lab: run "
                f"'ringbench lab down{paths.instance.option()} --lab-dir {paths.root}'"
            )
        raise Interrupted(said) from None


@contextlib.contextmanager
def _cache_lock(paths: LabPaths, progress: Progress) -> Iterator[None]:
    """The cache's lock: another instance may be building or pruning a shared cache."""
    paths.cache.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(paths.cache_lock))
        except LockBusy:
            progress.message(f"waiting for another lab's build in {paths.cache}", level=Level.INFO)
            try:
                stack.enter_context(locked(paths.cache_lock, timeout_s=CACHE_WAIT_S))
            except LockBusy:
                raise LabError(
                    f"{paths.cache_lock} stayed locked for {CACHE_WAIT_S:g} s by another lab's "
                    "build: try again, or give this instance a cache of its own (--cache-dir)"
                ) from None
        yield


def _build(paths: LabPaths, progress: Progress, timings: dict[str, float]) -> rootfs.Image:
    """The keys, the root file system and the instance's image (under the cache's lock:
    the image is copied from the cache's tree, which another instance may prune)."""
    step = time.monotonic()
    keys.ensure_keys(paths)
    with _cache_lock(paths, progress):
        tree = rootfs.build_rootfs(paths, progress)
        timings["rootfs"] = time.monotonic() - step
        step = time.monotonic()
        image = rootfs.build_image(paths, tree, progress)
        timings["image"] = time.monotonic() - step
    return image


def _up(
    paths: LabPaths,
    inventory: Path | None,
    progress: Progress,
    host_filter: Callable[[hosts.HostSpec], bool] | None,
    placement: Placement | None,
    disks: str,
    gvisor_platform: str,
) -> UpResult:
    timings: dict[str, float] = {}
    started = time.monotonic()
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
    image = _build(paths, progress, timings)
    shutil.rmtree(paths.run, ignore_errors=True)
    private_dir(paths.run)
    placement = placement or Placement.default()
    state = StateFile(paths.state_file, LabState.new(paths.instance, placement.to_json()))
    state.save()
    ctx = LabContext(paths, state, image, placement, disks, gvisor_platform)
    chosen = [s for s in hosts.specs() if host_filter is None or host_filter(s)]
    try:
        step = time.monotonic()
        records = boot_all(chosen, ctx, default_known_hosts(), progress)
        timings["boot"] = time.monotonic() - step
        for record in records:
            timings[f"boot:{record.name}"] = record.boot_s
        if not any(r.state is LabHostState.UP for r in records):
            raise LabError(
                "no host of the lab came up: " + "; ".join(f"{r.name}: {r.reason}" for r in records)
            )
        for target in (paths.inventory, inventory):
            if target is not None:
                invfile.write_inventory(
                    target,
                    records,
                    paths.client_key,
                    default_known_hosts(),
                    placement,
                    disks,
                    paths.instance,
                )
    except BaseException as exc:
        with _signals_held() as arrived:
            left, still = _abandon(paths, state)
        if isinstance(exc, KeyboardInterrupt) or arrived:
            raise Interrupted(_interrupted(paths, state, left, still)) from None
        raise
    timings["total"] = time.monotonic() - started
    return UpResult(tuple(records), timings, previous, paths.inventory, inventory)


def down(paths: LabPaths) -> tuple[Leftovers | None, list[str]]:
    """Remove the lab; what was removed, and what is left (empty when all went)."""
    if StateFile.load(paths.state_file) is None:
        return None, []
    with _instance_lock(paths):
        state = _load_own(paths)
        if state is None:
            return None, []
        left = cleanup(state.state)
        still = remaining(state.state)
        if not still:
            _forget_endpoints(state.state)
            paths.state_file.unlink(missing_ok=True)
            paths.inventory.unlink(missing_ok=True)
            shutil.rmtree(paths.run, ignore_errors=True)
        return left, still
