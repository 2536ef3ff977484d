"""The paramiko transport against real OpenSSH servers on loopback ports."""

from __future__ import annotations

import re
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ringbench.errors import (
    AuthFailure,
    HostKeyChanged,
    HostKeyUnknown,
    TransportError,
    UserError,
)
from runners.ssh import SSHConnection, parse_jump, resolve_target
from runners.sshd_config import free_port
from runners.transport import CommandTimedOut, UnexpectedExit
from tests.sshd import ClientKey, Sshd, keygen


def connect(
    server: Sshd,
    key: Path | None = None,
    *,
    known_hosts: Path | None = None,
    accept_new: bool = False,
) -> SSHConnection:
    target = resolve_target(
        "h1",
        "127.0.0.1",
        user=server.user,
        port=server.port,
        key_file=str(key or server.client.private),
        known_hosts=known_hosts,
        accept_new=accept_new,
    )
    return SSHConnection(target)


def test_commands_are_quoted_never_interpreted(sshd_factory: Callable[..., Sshd]) -> None:
    with connect(sshd_factory()) as conn:
        result = conn.run(["printf", "%s|", "a b", "$HOME", ";rm -rf /x", "`id`"], timeout_s=10)
        assert result.stdout == "a b|$HOME|;rm -rf /x|`id`|"
        with pytest.raises(UnexpectedExit, match="exited 1"):
            conn.run(["false"], timeout_s=10)
        assert conn.run(["false"], timeout_s=10, check=False).exited == 1


def test_put_and_get(sshd_factory: Callable[..., Sshd], tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    remote = str(tmp_path / "remote.bin")
    with connect(sshd_factory()) as conn:
        conn.put(src, remote, mode=0o700)
        back = tmp_path / "back.bin"
        conn.get(remote, back)
    assert back.read_bytes() == src.read_bytes()
    assert Path(remote).stat().st_mode & 0o777 == 0o700


def test_a_hanging_command_times_out_here_and_there(sshd_factory: Callable[..., Sshd]) -> None:
    marker = f"{time.monotonic_ns()}"
    with connect(sshd_factory()) as conn:
        started = time.monotonic()
        with pytest.raises(CommandTimedOut, match="timed out after 1 s"):
            conn.run(["sleep", f"30.{marker}"], timeout_s=1)
        assert time.monotonic() - started < 10
        time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"sleep 30.{marker}"], capture_output=True, check=False)
    assert left.returncode == 1, "the remote command was killed on the host too"


def test_unknown_host_key_is_refused_then_accepted_on_request(
    sshd_factory: Callable[..., Sshd], ssh_env: Path
) -> None:
    server = sshd_factory(trust=False)
    with pytest.raises(HostKeyUnknown, match=r"unknown host key.*--accept-new-host-keys"):
        connect(server).open()
    project_known = ssh_env / "project_known_hosts"
    with connect(server, known_hosts=project_known, accept_new=True) as conn:
        assert conn.run(["true"], timeout_s=10).ok
    assert server.known_hosts_line().split()[2] in project_known.read_text()
    assert stat.S_IMODE(project_known.stat().st_mode) == 0o600, "new known_hosts is private"
    with connect(server, known_hosts=project_known) as conn:  # now known, no flag needed
        assert conn.run(["true"], timeout_s=10).ok


def test_changed_host_key_is_refused_even_with_accept_new(
    sshd_factory: Callable[..., Sshd], ssh_env: Path, tmp_path: Path
) -> None:
    server = sshd_factory(trust=False)
    impostor = keygen(tmp_path / "other_host_key")
    kind, key = Path(f"{impostor}.pub").read_text().split()[:2]
    known = ssh_env / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {kind} {key}\n")
    for accept in (False, True):
        with pytest.raises(HostKeyChanged, match="CHANGED"):
            connect(server, known_hosts=known, accept_new=accept).open()


def test_a_broken_known_hosts_file_is_a_user_error_naming_it(
    sshd_factory: Callable[..., Sshd], ssh_env: Path
) -> None:
    server = sshd_factory()
    known = ssh_env / "known_hosts"
    known.write_text(known.read_text() + "badhost ssh-ed25519 !!!notbase64\n")
    with pytest.raises(UserError, match=rf"^{re.escape(str(known))}: unreadable known_hosts"):
        connect(server).open()


def test_wrong_client_key_is_refused(sshd_factory: Callable[..., Sshd], tmp_path: Path) -> None:
    server = sshd_factory()
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(AuthFailure, match="authentication refused"):
        connect(server, key=stranger).open()


def test_nobody_listening(ssh_env: Path, client_key: ClientKey) -> None:
    target = resolve_target("gone", "127.0.0.1", port=free_port(), key_file=str(client_key.private))
    with pytest.raises(TransportError, match="cannot reach"):
        SSHConnection(target).open()


def test_proxy_jump_goes_through_the_jump_host(sshd_factory: Callable[..., Sshd]) -> None:
    jump = sshd_factory("jump", log_level="DEBUG1")
    inner = sshd_factory("inner")
    spec = f"{jump.user}@127.0.0.1:{jump.port}"
    target = resolve_target(
        "inner",
        "127.0.0.1",
        user=inner.user,
        port=inner.port,
        key_file=str(inner.client.private),
        proxy_jump=spec,
    )
    with SSHConnection(target) as conn:
        assert conn.run(["echo", "through"], timeout_s=10).stdout == "through\n"
    log = jump.log.read_text()
    assert f"target 127.0.0.1 port {inner.port}" in log, "the jump host forwarded the session"


def test_ssh_config_is_honoured(sshd_factory: Callable[..., Sshd], ssh_env: Path) -> None:
    server = sshd_factory()
    (ssh_env / "ssh_config").write_text(
        f"Host labhost\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n"
        f"  IdentityFile {server.client.private}\n"
    )
    target = resolve_target("labhost", "labhost")
    assert (target.hostname, target.port, target.user) == ("127.0.0.1", server.port, server.user)
    with SSHConnection(target) as conn:
        assert conn.run(["true"], timeout_s=10).ok


def test_parse_jump_specs() -> None:
    assert parse_jump("bastion") == [(None, "bastion", None)]
    assert parse_jump("me@b1:2222,b2") == [("me", "b1", 2222), (None, "b2", None)]
    assert parse_jump("[::1]:22") == [(None, "::1", 22)]
