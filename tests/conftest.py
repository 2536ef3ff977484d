"""Shared fixtures: the session kept off the user's home and caches, the real harness built
once per session, and real sshd servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from suites.build import BuildInfo, build
from suites.catalog import Catalog, load_catalog

DATA = Path(__file__).parent / "data"
# Where the user's tools and ringbench keep files of their own: for the whole session,
# each points into the session's tmp directory (home/ there stands for the real one).
HOME_VARS = {
    "XDG_CACHE_HOME": ".cache",
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "IPYTHONDIR": ".ipython",
    "RINGBENCH_KNOWN_HOSTS": ".config/ringbench/known_hosts",
    "RINGBENCH_SSH_CONFIG": ".ssh/config",
    "RINGBENCH_BUILD_DIR": ".cache/ringbench-build",
    "RINGBENCH_LAB_DIR": ".cache/ringbench-lab",
}
# Chosen by the user for their own lab: never inherited by a test.
UNSET_VARS = ("RINGBENCH_LAB_INSTANCE", "RINGBENCH_LAB_CACHE", "SSH_AUTH_SOCK")


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test reads or writes the user's ~/.cache, ~/.config, known_hosts, ssh config,
    build directory or lab directory: each points into the session's tmp for the whole
    session (subprocesses inherit it); the user's lab selection is not inherited."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for var, relative in HOME_VARS.items():
            mp.setenv(var, str(home / relative))
        for var in UNSET_VARS:
            mp.delenv(var, raising=False)
        (home / ".ssh").mkdir()
        (home / ".ssh" / "config").write_text("")
        yield home


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> BuildInfo:
    """The harness built from this checkout's sources into a private build directory."""
    build_dir = tmp_path_factory.mktemp("build")
    os.environ["RINGBENCH_BUILD_DIR"] = str(build_dir)
    return build(build_dir)


@pytest.fixture(scope="session")
def catalog(harness: BuildInfo) -> Catalog:
    return load_catalog(harness.path)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


# --- real OpenSSH servers on loopback --------------------------------------

from collections.abc import Callable  # noqa: E402

from tests.sshd import SSHD, ClientKey, Sshd, keygen  # noqa: E402


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    if not SSHD.exists():
        pytest.skip(f"{SSHD} missing: apt-get install openssh-server (nox -s tests does)")
    return ClientKey(keygen(tmp_path_factory.mktemp("client") / "id_ed25519"))


@pytest.fixture
def ssh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user SSH state leaks in: an empty ssh config, no agent, a private known_hosts."""
    config = tmp_path / "ssh_config"
    config.write_text("")
    monkeypatch.setenv("RINGBENCH_SSH_CONFIG", str(config))
    monkeypatch.setenv("RINGBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return tmp_path


@pytest.fixture
def sshd_factory(
    tmp_path: Path, client_key: ClientKey, ssh_env: Path
) -> Iterator[Callable[..., Sshd]]:
    """Start real sshd servers; each one's host key is added to the test's known_hosts."""
    servers: list[Sshd] = []

    def start(name: str = "", *, trust: bool = True, log_level: str = "ERROR") -> Sshd:
        server = Sshd(
            tmp_path / f"sshd-{name or len(servers)}", client_key, log_level=log_level
        ).start()
        servers.append(server)
        if trust:
            with (ssh_env / "known_hosts").open("a") as fp:
                fp.write(server.known_hosts_line() + "\n")
        return server

    yield start
    for server in servers:
        server.stop()
