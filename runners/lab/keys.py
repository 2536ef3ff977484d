"""The lab's SSH keys (made once per lab directory) and its lines in known_hosts."""

from __future__ import annotations

from pathlib import Path

from ringbench.files import atomic_write_text
from runners.lab.paths import LabPaths
from runners.lab.procs import run_cmd


def _keygen(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    run_cmd(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        timeout_s=30,
    )


def ensure_keys(paths: LabPaths) -> None:
    """The client key the lab logs in with and the host key every lab sshd presents."""
    for path, comment in (
        (paths.client_key, "ringbench-lab"),
        (paths.host_key, "ringbench-lab-host"),
    ):
        if not (path.is_file() and Path(f"{path}.pub").is_file()):
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


def trust(known_hosts: Path, paths: LabPaths, endpoints: list[tuple[str, int]]) -> None:
    """Write the lab's host key for each endpoint, replacing older keys for them."""
    kind, key = Path(f"{paths.host_key}.pub").read_text().split()[:2]
    patterns = {host_pattern(a, p) for a, p in endpoints}
    existing = known_hosts.read_text() if known_hosts.exists() else ""
    lines = _without(existing, patterns)
    lines += [f"{pattern} {kind} {key}" for pattern in sorted(patterns)]
    atomic_write_text(known_hosts, "\n".join(lines) + "\n")


def forget(known_hosts: Path, endpoints: list[tuple[str, int]]) -> None:
    """Remove the lab's lines for ``endpoints`` from known_hosts."""
    if not known_hosts.exists():
        return
    patterns = {host_pattern(a, p) for a, p in endpoints}
    lines = _without(known_hosts.read_text(), patterns)
    atomic_write_text(known_hosts, "\n".join(lines) + ("\n" if lines else ""))
