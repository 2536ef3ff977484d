"""Real OpenSSH servers on loopback ports, for tests and benchmarks.

Each :class:`Sshd` is a genuine ``/usr/sbin/sshd -D`` with its own host key,
``authorized_keys`` and ``UsePAM no``, listening on 127.0.0.1 only. It needs
no root (as root it also needs /run/sshd, which it creates).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from runners.lab.procs import with_descendants
from runners.sshd_config import free_port, loopback_sshd_config

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT_S = 10.0


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ringbench-test", "-f", str(path)],
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return path


@dataclass
class ClientKey:
    private: Path

    @property
    def public(self) -> str:
        return Path(f"{self.private}.pub").read_text().strip()


class Sshd:
    """One sshd; ``start()``, ``stop()``, ``kill()`` (with every session), ``restart()``."""

    def __init__(
        self,
        root: Path,
        client: ClientKey,
        *,
        port: int | None = None,
        log_level: str = "ERROR",
        force_command: str | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.port = port or free_port()
        self.host_key = keygen(root / "host_ed25519")
        (root / "authorized_keys").write_text(client.public + "\n")
        self.log = root / "sshd.log"
        self.config = root / "sshd_config"
        # The sessions' home is the server's own directory, so that what a run deploys
        # (~/.cache/ringbench) lands in the test's tmp, never in the real home.
        self.home = root / "home"
        self.home.mkdir(exist_ok=True)
        extra = [f"SetEnv HOME={self.home}"]
        if force_command is not None:
            extra.append(f"ForceCommand {force_command}")
        self.config.write_text(
            loopback_sshd_config(
                self.port,
                self.host_key,
                root / "sshd.pid",
                root / "authorized_keys",
                log_level=log_level,
                tcp_forwarding=True,
                extra=tuple(extra),
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return getpass.getuser()

    def known_hosts_line(self) -> str:
        kind, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}"

    def start(self) -> Sshd:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-500:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
            ):
                if s.recv(4).startswith(b"SSH-"):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"sshd on port {self.port} did not answer in {START_TIMEOUT_S} s")

    def kill(self) -> None:
        """SIGKILL the server and every session it serves: the host is gone at once."""
        if self.proc is None:
            return
        for pid in with_descendants([self.proc.pid]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        self.kill()

    def restart(self) -> Sshd:
        self.kill()
        return self.start()


def inventory_lines(servers: dict[str, Sshd]) -> list[str]:
    """Inventory entries (under ``all: hosts:``) for ``servers``, each its own machine."""
    lines = []
    for name, server in servers.items():
        lines += [
            f"    {name}:",
            "      ansible_host: 127.0.0.1",
            f"      ansible_port: {server.port}",
            f"      ansible_user: {server.user}",
            f"      ansible_ssh_private_key_file: {server.client.private}",
            f"      machine: m-{name}",
        ]
    return lines
