"""Deploy the harness: one identical binary on every host, hash checked there.

The binary goes by SFTP into a private directory (mode 0700) under the
host's home, named by its sha256, and only when the host does not already
hold it. Before anything runs, the host itself computes the file's sha256: a
mismatch stops that host with the reason. A host of another CPU architecture
is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringbench.errors import CommandError, DeployError
from runners.transport import Connection, LocalConnection
from suites.build import BINARY_NAME, BuildInfo

COMMAND_TIMEOUT_S = 60.0
REMOTE_DIR = ".cache/ringbench"


@dataclass(frozen=True, slots=True)
class Deployed:
    """Where the binary lives on the host, and whether this run uploaded it."""

    path: str
    uploaded: bool
    home: str


def remote_sha256(conn: Connection, path: str) -> str | None:
    """The sha256 the host computes for ``path``, or None when the file is missing."""
    result = conn.run(["sha256sum", "--", path], timeout_s=COMMAND_TIMEOUT_S, check=False)
    if not result.ok:
        return None
    words = result.stdout.split()
    return words[0] if words else None


def host_arch_and_home(conn: Connection) -> tuple[str, str]:
    """The host's CPU architecture and the user's home, in one round trip."""
    out = conn.run(
        ["sh", "-c", 'uname -m; printf "%s\\n" "$HOME"'], timeout_s=COMMAND_TIMEOUT_S
    ).stdout.splitlines()
    return (out[0].strip() if out else "", out[1].strip() if len(out) > 1 else "")


def deploy(conn: Connection, build: BuildInfo) -> Deployed:
    """Make sure ``conn``'s host holds the built binary; return where it is."""
    try:
        arch, home = host_arch_and_home(conn)
        if arch != build.arch:
            raise DeployError(
                f"host is {arch}, the harness is built for "
                f"{build.arch}: skipped (build on a {arch} controller)",
                host=conn.host,
            )
        if isinstance(conn, LocalConnection):
            path, uploaded = str(build.path), False
        else:
            if not home.startswith("/"):
                raise DeployError("no home directory to deploy into", host=conn.host)
            directory = f"{home}/{REMOTE_DIR}"
            # install -d sets the mode even when the directory already exists.
            conn.run(["install", "-d", "-m", "700", "--", directory], timeout_s=COMMAND_TIMEOUT_S)
            path = f"{directory}/{BINARY_NAME}-{build.sha256[:16]}"
            found = remote_sha256(conn, path)
            uploaded = found != build.sha256
            if uploaded:
                conn.put(build.path, path, mode=0o700)
        if uploaded or isinstance(conn, LocalConnection):
            found = remote_sha256(conn, path)
    except CommandError as exc:
        raise DeployError(f"deploy failed: {exc.detail}", host=conn.host) from None
    if found != build.sha256:
        raise DeployError(
            f"{path} has sha256 {(found or 'nothing')[:16]}, expected {build.sha256[:16]}: stopped",
            host=conn.host,
        )
    return Deployed(path=path, uploaded=uploaded, home=home)
