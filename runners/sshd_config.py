"""The configuration of an OpenSSH server of ringbench's own on a loopback port.

Used by the lab's native host and by the tests' servers: key authentication
only, no PAM (so no root is needed), its own host key, pid file and
authorized_keys, SFTP in-process.
"""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_sshd_config(
    port: int,
    host_key: Path,
    pid_file: Path,
    authorized_keys: Path,
    *,
    log_level: str = "ERROR",
    tcp_forwarding: bool = False,
    extra: tuple[str, ...] = (),
) -> str:
    """The server's sshd_config; ``extra`` lines go last (``SetEnv``, ``ForceCommand``)."""
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {pid_file}",
            f"AuthorizedKeysFile {authorized_keys}",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "UseDNS no",
            f"AllowTcpForwarding {'yes' if tcp_forwarding else 'no'}",
            "Subsystem sftp internal-sftp",
            f"LogLevel {log_level}",
            *extra,
            "",
        ]
    )
