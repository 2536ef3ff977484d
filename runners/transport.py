"""Connections to hosts: run a command, put and get files.

The local host and (with the SSH runners) remote hosts share one interface,
so the rest of the code does not care which it talks to. Every command is an
argument list (never a shell string) and has a timeout; failures are typed
and carry the tail of the output, as Fabric's are.

What a command prints is data from the host: it is read under a deadline
checked on every pass of the read loop, and held to a cap per stream
(:data:`MAX_STDOUT_BYTES`, :data:`MAX_STDERR_BYTES`); a command that prints
more is killed (:class:`OutputTooLarge`). Text from a host that ends up in a
message goes through :func:`shown` first.
"""

from __future__ import annotations

import contextlib
import os
import selectors
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
# The caps on what one command may print. The harness prints well under 1 MiB per
# process (one JSON line per value); the largest reads of host facts (/proc/cpuinfo and
# mountinfo of a 512-CPU host with many containers) are about 1 MiB. 16 MiB is 16 times
# that, and bounds the controller's memory to a few times 16 MiB per host read at once.
# stderr carries error messages only, of which a failure shows the last lines.
MAX_STDOUT_BYTES = 16 * 2**20
MAX_STDERR_BYTES = 1 * 2**20
READ_CHUNK = 65536
SHOWN_CHARS = 200


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """Text from a host as a message may show it: one line, control characters escaped
    (``\\x1b``, ``\\n``), at most ``limit`` characters."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


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
    return " | ".join(shown(line) for line in lines)


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


def size_text(n: int) -> str:
    """``16 MiB`` for whole mebibytes, else ``1000 bytes``."""
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n} bytes"


class OutputTooLarge(CommandError):
    """The command printed more than its cap on one stream and was killed; ``result``
    holds what was read, up to the cap."""

    def __init__(self, host: str, result: Result, stream: str, limit: int) -> None:
        super().__init__(
            f"'{result.command[0]}' printed more than {size_text(limit)} on {stream}: killed",
            host=host,
            result=result,
        )
        self.stream = stream
        self.limit = limit


class Capped:
    """One output stream of a command, held to ``limit`` bytes; ``over`` says that more came
    (what came past the cap is dropped, so memory never holds more than the cap)."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.data = bytearray()
        self.over = False

    def want(self) -> int:
        """How much to read next: never more than one byte past the cap."""
        return max(1, min(READ_CHUNK, self.limit + 1 - len(self.data)))

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[self.limit :]
            self.over = True

    def text(self) -> str:
        return self.data.decode(errors="replace")


class Captured:
    """What a command printed so far, on stdout and stderr, each under its cap."""

    def __init__(self, stdout: int = MAX_STDOUT_BYTES, stderr: int = MAX_STDERR_BYTES) -> None:
        self.stdout = Capped("stdout", stdout)
        self.stderr = Capped("stderr", stderr)

    def result(self, argv: list[str], exited: int, started: float) -> Result:
        return Result(
            tuple(argv),
            self.stdout.text(),
            self.stderr.text(),
            exited,
            time.monotonic() - started,
        )

    def too_large(self, host: str, argv: list[str], started: float) -> OutputTooLarge | None:
        """The error to raise when a stream went over its cap, else None."""
        for stream in (self.stdout, self.stderr):
            if stream.over:
                return OutputTooLarge(
                    host, self.result(argv, -1, started), stream.name, stream.limit
                )
        return None


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
        group leaves none behind, whether the call times out, prints past its
        cap or the caller is interrupted. Nothing is read after the kill: a
        helper that left the group and keeps the pipe open cannot hold us.
        """
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        captured = Captured()
        try:
            ended = read_until_exit(proc, captured, started + timeout_s)
            too_large = captured.too_large(self.host, argv, started)
            if too_large is not None or not ended:
                _kill_group(proc)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        if too_large is not None:
            raise too_large
        if not ended:
            raise CommandTimedOut(self.host, captured.result(argv, -1, started), timeout_s)
        result = captured.result(argv, proc.returncode, started)
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


def read_until_exit(proc: subprocess.Popen[bytes], captured: Captured, deadline: float) -> bool:
    """Read both pipes until they close and ``proc`` exits: True; False when ``deadline``
    passed first. Returns early (True) when a stream goes over its cap."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): captured.stdout, proc.stderr.fileno(): captured.stderr}
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in selector.select(left):
                stream = streams[key.fd]
                chunk = os.read(key.fd, stream.want())
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                stream.add(chunk)
                if stream.over:
                    return True
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group (the harness then removes its files), SIGKILL what remains."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)
