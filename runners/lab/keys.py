"""The lab's SSH keys (made once per instance's directory) and its lines in known_hosts.

The keys are 0600 in a 0700 directory, made in a private temporary directory and
moved into place, so that an interrupted ``lab up`` never leaves half a key. The
known_hosts file may be shared by several instances (and by ``ringbench run
--accept-new-host-keys``): it is rewritten under its lock (``known_hosts.lock``,
the SSH layer's), each instance changing only the lines of its own endpoints.
"""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

from ringbench.files import LockBusy, atomic_write_text, locked
from runners.lab.paths import LabPaths, private_dir
from runners.lab.procs import LabError, run_cmd

KNOWN_HOSTS_LOCK_S = 30.0


def _keygen(path: Path, comment: str) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".keygen-") as tmp:
        made = Path(tmp) / path.name
        run_cmd(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(made)],
            timeout_s=30,
        )
        made.chmod(0o600)
        Path(f"{made}.pub").replace(f"{path}.pub")
        made.replace(path)  # last: a private key beside its public one means both are whole


def ensure_keys(paths: LabPaths) -> None:
    """The client key the lab logs in with and the host key every lab sshd presents."""
    private_dir(paths.keys)
    for path, comment in (
        (paths.client_key, "ringbench-lab"),
        (paths.host_key, "ringbench-lab-host"),
    ):
        if path.is_file() and Path(f"{path}.pub").is_file():
            path.chmod(0o600)
            continue
        path.unlink(missing_ok=True)
        Path(f"{path}.pub").unlink(missing_ok=True)
        _keygen(path, comment)


def host_pattern(address: str, port: int) -> str:
    """How known_hosts names ``address:port`` (``[a]:p`` unless the port is 22)."""
    return address if port == 22 else f"[{address}]:{port}"


def _without(text: str, patterns: set[str]) -> list[str]:
    kept = []
    for line in text.splitlines():
        names = line.split(maxsplit=1)[0] if line.strip() else ""
        if not names or names.startswith("#") or not set(names.split(",")) & patterns:
            kept.append(line)
    return kept


def _rewrite(known_hosts: Path, lines: list[str]) -> None:
    """Replace the file's lines; a new file is 0600, an existing one keeps its mode."""
    mode = stat.S_IMODE(known_hosts.stat().st_mode) if known_hosts.exists() else 0o600
    atomic_write_text(known_hosts, "\n".join(lines) + ("\n" if lines else ""), mode=mode)


def _lock(known_hosts: Path) -> Path:
    return known_hosts.with_name(f"{known_hosts.name}.lock")


def trust(known_hosts: Path, paths: LabPaths, endpoints: list[tuple[str, int]]) -> None:
    """Write the lab's host key for each endpoint, replacing older keys for them."""
    kind, key = Path(f"{paths.host_key}.pub").read_text().split()[:2]
    patterns = {host_pattern(a, p) for a, p in endpoints}
    try:
        with locked(_lock(known_hosts), timeout_s=KNOWN_HOSTS_LOCK_S):
            existing = known_hosts.read_text() if known_hosts.exists() else ""
            lines = _without(existing, patterns)
            lines += [f"{pattern} {kind} {key}" for pattern in sorted(patterns)]
            _rewrite(known_hosts, lines)
    except LockBusy:
        raise LabError(
            f"{_lock(known_hosts)} stayed locked for {KNOWN_HOSTS_LOCK_S:g} s: the lab's "
            "host keys were not recorded; try again"
        ) from None


def forget(known_hosts: Path, endpoints: list[tuple[str, int]]) -> None:
    """Remove the lab's lines for ``endpoints`` from known_hosts."""
    if not known_hosts.exists() or not endpoints:
        return
    patterns = {host_pattern(a, p) for a, p in endpoints}
    try:
        with locked(_lock(known_hosts), timeout_s=KNOWN_HOSTS_LOCK_S):
            _rewrite(known_hosts, _without(known_hosts.read_text(), patterns))
    except LockBusy:
        raise LabError(
            f"{_lock(known_hosts)} stayed locked for {KNOWN_HOSTS_LOCK_S:g} s: the lab's "
            f"lines were left in {known_hosts}; remove them by hand or run 'lab down' again"
        ) from None
