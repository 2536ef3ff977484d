"""Podman as the lab drives it: a store of the instance's own, bounded commands, clean-up.

Every Podman command of the lab names its own storage (``--root``, ``--runroot``,
``--tmpdir`` under the instance's directory, which is private: the image holds the
instance's host key), so that the lab never reads or changes the machine's own
containers and images, and ``lab down`` finds what it made by name. The cgroup
manager is cgroupfs (the lab's hosts need no systemd) and events go to a file.
Podman's configuration is the lab's own (``CONTAINERS_CONF``, :func:`write_config`,
not the machine's /etc/containers): it gives conmon, the monitor Podman detaches
from the lab's process tree, the lab's process tag, so that clean-up finds it and
the container's processes below it like every other process of the lab.
A container is recorded in the lab's state file before it is started
(:class:`ContainerRecord`), removed by :func:`remove` at clean-up, and counted by
:func:`exists` when something of a lab is left.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from ringbench.files import atomic_write_text
from runners.lab.paths import TAG_VAR
from runners.lab.procs import LabError, kill_all, run_cmd, with_descendants

PODMAN = "podman"
COMMAND_TIMEOUT_S = 60.0
REMOVE_TIMEOUT_S = 30.0
REMOVE_TRIES = 3
CONMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """A container of the lab: its host, its name, the store it lives in."""

    host: str
    name: str
    store: str  # the directory of the Podman store (PodmanStore.root)


@dataclass(frozen=True, slots=True)
class PodmanStore:
    """The instance's Podman storage: images, containers, Podman's own state; ``config``,
    the lab's containers.conf for this ``lab up`` (None: Podman's built-in defaults)."""

    root: Path
    config: Path | None = None

    def argv(self, *args: str) -> list[str]:
        """A Podman command line on this store."""
        conf = ["env", f"CONTAINERS_CONF={self.config}"] if self.config else []
        return [
            *conf,
            PODMAN,
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--tmpdir",
            str(self.root / "tmp"),
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--log-level",
            "error",
            *args,
        ]

    def run(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
        return run_cmd(self.argv(*args), timeout_s=timeout_s, check=check).stdout

    def _succeeds(self, *args: str) -> bool:
        """Whether the command exits 0 (Podman's ``exists`` commands answer so)."""
        return run_cmd(self.argv(*args), timeout_s=COMMAND_TIMEOUT_S, check=False).returncode == 0

    def image_exists(self, tag: str) -> bool:
        return self._succeeds("image", "exists", tag)

    def container_exists(self, name: str) -> bool:
        return self._succeeds("container", "exists", name)

    def remove_container(self, name: str) -> None:
        """Stop and remove ``name`` at once (no grace: a lab host holds nothing to save)."""
        self.run("rm", "--force", "--time", "0", name, timeout_s=REMOVE_TIMEOUT_S, check=False)

    def pids(self, name: str) -> tuple[int, int]:
        """(conmon, the container's first process) of a running container."""
        out = self.run("inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", name)
        try:
            conmon, first = (int(word) for word in out.split()[:2])
        except ValueError:
            raise LabError(f"podman inspect {name}: no process ids in {out[:80]!r}") from None
        return conmon, first


def write_config(path: Path, tag: str) -> Path:
    """The lab's containers.conf: conmon carries the lab's tag (``TAG_VAR``)."""
    text = (
        "# ringbench lab: Podman's configuration for this lab up (runners/lab/engine.py)\n"
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'conmon_env_vars = ["PATH={CONMON_PATH}", "{TAG_VAR}={tag}"]\n'
    )
    atomic_write_text(path, text, mode=0o600)
    return path


def store_of(record: ContainerRecord) -> PodmanStore:
    return PodmanStore(Path(record.store))


def _remove_one(store: PodmanStore, name: str) -> bool:
    """Remove ``name`` (bounded tries); whether it is gone. A container caught half-started
    (``lab up`` interrupted while its runtime was starting it) may refuse ``rm``: its
    monitor and processes are then killed and ``rm`` is asked again."""
    for attempt in range(REMOVE_TRIES):
        if not store.container_exists(name):
            return attempt > 0
        store.remove_container(name)
        if not store.container_exists(name):
            return True
        with contextlib.suppress(LabError):  # no process ids: nothing of it runs
            kill_all(with_descendants([p for p in store.pids(name) if p > 0]), grace_s=1.0)
        time.sleep(0.5)
    return not store.container_exists(name)


def remove(records: list[ContainerRecord]) -> list[str]:
    """Remove the containers that exist; the names of those removed. Podman missing (the
    lab's packages removed since) means nothing of it can be left to remove."""
    removed = []
    for record in records:
        try:
            if _remove_one(store_of(record), record.name):
                removed.append(record.name)
        except LabError:
            continue
    return removed


def existing(records: list[ContainerRecord]) -> list[str]:
    """The recorded containers that still exist."""
    left = []
    for record in records:
        try:
            if store_of(record).container_exists(record.name):
                left.append(record.name)
        except LabError:
            continue
    return left
