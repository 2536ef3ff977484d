"""Boot the lab's hosts side by side and wait, bounded, until each answers on SSH.

Interrupted (Ctrl-C, or SIGTERM turned into it), :func:`boot_all` abandons every
boot at once: it tells the boot threads to stop at their next step, ends the
commands they run and the processes they started, and waits only for the threads
to notice (each step is bounded); :mod:`.lifecycle` then removes the rest.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

from ringbench.errors import TransportError
from ringbench.progress import Progress
from runners.lab import engine, guests, keys
from runners.lab.context import Cancelled, Endpoint, LabContext, LeftOut
from runners.lab.hosts import HostSpec
from runners.lab.procs import LabError, alive, kill_all, kill_running, tail, with_descendants
from runners.lab.state import HostRecord, LabHostState, lab_processes
from runners.lab.status import answers
from runners.ssh import SSHConnection, resolve_target
from runners.transport import CommandTimedOut, UnexpectedExit

ATTEMPT_TIMEOUT_S = 5.0
BANNER_WAIT_S = 1.0
POLL_S = 0.5
STOP_WAIT_S = 30.0  # an interrupted host's start ends its step: ip (15 s), a killed copy
INTERRUPTED = "interrupted while booting: abandoned"
_KNOWN_HOSTS_LOCK = threading.Lock()
# The SSH attempts of the boot threads now, so that an interruption can end them.
_ATTEMPTS: set[SSHConnection] = set()
_ATTEMPTS_LOCK = threading.Lock()


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
    conn = SSHConnection(target)
    with _ATTEMPTS_LOCK:
        _ATTEMPTS.add(conn)
    try:
        with conn:
            conn.run(["true"], timeout_s=ATTEMPT_TIMEOUT_S)
            if set_clock:  # a QEMU guest starts from the RTC's whole seconds
                conn.run(["date", "-u", "-s", f"@{time.time():.3f}"], timeout_s=ATTEMPT_TIMEOUT_S)
    finally:
        with _ATTEMPTS_LOCK:
            _ATTEMPTS.discard(conn)


def close_attempts() -> None:
    """Close every SSH attempt under way (``lab up`` interrupted): each then fails at once
    instead of waiting for a guest that is gone."""
    with _ATTEMPTS_LOCK:
        attempts = list(_ATTEMPTS)
    for conn in attempts:
        with contextlib.suppress(Exception):  # whatever paramiko says of a closed transport
            conn.close()


def wait_ssh(
    spec: HostSpec, endpoint: Endpoint, ctx: LabContext, known_hosts: Path, started: float
) -> None:
    """Until ``spec``'s host answers; raise :class:`LabError` when its process ends or the
    boot takes longer than the host's bound."""
    deadline = started + spec.boot_timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        ctx.check()
        if not alive(endpoint.pid, None):
            log = ctx.paths.log(spec.name)
            said = log.read_text(errors="replace") if log.exists() else ""
            raise LabError(f"its process exited during boot: {tail(said, 300)}")
        # SSH only once sshd's banner comes: a short wait each time, so that an interrupted
        # boot is not held by an SSH attempt to a guest that is gone
        if answers(endpoint.address, endpoint.port, BANNER_WAIT_S):
            try:
                ssh_true(
                    spec.name, endpoint, ctx.paths.client_key, known_hosts, set_clock=spec.own_clock
                )
                return
            except (TransportError, CommandTimedOut, UnexpectedExit) as exc:
                last = str(exc)
        else:
            last = f"no SSH banner from {endpoint.address}:{endpoint.port}"
        ctx.cancel.wait(POLL_S)
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
        ctx.starting.add(spec.name)
        try:
            endpoint = spec.start(ctx)
            ctx.state.update(spec.name, address=endpoint.address, port=endpoint.port)
            with _KNOWN_HOSTS_LOCK:
                ctx.check()  # an interrupted lab forgets its endpoints: none added after
                keys.trust(known_hosts, ctx.paths, [(endpoint.address, endpoint.port)])
        finally:
            ctx.starting.discard(spec.name)
        progress.update(spec.name, description=f"booting, {endpoint.address}:{endpoint.port}")
        wait_ssh(spec, endpoint, ctx, known_hosts, started)
    except LeftOut as exc:
        ctx.state.update(spec.name, state=LabHostState.LEFT_OUT, reason=str(exc))
    except Cancelled:
        ctx.state.update(spec.name, state=LabHostState.DOWN, reason=INTERRUPTED)
    except LabError as exc:
        if ctx.cancel.is_set():  # its process or a command of its start ended by the stop
            ctx.state.update(spec.name, state=LabHostState.DOWN, reason=INTERRUPTED)
        else:
            _failed(spec, ctx, endpoint, exc)
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


def _failed(spec: HostSpec, ctx: LabContext, endpoint: Endpoint | None, exc: LabError) -> None:
    """A host that did not come up: its processes ended, its record says why."""
    # never leave a hung guest behind: its containers, then its processes
    engine.remove([c for c in ctx.state.state.containers if c.host == spec.name])
    if endpoint is not None:
        kill_all(with_descendants([endpoint.pid]))
    state = LabHostState.LEFT_OUT if spec.optional else LabHostState.DOWN
    ctx.state.update(spec.name, state=state, reason=str(exc))
    if spec.name == "kvm":
        guests.record_kvm(ctx, False, f"QEMU -accel kvm did not boot a guest: {exc}")


def boot_all(
    specs: list[HostSpec], ctx: LabContext, known_hosts: Path, progress: Progress
) -> list[HostRecord]:
    """Every host booted in parallel; each one bounded by its own time limit.

    On an interruption (KeyboardInterrupt, or any exception here) every boot is
    abandoned at once: the threads are told to stop, the commands they run, their SSH
    attempts and the lab's processes are ended, and the exception goes on as soon as no
    thread is creating anything (a step of a host's start: bounded, and stopped by the
    same means). A thread still waiting for an SSH answer creates nothing more: it is a
    daemon, left to notice on its own."""
    for spec in specs:
        progress.start(spec.name, "starting", total=1)
    # A guest that accepts TCP before its sshd runs makes paramiko's transport thread log a
    # traceback per attempt; those attempts are expected while it boots.
    logger = logging.getLogger("paramiko")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    outcomes: dict[str, HostRecord | BaseException] = {}

    def boot(spec: HostSpec) -> None:
        try:
            outcomes[spec.name] = boot_one(spec, ctx, known_hosts, progress)
        except BaseException as exc:  # handed to the main thread, raised there
            outcomes[spec.name] = exc

    threads = [threading.Thread(target=boot, args=(s,), name=f"boot-{s.name}") for s in specs]
    for thread in threads:
        thread.daemon = True  # never keeps the process once it is done with the lab
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(POLL_S)
    except BaseException:
        _abandon_boots(ctx, threads)
        raise
    finally:
        logger.setLevel(level)
    records = []
    for spec in specs:
        outcome = outcomes[spec.name]
        if isinstance(outcome, BaseException):
            raise outcome
        records.append(outcome)
    return records


def _abandon_boots(ctx: LabContext, threads: list[threading.Thread]) -> None:
    """Stop every boot; return once no thread is in a step that creates something."""
    ctx.cancel.set()
    kill_running()  # a copy or an ip command of a host's start
    close_attempts()
    kill_all(lab_processes(ctx.state.state), grace_s=0)  # abandoned: no grace
    deadline = time.monotonic() + STOP_WAIT_S
    while any(t.is_alive() for t in threads) and ctx.starting and time.monotonic() < deadline:
        time.sleep(0.05)
