"""Atomic file writes (a reader sees the old file or the new one, never half of one) and
advisory file locks between processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


class LockBusy(OSError):
    """Another process holds the lock and did not release it in time."""


@contextlib.contextmanager
def locked(path: Path, *, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600 if missing) for the block.

    ``timeout_s`` 0 fails at once when another process holds it; otherwise it waits
    that long. Raises :class:`LockBusy`. The lock is released when the block ends or
    the process dies (the kernel drops it with the descriptor), so no stale lock is
    left behind by a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(f"{path} is locked by another process") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _atomic(path: Path, write: Callable[[IO[bytes]], object], mode: int) -> None:
    """Write ``path`` through ``write(fp)`` into a temporary file, then rename it.

    The temporary file lives in the same directory (so the rename is atomic),
    is flushed and fsynced before the rename, and is removed if ``write``
    fails, so an interruption leaves either the previous file or nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, write: Callable[[IO[str]], object], *, mode: int = 0o644) -> None:
    """Write ``path`` as UTF-8 text through ``write(fp)``, atomically."""

    def text(fp: IO[bytes]) -> None:
        with open(fp.fileno(), "w", encoding="utf-8", closefd=False) as out:
            write(out)

    _atomic(path, text, mode)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically."""
    _atomic(path, lambda fp: fp.write(data), mode)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(path: Path, data: Any, *, mode: int = 0o644) -> None:  # noqa: ANN401 - any JSON value
    """Write ``data`` as indented JSON to ``path`` atomically (NaN refused: it is not JSON)."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_text(path, text, mode=mode)
