"""Boot the lab's hosts side by side and wait, bounded, until each answers on SSH."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from ringbench.errors import TransportError
from ringbench.progress import Progress
from runners.lab import guests, keys
from runners.lab.context import Endpoint, LabContext, LeftOut
from runners.lab.hosts import HostSpec
from runners.lab.procs import LabError, alive, kill_all, tail, with_descendants
from runners.lab.state import HostRecord, LabHostState
from runners.ssh import SSHConnection, resolve_target
from runners.transport import CommandTimedOut, UnexpectedExit

ATTEMPT_TIMEOUT_S = 5.0
POLL_S = 0.5
_KNOWN_HOSTS_LOCK = threading.Lock()


def ssh_true(
    name: str, endpoint: Endpoint, key: Path, known_hosts: Path, *, set_clock: bool = False
) -> None:
    """A real ``true`` over SSH with the lab's key; raises when the host does not answer.
    With ``set_clock``, the guest's clock is then set to this machine's."""
    target = resolve_target(
        name,
        endpoint.address,
        user="root",
        port=endpoint.port,
        key_file=str(key),
        known_hosts=known_hosts,
    )
    target = replace(target, connect_timeout_s=ATTEMPT_TIMEOUT_S, key_files=(str(key),))
    with SSHConnection(target) as conn:
        conn.run(["true"], timeout_s=ATTEMPT_TIMEOUT_S)
        if set_clock:  # a QEMU guest starts from the RTC's whole seconds
            conn.run(["date", "-u", "-s", f"@{time.time():.3f}"], timeout_s=ATTEMPT_TIMEOUT_S)


def wait_ssh(
    spec: HostSpec, endpoint: Endpoint, ctx: LabContext, known_hosts: Path, started: float
) -> None:
    """Until ``spec``'s host answers; raise :class:`LabError` when its process ends or the
    boot takes longer than the host's bound."""
    deadline = started + spec.boot_timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not alive(endpoint.pid, None):
            log = ctx.paths.log(spec.name)
            said = log.read_text(errors="replace") if log.exists() else ""
            raise LabError(f"its process exited during boot: {tail(said, 300)}")
        try:
            ssh_true(
                spec.name, endpoint, ctx.paths.client_key, known_hosts, set_clock=spec.own_clock
            )
            return
        except (TransportError, CommandTimedOut, UnexpectedExit) as exc:
            last = str(exc)
        time.sleep(POLL_S)
    console = last_console_line(ctx.paths.log(spec.name))
    raise LabError(
        f"no SSH answer within {spec.boot_timeout_s:g} s; its console stops at "
        f"{console!r}; last SSH error: {last.split(': ', 1)[-1][:80]}"
    )


def last_console_line(log: Path) -> str:
    """The last line a guest printed, without terminal escapes (where a hung boot stopped)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc", "", text)
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and "terminating on signal" not in line
    ]
    return lines[-1][:120] if lines else "(nothing)"


def boot_one(spec: HostSpec, ctx: LabContext, known_hosts: Path, progress: Progress) -> HostRecord:
    """Start one host and wait for it; the record says up, down or left out, and why."""
    record = ctx.state.host(
        HostRecord(
            spec.name, spec.virt_class, hypervisor=spec.hypervisor, state=LabHostState.BOOTING
        )
    )
    started = time.monotonic()
    endpoint: Endpoint | None = None
    try:
        endpoint = spec.start(ctx)
        ctx.state.update(spec.name, address=endpoint.address, port=endpoint.port)
        with _KNOWN_HOSTS_LOCK:
            keys.trust(known_hosts, ctx.paths, [(endpoint.address, endpoint.port)])
        progress.update(spec.name, description=f"booting, {endpoint.address}:{endpoint.port}")
        wait_ssh(spec, endpoint, ctx, known_hosts, started)
    except LeftOut as exc:
        ctx.state.update(spec.name, state=LabHostState.LEFT_OUT, reason=str(exc))
    except LabError as exc:
        if endpoint is not None:  # never leave a hung guest behind
            kill_all(with_descendants([endpoint.pid]))
        state = LabHostState.LEFT_OUT if spec.optional else LabHostState.DOWN
        ctx.state.update(spec.name, state=state, reason=str(exc))
        if spec.name == "kvm":
            guests.record_kvm(ctx, False, f"QEMU -accel kvm did not boot a guest: {exc}")
    else:
        took = time.monotonic() - started
        ctx.state.update(
            spec.name, state=LabHostState.UP, started=time.time(), boot_s=round(took, 1)
        )
        if spec.name == "kvm":
            guests.record_kvm(ctx, True, "booted")
    label = record.state.value.replace("-", " ")
    ok = record.state is not LabHostState.DOWN
    progress.finish(spec.name, f"{label} {record.reason[:80]}".strip(), ok=ok)
    return record


def boot_all(
    specs: list[HostSpec], ctx: LabContext, known_hosts: Path, progress: Progress
) -> list[HostRecord]:
    """Every host booted in parallel; each one bounded by its own time limit."""
    for spec in specs:
        progress.start(spec.name, "starting", total=1)
    # A guest that accepts TCP before its sshd runs makes paramiko's transport thread log a
    # traceback per attempt; those attempts are expected while it boots.
    logger = logging.getLogger("paramiko")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = [pool.submit(boot_one, s, ctx, known_hosts, progress) for s in specs]
            return [f.result() for f in futures]
    finally:
        logger.setLevel(level)
