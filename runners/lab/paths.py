"""Where an instance of the lab keeps its state, keys, images and current run, and its cache.

The instance's directory (:class:`LabPaths.root`, mode 0700: it holds the
lab's private keys) has its state file, its keys, its images (the root file
system configured with its keys, and that tree's ext4 image) and the current
run (logs, guest disks, sshd configurations). The debootstrap output, which
holds no secret and is the same for every instance of one recipe, goes to
the cache directory (:attr:`LabPaths.cache`, the instance's own directory
unless one is chosen), where instances may share it.

Directories: the default instance's is ``$RINGBENCH_LAB_DIR``, else
/var/cache/ringbench-lab as root, else the user's cache; instance NAME's is
the same path with ``-NAME`` appended (/var/cache/ringbench-lab-NAME). The
cache is ``$RINGBENCH_LAB_CACHE`` when set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ringbench.errors import UserError
from runners.lab.instance import Instance

# The environment variable every process of the lab carries, so that clean-up can
# find them all (sshd's sessions leave its process group) by /proc/PID/environ.
TAG_VAR = "RINGBENCH_LAB_TAG"
CACHE_VAR = "RINGBENCH_LAB_CACHE"
# The characters a lab directory's path may have. Its guests' disks are named on
# command lines that split on others: UML's ``ubd0=FILE[,COW]`` takes ',' and ':' as
# separators and the kernel's command line splits on blanks and quotes; QEMU's
# ``-drive file=...`` options are comma-separated; sshd_config splits on blanks.
SAFE_PATH = re.compile(r"[A-Za-z0-9._/+@%~-]+")


def default_lab_dir() -> Path:
    """``$RINGBENCH_LAB_DIR``, else /var/cache/ringbench-lab as root, else the user's cache."""
    env = os.environ.get("RINGBENCH_LAB_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/ringbench-lab")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ringbench-lab"


def instance_dir(instance: Instance) -> Path:
    """The default directory of ``instance``: the default one's, ``-NAME`` appended."""
    base = default_lab_dir()
    return base if instance.is_default else Path(f"{base}-{instance.name}")


def check_safe_path(path: Path, what: str, choose: str) -> None:
    """Refuse a directory whose path the guests' command lines would split (one line)."""
    text = str(path)
    if SAFE_PATH.fullmatch(text):
        return
    bad = " ".join(repr(c) for c in sorted({c for c in text if not SAFE_PATH.fullmatch(c)}))
    raise UserError(
        f"{what} {text!r}: its path has {bad}, which User-Mode Linux's ubd0= and "
        "QEMU's -drive options (and the lab's other command lines) would split: choose a "
        f"directory whose path has only letters, digits and . _ / + @ % ~ - ({choose})"
    )


@dataclass(frozen=True, slots=True)
class LabPaths:
    """An instance's directory (state, keys, images, the current run) and its cache."""

    root: Path
    instance: Instance = field(default_factory=Instance)
    cache_dir: Path | None = None  # where rootfs-<hash> goes; None: ``root``

    @classmethod
    def default(cls) -> LabPaths:
        """The instance ``$RINGBENCH_LAB_INSTANCE`` names (else the default one)."""
        return cls.of(Instance.from_env())

    @classmethod
    def of(
        cls, instance: Instance, root: Path | None = None, cache: Path | None = None
    ) -> LabPaths:
        """``instance``'s paths: its own directory and ``$RINGBENCH_LAB_CACHE`` unless given."""
        env_cache = os.environ.get(CACHE_VAR)
        chosen_cache = cache or (Path(env_cache) if env_cache else None)
        return cls(
            (root or instance_dir(instance)).absolute(),
            instance,
            chosen_cache.absolute() if chosen_cache else None,
        )

    @property
    def cache(self) -> Path:
        return self.cache_dir or self.root

    def rootfs(self, recipe_hash: str) -> Path:
        """The debootstrap output for one recipe (never modified after it is complete)."""
        return self.cache / f"rootfs-{recipe_hash}"

    @property
    def cache_lock(self) -> Path:
        """Held while the cache is built or pruned (instances may share a cache)."""
        return self.cache / ".cache.lock"

    def image_dir(self, image_hash: str) -> Path:
        """The lab's configured root file system and its ext4 image, for one image hash
        (it holds the instance's host key: in the instance's directory, mode 0700)."""
        return self.root / f"image-{image_hash}"

    @property
    def lock(self) -> Path:
        """Held by ``lab up`` and ``lab down`` of the instance (one at a time)."""
        return self.root / ".lab.lock"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def client_key(self) -> Path:
        return self.keys / "id_ed25519"

    @property
    def host_key(self) -> Path:
        return self.keys / "ssh_host_ed25519_key"

    @property
    def run(self) -> Path:
        """What the current lab writes while it runs: logs, guest disks, sshd configs."""
        return self.root / "run"

    @property
    def podman(self) -> Path:
        """The instance's Podman store (its image holds the host key: private too)."""
        return self.root / "podman"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def inventory(self) -> Path:
        """The lab's own inventory, written by ``lab up`` (never a file of the checkout)."""
        return self.root / "inventory.yaml"

    @property
    def kvm_verdict(self) -> Path:
        return self.root / "kvm-verdict.json"

    def log(self, host: str) -> Path:
        return self.run / f"{host}.log"


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700 (made, or its mode set when it exists)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path
