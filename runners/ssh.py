"""SSH connections with paramiko: the same interface as the local host.

What a user's OpenSSH set-up says is honoured: ``~/.ssh/config`` (HostName,
User, Port, IdentityFile, ProxyJump), the agent and the key files, and
``~/.ssh/known_hosts``. Host keys are verified; an unknown or changed key is
refused unless ``accept_new`` is set, which, like OpenSSH's
``StrictHostKeyChecking=accept-new``, records new keys (in the project's own
known_hosts file, under a lock shared by every ringbench process) and still
refuses changed ones. A bad value in the ssh config is a :class:`UserError`
naming the file, the host and the value.

Every command is quoted with :func:`shlex.join` and runs under the host's
``timeout`` so that a hung command ends on the host too, not only here. No
wait on a host is unbounded: opening a session and the reply to an exec or
SFTP request wait ``connect_timeout_s``; a command's output is read under its
deadline and caps (runners.transport); an SFTP transfer has a budget
(:data:`TRANSFER_TIMEOUT_S`) and may not stall longer than
:data:`TRANSFER_STALL_S`.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import paramiko
from paramiko.hostkeys import InvalidHostKey

from ringbench.errors import (
    AuthFailure,
    HostKeyChanged,
    HostKeyUnknown,
    TransportError,
    UserError,
)
from ringbench.files import LockBusy, atomic_write_bytes, atomic_write_text, locked
from runners.transport import (
    Captured,
    CommandTimedOut,
    Result,
    UnexpectedExit,
    shown,
    size_text,
)

KEEPALIVE_S = 15
CONNECT_TIMEOUT_S = 15.0
KILL_GRACE_S = 5
TIMEOUT_EXIT = 124  # coreutils timeout(1): the command timed out
# An SFTP transfer of the harness (1-2 MB) in 120 s needs 17 KB/s, a slow link's pace;
# a link where nothing moves for 30 s is taken for dead sooner.
TRANSFER_TIMEOUT_S = 120.0
TRANSFER_STALL_S = 30.0
MAX_DOWNLOAD_BYTES = 64 * 2**20
SFTP_CHUNK = 32768  # paramiko's largest read request
KNOWN_HOSTS_LOCK_S = 10.0

T = TypeVar("T")


def default_known_hosts() -> Path:
    """The project's own known_hosts file (new keys accepted by ringbench go here)."""
    env = os.environ.get("RINGBENCH_KNOWN_HOSTS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ringbench" / "known_hosts"


@dataclass(frozen=True, slots=True)
class SSHTarget:
    """Where and how to reach one host, with ~/.ssh/config applied.

    ``connect_timeout_s`` bounds every wait for the host to answer: the connection,
    a new session, the reply to an exec or SFTP request, and the slack allowed past a
    command's own kill before the host is given up.
    """

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...] = ()
    proxy_jump: str | None = None
    known_hosts: Path | None = None
    accept_new: bool = False
    connect_timeout_s: float = CONNECT_TIMEOUT_S


def _config_path() -> Path:
    return Path(os.environ.get("RINGBENCH_SSH_CONFIG") or Path.home() / ".ssh" / "config")


def _lookup(address: str) -> tuple[paramiko.SSHConfigDict, Path]:
    """What the ssh config says of ``address``, and the file it says it in."""
    path = _config_path()
    try:
        config = paramiko.SSHConfig.from_path(str(path)) if path.is_file() else paramiko.SSHConfig()
        return config.lookup(address), path
    except (paramiko.SSHException, OSError, ValueError, ImportError) as exc:
        raise UserError(
            f"{path}: cannot read the settings of host {address}: {shown(str(exc))}: "
            "fix the file (or set RINGBENCH_SSH_CONFIG to another)"
        ) from None


def _quoted(text: str, limit: int = 80) -> str:
    """A value from a config file as a message shows it: quoted, escaped, cut."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _port(value: object, *, where: str, host: str) -> int:
    text = str(value).strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise UserError(
        f"{where}: bad Port {_quoted(text)} for host {host}: a number from 1 to 65535 is needed"
    )


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
    """Merge what the inventory says with ~/.ssh/config (the inventory wins, as in Ansible).

    A bad Port or ProxyJump (of the host or of any of its jump hosts) is a UserError now,
    before any connection.
    """
    found, path = _lookup(address)
    identity: list[str] = list(found.get("identityfile") or [])
    keys = [key_file] if key_file else [str(Path(k).expanduser()) for k in identity]
    jump = proxy_jump or found.get("proxyjump")
    jump = None if jump in (None, "none") else str(jump)
    if jump is not None:
        where = "the inventory" if proxy_jump else str(path)
        for _, hop, hop_port in parse_jump(jump, host=name, where=where):
            if hop_port is None:
                hop_found, hop_path = _lookup(hop)
                _port(hop_found.get("port", 22), where=str(hop_path), host=hop)
    return SSHTarget(
        name=name,
        hostname=str(found.get("hostname", address)),
        port=port or _port(found.get("port", 22), where=str(path), host=name),
        user=str(user or found.get("user") or os.environ.get("USER") or "root"),
        key_files=tuple(k for k in keys if Path(k).exists()),
        proxy_jump=jump,
        known_hosts=known_hosts or default_known_hosts(),
        accept_new=accept_new,
    )


def parse_jump(
    spec: str, *, host: str = "", where: str = ""
) -> list[tuple[str | None, str, int | None]]:
    """``user@host:port,host2`` -> [(user, host, port), ...] (ssh -J syntax).

    A hop with no host or a port that is not a number is a UserError naming ``where``
    the spec comes from, the ``host`` it is for and the bad value.
    """
    hops: list[tuple[str | None, str, int | None]] = []
    for hop in spec.split(","):
        user, _, hostport = hop.strip().rpartition("@")
        name, port_text = hostport, None
        if hostport.startswith("["):
            name, _, rest = hostport[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else None
        elif hostport.count(":") == 1:
            name, _, port_text = hostport.partition(":")
        prefix = f"{where}: " if where else ""
        if not name:
            raise UserError(
                f"{prefix}bad ProxyJump {_quoted(spec)} for host {host or '?'}: "
                f"a hop names no host ({_quoted(hop)})"
            )
        port = None
        if port_text is not None:
            what = f"ProxyJump {_quoted(spec)} of host {host or '?'}"
            port = _port(port_text, where=f"{prefix}{what}", host=name)
        hops.append((user or None, name, port))
    return hops


def _record_host_key(path: Path, hostname: str, key: paramiko.PKey) -> None:
    """Append ``key`` to ``path`` unless it is there; hold the lock around this.

    The file is read again here, under the lock: another process may have recorded
    this host meanwhile (same key: nothing to do; another key: refused as changed).
    A new file is 0600; an existing one keeps its mode.
    """
    known = paramiko.HostKeys()
    existing = ""
    mode = 0o600
    if path.exists():
        known.load(str(path))
        existing = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    entry = known.lookup(hostname)
    recorded = entry.get(key.get_name()) if entry is not None else None
    if recorded is not None:
        if recorded.get_base64() == key.get_base64():
            return
        raise paramiko.BadHostKeyException(hostname, key, recorded)
    sep = "" if not existing or existing.endswith("\n") else "\n"
    line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
    atomic_write_text(path, existing + sep + line, mode=mode)


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record a new host key in the project's known_hosts; changed keys are still refused."""

    lock = threading.Lock()

    def __init__(self, path: Path, host: str = "") -> None:
        self.path = path
        self.host = host

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        lock = self.path.with_name(f"{self.path.name}.lock")
        try:
            with self.lock, locked(lock, timeout_s=KNOWN_HOSTS_LOCK_S):
                _record_host_key(self.path, hostname, key)
        except LockBusy:
            raise TransportError(
                host=self.host,
                message=f"{lock} stayed locked by another process for "
                f"{KNOWN_HOSTS_LOCK_S:g} s: the new key of {hostname} was not recorded; "
                "try again",
            ) from None
        except (OSError, InvalidHostKey, ValueError) as exc:
            raise UserError(
                f"{self.path}: cannot record the key of {hostname}: {shown(str(exc))}: "
                "fix or remove the file"
            ) from None
        client.get_host_keys().add(hostname, key.get_name(), key)


def _load_known_hosts(client: paramiko.SSHClient, own: Path | None) -> None:
    """Load ~/.ssh/known_hosts and the project's own file; a broken one is a UserError
    naming it (paramiko raises on a line whose key is not base64)."""
    system = Path.home() / ".ssh" / "known_hosts"
    for path in (system, own):
        if path is None or not path.exists():
            continue
        try:
            if path is system:
                client.load_system_host_keys()
            else:
                client.load_host_keys(str(path))
        except (OSError, InvalidHostKey, ValueError) as exc:
            raise UserError(
                f"{path}: unreadable known_hosts file: {shown(str(exc))}: "
                "fix or remove the bad line"
            ) from None


@contextlib.contextmanager
def _watchdog(seconds: float, stop: Callable[[], object]) -> Iterator[threading.Event]:
    """Call ``stop`` (close a channel) if the block still runs after ``seconds``.

    paramiko waits for the reply to an exec or subsystem request with no timeout
    (``Channel._wait_for_event``); closing the channel wakes that wait, which then
    raises. The event says whether it fired: a timeout, not a refusal.
    """
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        with contextlib.suppress(Exception):
            stop()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


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

    def _transport(self) -> paramiko.Transport:
        transport = self.open().get_transport()
        if transport is None or not transport.is_active():
            raise TransportError(host=self.host, message="connection lost")
        return transport

    def _jump_channel(self) -> paramiko.Channel:
        assert self.target.proxy_jump is not None
        sock: paramiko.Channel | None = None
        hops = parse_jump(self.target.proxy_jump, host=self.host)
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
            hop = replace(
                hop,
                proxy_jump=None,
                key_files=hop.key_files or self.target.key_files,
                connect_timeout_s=self.target.connect_timeout_s,
            )
            client = self._connect(hop, sock)
            self._jumps.append(client)
            transport = client.get_transport()
            assert transport is not None
            target = _lookup(next_host)[0].get("hostname", next_host)
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
                    message=f"jump host {host} cannot reach {target}:{next_port or 22}: "
                    f"{shown(str(exc))}",
                ) from exc
        assert sock is not None
        return sock

    def _connect(
        self, target: SSHTarget, sock: paramiko.Channel | socket.socket | None
    ) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        _load_known_hosts(client, target.known_hosts)
        if target.accept_new and target.known_hosts is not None:
            client.set_missing_host_key_policy(_AcceptNewPolicy(target.known_hosts, target.name))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            self._handshake(client, target, sock)
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_S)
        return client

    @staticmethod
    def _handshake(
        client: paramiko.SSHClient,
        target: SSHTarget,
        sock: paramiko.Channel | socket.socket | None,
    ) -> None:
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
                host=target.name, message=f"SSH to {where} failed: {shown(str(exc))}"
            ) from None
        except (OSError, EOFError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TransportError(
                host=target.name,
                message=f"cannot reach {where}: {shown(reason) or type(exc).__name__}",
            ) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for jump in reversed(self._jumps):
            jump.close()
        self._jumps.clear()

    def _session(self, what: str) -> tuple[paramiko.Transport, paramiko.Channel]:
        """A new channel and its transport. A connection found dead on opening (the
        link dropped since the last call, before paramiko noticed) is opened anew once."""
        wait_s = self.target.connect_timeout_s
        retried = False
        while True:
            transport = self._transport()
            started = time.monotonic()
            try:
                return transport, transport.open_session(timeout=wait_s)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if time.monotonic() - started >= wait_s:
                    self.close()
                    message = f"no answer in {wait_s:g} s to opening {what}"
                    raise TransportError(host=self.host, message=message) from None
                # paramiko may raise the reader thread's EOFError (or a failed send)
                # before it marks the transport inactive: whatever the refusal, a
                # connection opened anew is asked once more
                lost = isinstance(exc, EOFError) or not transport.is_active()
                self.close()
                if not retried:
                    retried = True
                    continue
                if lost:
                    message = f"cannot open {what}: the connection was lost"
                else:
                    message = f"cannot open {what}: {shown(str(exc)) or type(exc).__name__}"
                raise TransportError(host=self.host, message=message) from None

    def _request(self, chan: paramiko.Channel, what: str, send: Callable[[], None]) -> None:
        """Send a channel request and wait for its reply, at most ``connect_timeout_s``."""
        wait_s = self.target.connect_timeout_s
        try:
            with _watchdog(wait_s, chan.close) as fired:
                send()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not fired.is_set():
                transport = chan.get_transport()
                lost = transport is None or not transport.is_active()
                said = "the connection was lost" if lost else "the host refused it"
                raise TransportError(
                    host=self.host, message=f"{what} failed: {said} ({shown(str(exc))})"
                ) from None
        if fired.is_set():
            self.close()
            raise TransportError(
                host=self.host,
                message=f"no answer in {wait_s:g} s to {what}: the host stopped answering",
            )

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        """Run ``argv`` (quoted) under the host's timeout(1); raise typed failures.

        Nothing waits past ``timeout_s`` plus the kill grace plus ``connect_timeout_s``,
        however the host behaves; output past the caps kills the command.
        """
        command = shlex.join(["timeout", "-k", str(KILL_GRACE_S), f"{timeout_s:g}s", *argv])
        name = f"'{argv[0]}'"
        started = time.monotonic()
        deadline = started + timeout_s + KILL_GRACE_S + self.target.connect_timeout_s
        transport, chan = self._session(f"a session for {name}")
        try:
            self._request(chan, f"the request to run {name}", lambda: chan.exec_command(command))
            captured, code = self._collect(chan, transport, argv, started, deadline, timeout_s)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransportError(
                host=self.host,
                message=f"connection lost during {name}: {shown(str(exc)) or type(exc).__name__}",
            ) from None
        finally:
            chan.close()
        result = captured.result(argv, code, started)
        if code in (TIMEOUT_EXIT, 128 + 9) and result.duration_s >= timeout_s * 0.9:
            raise CommandTimedOut(self.host, result, timeout_s)
        if check and not result.ok:
            raise UnexpectedExit(self.host, result)
        return result

    def _collect(
        self,
        chan: paramiko.Channel,
        transport: paramiko.Transport,
        argv: list[str],
        started: float,
        deadline: float,
        timeout_s: float,
    ) -> tuple[Captured, int]:
        """Read the command's output until it ends; the deadline is checked on every
        pass, also while data keeps coming, and each stream is held to its cap."""
        captured = Captured()
        streams = (
            (chan.recv_ready, chan.recv, captured.stdout),
            (chan.recv_stderr_ready, chan.recv_stderr, captured.stderr),
        )

        def pull() -> bool:
            moved = False
            for ready, recv, stream in streams:
                if ready():
                    stream.add(recv(stream.want()))
                    moved = True
            too_large = captured.too_large(self.host, argv, started)
            if too_large is not None:
                raise too_large
            return moved

        while True:
            if time.monotonic() > deadline:
                raise CommandTimedOut(self.host, captured.result(argv, -1, started), timeout_s)
            if pull():
                continue
            if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                # sshd may send the exit status before the last of the output: only
                # the end of the stream says everything has arrived; what is left
                # in the buffer is bounded by the caps too.
                while pull():
                    pass
                return captured, chan.recv_exit_status()
            if not transport.is_active():
                raise TransportError(host=self.host, message=f"connection lost during '{argv[0]}'")
            select.select([chan], [], [], 0.05)

    def _sftp(self, what: str, timeout_s: float, work: Callable[[paramiko.SFTPClient], T]) -> T:
        """Do ``work`` in a new SFTP session within ``timeout_s``, no stall longer than
        :data:`TRANSFER_STALL_S`; any failure is one TransportError line."""
        stall_s = min(TRANSFER_STALL_S, timeout_s)
        transport, chan = self._session(f"an SFTP session for the {what}")
        try:
            # At the budget the whole connection goes: a write blocked on a full socket
            # (paramiko retries it for as long as the transport lives) ends only so.
            with _watchdog(timeout_s, transport.close) as late:
                chan.settimeout(stall_s)  # each read and write of the session
                self._request(chan, "the SFTP request", lambda: chan.invoke_subsystem("sftp"))
                with paramiko.SFTPClient(chan) as sftp:
                    return work(sftp)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            lost = isinstance(exc, EOFError) or not transport.is_active()
            if late.is_set():
                message = f"{what} timed out after {timeout_s:g} s"
            elif isinstance(exc, TimeoutError):
                message = f"{what} stalled: nothing moved for {stall_s:g} s"
            elif lost:
                message = f"{what} failed: the connection was lost"
            else:
                message = f"{what} failed: {shown(str(exc)) or type(exc).__name__}"
            if late.is_set() or lost or isinstance(exc, TimeoutError):
                self.close()  # the link is dead or too slow: the next call connects anew
            raise TransportError(host=self.host, message=message) from None
        finally:
            chan.close()

    def put(
        self, local: Path, remote: str, *, mode: int = 0o644, timeout_s: float = TRANSFER_TIMEOUT_S
    ) -> None:
        """Upload to a temporary name, set the mode, then rename into place."""
        tmp = f"{remote}.{os.getpid()}.tmp"

        def send(sftp: paramiko.SFTPClient) -> None:
            sftp.put(str(local), tmp)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, remote)

        self._sftp(f"upload of {local.name} to {remote}", timeout_s, send)

    def get(self, remote: str, local: Path, *, timeout_s: float = TRANSFER_TIMEOUT_S) -> None:
        """Download ``remote`` (at most :data:`MAX_DOWNLOAD_BYTES`), written atomically."""
        what = f"download of {remote}"

        def fetch(sftp: paramiko.SFTPClient) -> bytes:
            data = bytearray()
            with sftp.open(remote, "rb") as fp:
                while chunk := fp.read(SFTP_CHUNK):
                    data += chunk
                    if len(data) > MAX_DOWNLOAD_BYTES:
                        raise TransportError(
                            host=self.host,
                            message=f"{what} stopped: the file is larger than "
                            f"{size_text(MAX_DOWNLOAD_BYTES)}",
                        )
            return bytes(data)

        atomic_write_bytes(local, self._sftp(what, timeout_s, fetch))
