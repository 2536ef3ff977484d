"""Connections to hosts: run a command, put and get files.

The local host and (with the SSH runners) remote hosts share one interface,
so the rest of the code does not care which it talks to. Every command is an
argument list (never a shell string) and has a timeout; failures are typed
and carry the tail of the output, as Fabric's are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ringbench.errors import CommandError

TAIL_LINES = 5
TERM_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Result:
    """How a command ended: what ran, what it printed, its exit code, how long it took."""

    command: tuple[str, ...]
    stdout: str
    stderr: str
    exited: int
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exited == 0


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-TAIL_LINES:]
    return " | ".join(lines)


class UnexpectedExit(CommandError):
    """The command exited non-zero; the message holds the tail of its output."""

    def __init__(self, host: str, result: Result) -> None:
        tail = _tail(result.stderr) or _tail(result.stdout) or "no output"
        super().__init__(
            f"'{result.command[0]}' exited {result.exited}: {tail}", host=host, result=result
        )


class CommandTimedOut(CommandError):
    """The command ran past its timeout and was killed."""

    def __init__(self, host: str, result: Result, timeout_s: float) -> None:
        super().__init__(
            f"'{' '.join(result.command[:3])}' timed out after {timeout_s:.0f} s",
            host=host,
            result=result,
        )
        self.timeout_s = timeout_s


class Connection(Protocol):
    """What the runners need of a host."""

    host: str

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result: ...

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def close(self) -> None: ...


class LocalConnection:
    """This machine, through the same interface as a remote host."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

    def __enter__(self) -> LocalConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release for the local host."""

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        """Run ``argv`` in its own process group; kill the whole group on timeout.

        The harness forks helpers (ping-pong partners, servers); killing the
        group leaves none behind, whether the call times out or the caller is
        interrupted.
        """
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            stdout, stderr = proc.communicate()
            result = Result(tuple(argv), stdout, stderr, -1, time.monotonic() - started)
            raise CommandTimedOut(self.host, result, timeout_s) from None
        except BaseException:
            _kill_group(proc)
            proc.communicate()
            raise
        result = Result(tuple(argv), stdout, stderr, proc.returncode, time.monotonic() - started)
        if check and not result.ok:
            raise UnexpectedExit(self.host, result)
        return result

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        target = Path(remote)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(local, tmp)
        tmp.chmod(mode)
        tmp.replace(target)

    def get(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the group (the harness then removes its files), SIGKILL what remains."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
