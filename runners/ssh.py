"""SSH connections with paramiko: the same interface as the local host.

What a user's OpenSSH set-up says is honoured: ``~/.ssh/config`` (HostName,
User, Port, IdentityFile, ProxyJump), the agent and the key files, and
``~/.ssh/known_hosts``. Host keys are verified; an unknown or changed key is
refused unless ``accept_new`` is set, which, like OpenSSH's
``StrictHostKeyChecking=accept-new``, records new keys (in the project's own
known_hosts file) and still refuses changed ones.

Every command is quoted with :func:`shlex.join` and runs under the host's
``timeout`` so that a hung command ends on the host too, not only here.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from ringbench.errors import AuthFailure, HostKeyChanged, HostKeyUnknown, TransportError
from ringbench.files import atomic_write_text
from runners.transport import CommandTimedOut, Result, UnexpectedExit

KEEPALIVE_S = 15
CONNECT_TIMEOUT_S = 15.0
KILL_GRACE_S = 5
TIMEOUT_EXIT = 124  # coreutils timeout(1): the command timed out


def default_known_hosts() -> Path:
    """The project's own known_hosts file (new keys accepted by ringbench go here)."""
    env = os.environ.get("RINGBENCH_KNOWN_HOSTS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ringbench" / "known_hosts"


@dataclass(frozen=True, slots=True)
class SSHTarget:
    """Where and how to reach one host, with ~/.ssh/config applied."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...] = ()
    proxy_jump: str | None = None
    known_hosts: Path | None = None
    accept_new: bool = False
    connect_timeout_s: float = CONNECT_TIMEOUT_S


def _ssh_config() -> paramiko.SSHConfig:
    path = Path(os.environ.get("RINGBENCH_SSH_CONFIG") or Path.home() / ".ssh" / "config")
    if path.is_file():
        return paramiko.SSHConfig.from_path(str(path))
    return paramiko.SSHConfig()


def resolve_target(
    name: str,
    address: str,
    *,
    user: str | None = None,
    port: int | None = None,
    key_file: str | None = None,
    proxy_jump: str | None = None,
    known_hosts: Path | None = None,
    accept_new: bool = False,
) -> SSHTarget:
    """Merge what the inventory says with ~/.ssh/config (the inventory wins, as in Ansible)."""
    found = _ssh_config().lookup(address)
    identity: list[str] = list(found.get("identityfile") or [])
    keys = [key_file] if key_file else [str(Path(k).expanduser()) for k in identity]
    jump = proxy_jump or found.get("proxyjump")
    return SSHTarget(
        name=name,
        hostname=str(found.get("hostname", address)),
        port=int(port or found.get("port") or 22),
        user=str(user or found.get("user") or os.environ.get("USER") or "root"),
        key_files=tuple(k for k in keys if Path(k).exists()),
        proxy_jump=None if jump in (None, "none") else str(jump),
        known_hosts=known_hosts or default_known_hosts(),
        accept_new=accept_new,
    )


def parse_jump(spec: str) -> list[tuple[str | None, str, int | None]]:
    """``user@host:port,host2`` -> [(user, host, port), ...] (ssh -J syntax)."""
    hops: list[tuple[str | None, str, int | None]] = []
    for hop in spec.split(","):
        user, _, hostport = hop.strip().rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
        elif hostport.count(":") == 1:
            host, _, p = hostport.partition(":")
            port = int(p)
        hops.append((user or None, host, port))
    return hops


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record a new host key in the project's known_hosts; changed keys are still refused."""

    lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        with self.lock:
            client.get_host_keys().add(hostname, key.get_name(), key)
            existing = self.path.read_text() if self.path.exists() else ""
            line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
            atomic_write_text(self.path, existing + line)


class SSHConnection:
    """A host over SSH: opens lazily, is a context manager, runs quoted commands."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.host = target.name
        self._client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []
        self._lock = threading.Lock()

    def __enter__(self) -> SSHConnection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is None or not self._alive(self._client):
                self.close()
                sock = self._jump_channel() if self.target.proxy_jump else None
                self._client = self._connect(self.target, sock)
            return self._client

    @staticmethod
    def _alive(client: paramiko.SSHClient) -> bool:
        transport = client.get_transport()
        return transport is not None and transport.is_active()

    def _jump_channel(self) -> paramiko.Channel:
        assert self.target.proxy_jump is not None
        sock: paramiko.Channel | None = None
        hops = parse_jump(self.target.proxy_jump)
        destinations = [*hops[1:], (None, self.target.hostname, self.target.port)]
        for (user, host, port), (_, next_host, next_port) in zip(hops, destinations, strict=True):
            hop = resolve_target(
                f"{self.host} (jump {host})",
                host,
                user=user,
                port=port,
                known_hosts=self.target.known_hosts,
                accept_new=self.target.accept_new,
            )
            # A jump host with no identity of its own in ~/.ssh/config is tried
            # with the target's keys, the common set-up of a lab behind a bastion.
            hop = replace(hop, proxy_jump=None, key_files=hop.key_files or self.target.key_files)
            client = self._connect(hop, sock)
            self._jumps.append(client)
            transport = client.get_transport()
            assert transport is not None
            target = _ssh_config().lookup(next_host).get("hostname", next_host)
            try:
                sock = transport.open_channel(
                    "direct-tcpip",
                    (str(target), int(next_port or 22)),
                    ("127.0.0.1", 0),
                    timeout=self.target.connect_timeout_s,
                )
            except (paramiko.SSHException, OSError) as exc:
                raise TransportError(
                    host=self.host,
                    message=f"jump host {host} cannot reach {target}:{next_port or 22}: {exc}",
                ) from exc
        assert sock is not None
        return sock

    def _connect(
        self, target: SSHTarget, sock: paramiko.Channel | socket.socket | None
    ) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        if target.known_hosts is not None and target.known_hosts.exists():
            client.load_host_keys(str(target.known_hosts))
        if target.accept_new and target.known_hosts is not None:
            client.set_missing_host_key_policy(_AcceptNewPolicy(target.known_hosts))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{target.user}@{target.hostname}:{target.port}"
        try:
            if sock is None:
                # sshd sets TCP_NODELAY only for sessions with a terminal; without
                # it here each new session waits out a delayed ACK (about 40 ms).
                raw = socket.create_connection(
                    (target.hostname, target.port), timeout=target.connect_timeout_s
                )
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = raw
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                # paramiko takes a list here; its stubs say one path only
                key_filename=list(target.key_files) or None,  # type: ignore[arg-type]
                allow_agent=True,
                look_for_keys=not target.key_files,
                timeout=target.connect_timeout_s,
                banner_timeout=target.connect_timeout_s,
                auth_timeout=target.connect_timeout_s,
                sock=sock,
            )
        except paramiko.BadHostKeyException as exc:
            raise HostKeyChanged(
                host=target.name,
                message=f"the host key of {where} has CHANGED "
                f"({exc.key.get_name()}): refused; if the host was rebuilt, "
                "remove its old key from known_hosts",
            ) from None
        except paramiko.AuthenticationException:
            raise AuthFailure(
                host=target.name,
                message=f"authentication refused by {where}: check the "
                "user and ansible_ssh_private_key_file or the agent",
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyUnknown(
                    host=target.name,
                    message=f"unknown host key for {where}: refused; "
                    "add it to known_hosts or run with "
                    "--accept-new-host-keys",
                ) from None
            raise TransportError(
                host=target.name, message=f"SSH to {where} failed: {exc}"
            ) from None
        except (OSError, EOFError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TransportError(
                host=target.name, message=f"cannot reach {where}: {reason or type(exc).__name__}"
            ) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_S)
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for jump in reversed(self._jumps):
            jump.close()
        self._jumps.clear()

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        """Run ``argv`` (quoted) under the host's timeout(1); raise typed failures."""
        client = self.open()
        transport = client.get_transport()
        if transport is None:
            raise TransportError(host=self.host, message="connection lost")
        command = shlex.join(["timeout", "-k", str(KILL_GRACE_S), f"{timeout_s:g}s", *argv])
        started = time.monotonic()
        deadline = started + timeout_s + KILL_GRACE_S + 10
        try:
            chan = transport.open_session(timeout=CONNECT_TIMEOUT_S)
            chan.exec_command(command)
            out, err = bytearray(), bytearray()
            while True:
                if chan.recv_ready():
                    out += chan.recv(65536)
                elif chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                elif chan.exit_status_ready() and (chan.eof_received or chan.closed):
                    # sshd may send the exit status before the last of the output:
                    # only the end of the stream says everything has arrived.
                    break
                elif not transport.is_active():
                    raise TransportError(
                        host=self.host, message=f"connection lost during '{argv[0]}'"
                    )
                elif time.monotonic() > deadline:
                    chan.close()
                    result = Result(
                        tuple(argv),
                        out.decode(errors="replace"),
                        err.decode(errors="replace"),
                        -1,
                        time.monotonic() - started,
                    )
                    raise CommandTimedOut(self.host, result, timeout_s)
                else:
                    select.select([chan], [], [], 0.05)
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            code = chan.recv_exit_status()
            chan.close()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransportError(
                host=self.host,
                message=f"connection lost during '{argv[0]}': {exc or type(exc).__name__}",
            ) from None
        result = Result(
            tuple(argv),
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            code,
            time.monotonic() - started,
        )
        if code in (TIMEOUT_EXIT, 128 + 9) and result.duration_s >= timeout_s * 0.9:
            raise CommandTimedOut(self.host, result, timeout_s)
        if check and not result.ok:
            raise UnexpectedExit(self.host, result)
        return result

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Upload to a temporary name, set the mode, then rename into place."""
        client = self.open()
        tmp = f"{remote}.{os.getpid()}.tmp"
        try:
            with client.open_sftp() as sftp:
                sftp.put(str(local), tmp)
                sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, remote)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransportError(
                host=self.host,
                message=f"upload of {local.name} to {remote} failed: {exc or type(exc).__name__}",
            ) from None

    def get(self, remote: str, local: Path) -> None:
        client = self.open()
        try:
            with client.open_sftp() as sftp:
                sftp.get(remote, str(local))
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransportError(
                host=self.host, message=f"download of {remote} failed: {exc}"
            ) from None
