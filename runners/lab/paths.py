"""Where the lab keeps its cache, keys and run state, and the names of what it creates."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Names of the kernel objects the lab creates; veth and tap names fit in 15 bytes.
NETNS_PREFIX = "ringbench-"
LINK_PREFIX = "rb"
# The environment variable every process of the lab carries, so that clean-up can
# find them all (sshd's sessions leave its process group) by /proc/PID/environ.
TAG_VAR = "RINGBENCH_LAB_TAG"


def default_lab_dir() -> Path:
    """``$RINGBENCH_LAB_DIR``, else /var/cache/ringbench-lab as root, else the user's cache."""
    env = os.environ.get("RINGBENCH_LAB_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/ringbench-lab")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ringbench-lab"


@dataclass(frozen=True, slots=True)
class LabPaths:
    """The lab's directory: caches keyed by recipe hash, the keys, the current run."""

    root: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(default_lab_dir())

    def rootfs(self, recipe_hash: str) -> Path:
        """The debootstrap output for one recipe (never modified after it is complete)."""
        return self.root / f"rootfs-{recipe_hash}"

    def image_dir(self, image_hash: str) -> Path:
        """The lab's configured root file system and its ext4 image, for one image hash."""
        return self.root / f"image-{image_hash}"

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
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def kvm_verdict(self) -> Path:
        return self.root / "kvm-verdict.json"

    def log(self, host: str) -> Path:
        return self.run / f"{host}.log"
