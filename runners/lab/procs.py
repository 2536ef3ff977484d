"""Subprocesses of the lab: bounded commands, tagged long-running processes, clean kills.

Every command is an argument list with a timeout, run in a process group of
its own that is killed whole when it times out or the lab is interrupted
(debootstrap's dpkg, a copy, mkfs: nothing of it outlives the step). Every
long-running process the lab starts carries ``RINGBENCH_LAB_TAG=<instance>-<lab
id>`` in its environment and a session of its own, so that clean-up finds all of
them, including the sessions sshd detaches from its process group, by reading
/proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ringbench.errors import UserError
from runners.lab.paths import TAG_VAR

TAIL_CHARS = 600
# The long-running processes this process started: kept so that each is waited for
# (reaped) once it ends, never dropped while it runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
# The bounded commands running now (in any thread), so that an interruption ends them.
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()


class LabError(UserError):
    """The lab could not do a step; one line, with the tail of what the tool said."""


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    text = " ".join(text.strip().split())
    return text if len(text) <= limit else "..." + text[-limit:]


def run_cmd(
    argv: Sequence[str],
    *,
    timeout_s: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end within ``timeout_s``; raise :class:`LabError` on failure.

    The command and whatever it starts are killed (their process group) when the
    time is up, when this thread is interrupted, or by :func:`kill_running`."""
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise LabError(
            f"{argv[0]} is not installed: run 'ringbench lab up', which installs the lab's packages"
        ) from None
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise LabError(f"'{' '.join(argv[:3])} ...' did not finish in {timeout_s:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    done = subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise LabError(
            f"'{' '.join(argv[:4])}' failed (exit {done.returncode}): "
            f"{tail(done.stderr or done.stdout)}"
        )
    return done


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the command's process group and reap the command (bounded)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)


def kill_running() -> None:
    """End every bounded command running now, in any thread (the lab is interrupted)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def spawn(argv: Sequence[str], *, tag: str, log: Path, stdin_devnull: bool = True) -> int:
    """Start a long-running process in a new session, tagged, output to ``log``; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, TAG_VAR: tag}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL if stdin_devnull else None,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def reap() -> None:
    """Wait for the lab's own children that have ended (no zombies left behind)."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (field 22), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is the process that was started at ``started`` and not a zombie."""
    reap()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (started is None or int(fields[19]) == started)


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tagged(tag: str, *, prefix: bool = False) -> list[int]:
    """Every live process whose environment carries the lab's tag (with ``prefix``: a tag
    that starts with ``tag``, e.g. any lab of one instance)."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            variables = (entry / "environ").read_bytes().split(b"\0")
            if any(v == needle or (prefix and v.startswith(needle)) for v in variables):
                found.append(int(entry.name))
    return found


def with_descendants(pids: Sequence[int]) -> list[int]:
    """``pids`` and every process below them."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def kill_all(pids: Sequence[int], *, grace_s: float = 3.0) -> list[int]:
    """SIGTERM ``pids``, then SIGKILL those left after ``grace_s``; those that survive."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        live = [p for p in pids if alive(p, None)]
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not any(alive(p, None) for p in live):
                break
            time.sleep(0.05)
    return [p for p in pids if alive(p, None)]
