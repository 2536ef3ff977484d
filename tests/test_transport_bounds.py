"""Whatever a host does, a call to it ends: bounded in size and time (issue 14).

Real OpenSSH servers on loopback and real local processes throughout. Where a fault
cannot be had from a real server on demand (a server that stops answering mid-way, a
connection that drops in the middle of a transfer, a link that crawls), a
:class:`FaultyLink` sits between the client and the real sshd: a TCP relay on
loopback, the named fake of these tests, that injects the fault at the socket level.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from ringbench.errors import TransportError, UserError
from runners.ssh import SSHConnection, _AcceptNewPolicy, parse_jump, resolve_target
from runners.transport import (
    MAX_STDERR_BYTES,
    MAX_STDOUT_BYTES,
    CommandTimedOut,
    LocalConnection,
    OutputTooLarge,
    UnexpectedExit,
)
from tests.sshd import Sshd

HANG_S = 60.0  # far past every bound under test: a call still running then hangs


def within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread and return what it raised (None if nothing); fail the test
    if it has not ended after ``seconds`` (the hang the bounds remove)."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test to check
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still waiting on the host after {seconds:g} s"
    return outcome[0]


class _Relay:
    """One relayed connection: client <-> server, with the faults armed on it."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.sockets = (client, server)
        self.lock = threading.Lock()
        self.chunks_up = 0
        self.bytes_up = 0
        self.drop_down_at: int | None = None  # drop server->client from this client chunk on
        self.cut_at: int | None = None  # close both ends past this many client bytes
        self.rate: float | None = None  # client->server bytes per second
        self.frozen = False
        self.dropping = False
        self.closed = False

    def start(self) -> _Relay:
        client, server = self.sockets
        for src, dst, up in ((client, server, True), (server, client, False)):
            threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()
        return self

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while not self.closed:
                data = src.recv(1024 if up and self.rate else 65536)
                if not data:
                    break
                if up:
                    with self.lock:
                        self.chunks_up += 1
                        self.bytes_up += len(data)
                        if self.drop_down_at is not None and self.chunks_up >= self.drop_down_at:
                            self.dropping = True  # before forwarding: no reply gets through
                        cut = self.cut_at is not None and self.bytes_up >= self.cut_at
                    if cut:
                        break
                    if self.rate:
                        time.sleep(len(data) / self.rate)
                if self.frozen or (self.dropping and not up):
                    continue
                dst.sendall(data)
        except OSError:
            pass  # the other side closed: the relay ends
        self.close()

    def close(self) -> None:
        self.closed = True
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def drop_replies_after(self, client_chunks: int) -> None:
        """The server's replies stop reaching the client once it has sent this many more
        chunks (the server stops answering, the connection stays up)."""
        with self.lock:
            self.drop_down_at = self.chunks_up + client_chunks

    def cut_after(self, client_bytes: int) -> None:
        """The connection drops once the client has sent this many more bytes."""
        with self.lock:
            self.cut_at = self.bytes_up + client_bytes

    def throttle(self, bytes_per_s: float) -> None:
        self.rate = bytes_per_s

    def freeze(self) -> None:
        """Nothing passes either way any more; both sockets stay open."""
        self.frozen = True


class FaultyLink:
    """The named fake: a TCP relay on a loopback port in front of a real sshd, whose
    latest connection (:attr:`last`) takes the faults; new connections pass cleanly."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.relays: list[_Relay] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(("127.0.0.1", self.server_port), timeout=10)
            server.settimeout(None)
            relay = _Relay(client, server)
            self.relays.append(relay)  # before any byte passes: the test arms this one
            relay.start()

    @property
    def last(self) -> _Relay:
        return self.relays[-1]

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.listener.close()
        for relay in self.relays:
            relay.close()


@pytest.fixture
def link_to(ssh_env: Path) -> Iterator[Callable[[Sshd], FaultyLink]]:
    """A FaultyLink in front of a server, its port trusted with the server's host key."""
    links: list[FaultyLink] = []

    def make(server: Sshd) -> FaultyLink:
        link = FaultyLink(server.port)
        links.append(link)
        kind, key = server.known_hosts_line().split()[1:3]
        with (ssh_env / "known_hosts").open("a") as fp:
            fp.write(f"[127.0.0.1]:{link.port} {kind} {key}\n")
        return link

    yield make
    for link in links:
        link.stop()


def connect(server: Sshd, *, port: int | None = None, wait_s: float = 2.0) -> SSHConnection:
    target = resolve_target(
        "h1",
        "127.0.0.1",
        user=server.user,
        port=port or server.port,
        key_file=str(server.client.private),
    )
    return SSHConnection(replace(target, connect_timeout_s=wait_s))


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# --- endless output -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "stream", "cap"),
    [
        (["yes"], "stdout", MAX_STDOUT_BYTES),
        (["sh", "-c", "yes >&2"], "stderr", MAX_STDERR_BYTES),
    ],
)
def test_endless_output_over_ssh_is_killed_at_the_cap(
    sshd_factory: Callable[..., Sshd], argv: list[str], stream: str, cap: int
) -> None:
    with connect(sshd_factory()) as conn:
        before = maxrss_bytes()
        exc = within(HANG_S, lambda: conn.run(argv, timeout_s=HANG_S))
        assert isinstance(exc, OutputTooLarge), exc
        assert (
            str(exc) == f"h1: '{argv[0]}' printed more than {cap // 2**20} MiB on {stream}: killed"
        )
        kept = exc.result.stdout if stream == "stdout" else exc.result.stderr
        assert len(kept) == cap and set(kept) == {"y", "\n"}
        assert maxrss_bytes() - before < 4 * MAX_STDOUT_BYTES, "the controller did not buffer on"
        assert conn.run(["echo", "still here"], timeout_s=10).stdout == "still here\n"


@pytest.mark.parametrize(
    ("command", "stream"), [("exec yes", "stdout"), ("exec yes >&2", "stderr")]
)
def test_endless_local_output_kills_the_whole_group(command: str, stream: str) -> None:
    marker = f"{time.monotonic_ns()}"
    argv = ["sh", "-c", f"sleep 1000.{marker} & {command}"]
    exc = within(HANG_S, lambda: LocalConnection().run(argv, timeout_s=HANG_S))
    assert isinstance(exc, OutputTooLarge), exc
    assert f"printed more than {exc.limit // 2**20} MiB on {stream}: killed" in str(exc)
    assert len(exc.result.stdout) <= MAX_STDOUT_BYTES
    assert len(exc.result.stderr) <= MAX_STDERR_BYTES
    left = subprocess.run(["pgrep", "-f", f"sleep 1000.{marker}"], capture_output=True, check=False)
    assert left.returncode == 1, "the helper in the command's group was killed too"


# --- silence, and a host whose own timeout is defeated ----------------------------------


def test_silent_command_over_ssh_times_out(sshd_factory: Callable[..., Sshd]) -> None:
    with connect(sshd_factory()) as conn:
        exc = within(HANG_S, lambda: conn.run(["sleep", "1000"], timeout_s=1))
    assert isinstance(exc, CommandTimedOut), exc


def test_local_deadline_holds_when_a_helper_escapes_the_group_with_the_pipe() -> None:
    marker = f"{time.monotonic_ns()}"
    # The helper leaves the group (setsid) and keeps stdout open: nothing may wait on it.
    argv = ["sh", "-c", f"setsid sleep 1000.{marker} & echo $!; sleep 1000"]
    exc = within(HANG_S, lambda: LocalConnection().run(argv, timeout_s=1))
    assert isinstance(exc, CommandTimedOut), exc
    os.kill(int(exc.result.stdout.split()[0]), signal.SIGKILL)  # the one this test started


def test_ssh_deadline_holds_while_output_keeps_coming(sshd_factory: Callable[..., Sshd]) -> None:
    # timeout(1) on the host kills its group, but a process that left it (setsid)
    # holds the output open and keeps printing: only the controller's deadline ends it.
    ticker = "setsid sh -c 'for i in $(seq 2000); do echo tick; sleep 0.01; done' & wait"
    with connect(sshd_factory(), wait_s=2) as conn:
        exc = within(HANG_S, lambda: conn.run(["sh", "-c", ticker], timeout_s=1))
    assert isinstance(exc, CommandTimedOut), exc
    assert "tick\ntick\n" in exc.result.stdout


# --- a server that stops answering, a connection that drops -----------------------------


def test_an_exec_request_never_answered_is_a_transport_error(
    sshd_factory: Callable[..., Sshd], link_to: Callable[[Sshd], FaultyLink]
) -> None:
    server = sshd_factory()
    link = link_to(server)
    with connect(server, port=link.port, wait_s=2) as conn:
        conn.open()
        # the session opens (chunk 1 answered), the exec request (chunk 2) never is
        link.last.drop_replies_after(2)
        exc = within(HANG_S, lambda: conn.run(["true"], timeout_s=10))
        assert isinstance(exc, TransportError), exc
        assert str(exc) == (
            "h1: no answer in 2 s to the request to run 'true': the host stopped answering"
        )
        assert conn.run(["echo", "again"], timeout_s=10).stdout == "again\n"  # reconnected


def test_opening_sftp_on_a_silent_server_is_a_transport_error(
    sshd_factory: Callable[..., Sshd], link_to: Callable[[Sshd], FaultyLink], tmp_path: Path
) -> None:
    server = sshd_factory()
    link = link_to(server)
    remote = tmp_path / "remote.bin"
    remote.write_bytes(b"x" * 1000)
    with connect(server, port=link.port, wait_s=2) as conn:
        conn.open()
        link.last.drop_replies_after(2)  # the session opens, the sftp request is not answered
        exc = within(HANG_S, lambda: conn.get(str(remote), tmp_path / "back.bin"))
        assert isinstance(exc, TransportError), exc
        assert "no answer in 2 s to the SFTP request" in str(exc)
        conn.open()  # a new connection, a new relay
        link.last.freeze()
        exc = within(HANG_S, lambda: conn.get(str(remote), tmp_path / "back.bin"))
        assert isinstance(exc, TransportError), exc
        assert str(exc) == (
            f"h1: no answer in 2 s to opening an SFTP session for the download of {remote}"
        )
    assert not (tmp_path / "back.bin").exists()


def test_an_upload_whose_connection_drops_midway_is_one_line(
    sshd_factory: Callable[..., Sshd], link_to: Callable[[Sshd], FaultyLink], tmp_path: Path
) -> None:
    server = sshd_factory()
    link = link_to(server)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2 * 2**20))
    remote = tmp_path / "remote.bin"
    with connect(server, port=link.port) as conn:
        conn.open()
        link.last.cut_after(300_000)
        exc = within(HANG_S, lambda: conn.put(src, str(remote)))
        assert isinstance(exc, TransportError), exc
        assert str(exc).startswith(f"h1: upload of big.bin to {remote} failed")
        assert "\n" not in str(exc)
        assert not remote.exists()
        conn.put(src, str(remote))  # the next call connects anew
    assert remote.read_bytes() == src.read_bytes()


def test_an_upload_over_its_budget_on_a_crawling_link_times_out(
    sshd_factory: Callable[..., Sshd], link_to: Callable[[Sshd], FaultyLink], tmp_path: Path
) -> None:
    server = sshd_factory()
    link = link_to(server)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2 * 2**20))
    with connect(server, port=link.port) as conn:
        conn.open()
        link.last.throttle(100_000)  # 2 MiB would take 20 s; data never stops moving
        exc = within(HANG_S, lambda: conn.put(src, str(tmp_path / "remote.bin"), timeout_s=2))
    assert isinstance(exc, TransportError), exc
    assert str(exc) == f"h1: upload of big.bin to {tmp_path / 'remote.bin'} timed out after 2 s"


def test_a_download_larger_than_its_cap_is_refused_and_writes_nothing(
    sshd_factory: Callable[..., Sshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runners.ssh.MAX_DOWNLOAD_BYTES", 100_000)  # 64 MiB in the real thing
    remote = tmp_path / "huge.bin"
    remote.write_bytes(b"z" * 200_000)
    local = tmp_path / "back.bin"
    with connect(sshd_factory()) as conn:
        with pytest.raises(TransportError, match="larger than 100000 bytes"):
            conn.get(str(remote), local)
        assert not local.exists()
        remote.write_bytes(b"z" * 90_000)
        conn.get(str(remote), local)
    assert local.read_bytes() == b"z" * 90_000


# --- known_hosts ---------------------------------------------------------------------


def _add_host_keys(path: str, names: list[str], go: object) -> None:
    """In another process: record a new key for each name, as accept-new does."""
    go.wait()  # type: ignore[attr-defined]
    key = paramiko.ECDSAKey.generate()
    policy = _AcceptNewPolicy(Path(path), "writer")
    for name in names:
        policy.missing_host_key(paramiko.SSHClient(), name, key)


def test_two_processes_recording_host_keys_lose_no_line(tmp_path: Path) -> None:
    known = tmp_path / "ringbench" / "known_hosts"
    spawn = multiprocessing.get_context("spawn")
    go = spawn.Event()
    batches = [[f"[10.0.{w}.{i}]:22" for i in range(30)] for w in range(2)]
    workers = [spawn.Process(target=_add_host_keys, args=(str(known), b, go)) for b in batches]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(HANG_S)
        assert worker.exitcode == 0
    names = [line.split()[0] for line in known.read_text().splitlines()]
    assert sorted(names) == sorted(n for batch in batches for n in batch)
    assert stat.S_IMODE(known.stat().st_mode) == 0o600


def test_recording_a_host_key_keeps_the_files_mode_and_refuses_a_rival_key(
    tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts"
    first, rival = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    known.write_text(f"other {first.get_name()} {first.get_base64()}")  # no final newline
    known.chmod(0o640)
    policy = _AcceptNewPolicy(known, "h1")
    policy.missing_host_key(paramiko.SSHClient(), "[h1]:22", first)
    policy.missing_host_key(paramiko.SSHClient(), "[h1]:22", first)  # another process's race
    assert [line.split()[0] for line in known.read_text().splitlines()] == ["other", "[h1]:22"]
    assert stat.S_IMODE(known.stat().st_mode) == 0o640
    with pytest.raises(paramiko.BadHostKeyException):  # _connect says HostKeyChanged
        policy.missing_host_key(paramiko.SSHClient(), "[h1]:22", rival)


# --- bad values in ~/.ssh/config and ProxyJump -------------------------------------------


def test_a_bad_port_in_the_ssh_config_names_the_file_host_and_value(ssh_env: Path) -> None:
    config = ssh_env / "ssh_config"
    config.write_text("Host labhost\n  HostName 127.0.0.1\n  Port abc\n")
    with pytest.raises(UserError) as caught:
        resolve_target("lab", "labhost")
    assert str(caught.value) == (
        f"{config}: bad Port 'abc' for host lab: a number from 1 to 65535 is needed"
    )
    config.write_text("Host labhost\n  ProxyJump me@bastion:22x\n")
    with pytest.raises(
        UserError, match=rf"^{re.escape(str(config))}: ProxyJump 'me@bastion:22x' of host lab"
    ):
        resolve_target("lab", "labhost")
    config.write_text("Host bastion\n  Port 0\n")  # the jump host's own entry
    with pytest.raises(
        UserError, match=rf"^{re.escape(str(config))}: bad Port '0' for host bastion"
    ):
        resolve_target("lab", "labhost", proxy_jump="bastion")
    config.write_text("Host\n")
    with pytest.raises(
        UserError, match=rf"^{re.escape(str(config))}: cannot read the settings of host labhost"
    ):
        resolve_target("lab", "labhost")


def test_a_bad_proxy_jump_is_a_user_error_naming_the_value() -> None:
    with pytest.raises(UserError) as caught:
        parse_jump("me@b1:abc,b2", host="lab")
    assert str(caught.value) == (
        "ProxyJump 'me@b1:abc,b2' of host lab: bad Port 'abc' for host b1: "
        "a number from 1 to 65535 is needed"
    )
    with pytest.raises(UserError, match="a hop names no host"):
        parse_jump("b1,,b2", host="lab")
    assert parse_jump("[::1]:2222,me@b2") == [(None, "::1", 2222), ("me", "b2", None)]


# --- what a host prints is shown escaped ------------------------------------------------


def test_host_output_in_a_failure_is_one_escaped_line() -> None:
    argv = ["sh", "-c", r"printf '\033[2Jgone\rfaked line\n' >&2; exit 3"]
    with pytest.raises(UnexpectedExit) as caught:
        LocalConnection().run(argv, timeout_s=10)
    assert str(caught.value) == r"localhost: 'sh' exited 3: \x1b[2Jgone | faked line"
