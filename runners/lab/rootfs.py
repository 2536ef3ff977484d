"""The guests' root file system: debootstrap once per recipe, then the lab's image.

Two caches, each keyed by a hash of what goes into it:

- ``rootfs-<hash>``: the debootstrap output; its hash covers the suite,
  variant, packages and mirror. Never modified once complete. It holds no
  secret, so it lives in the cache directory, which instances may share
  (built and pruned under the cache's lock).
- ``image-<hash>``: that tree with the lab's init, sshd configuration, keys
  and the QEMU kernel's network modules (``rootfs/``, the container's root),
  and its ext4 image (``disk.ext4``, which each guest boots from a copy of).
  Its hash adds the kernel, the files the lab writes and the keys. It holds
  the instance's host key: it lives in the instance's directory, the image
  directory 0700, the disk and each guest's copy 0600.

A build goes into a temporary directory renamed into place when complete,
so an interrupted build is never taken for a cached one, and the temporary
directory is removed when the build fails or is interrupted.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ringbench.progress import Progress
from runners.lab import guestfiles
from runners.lab.paths import LabPaths, private_dir
from runners.lab.procs import LabError, run_cmd
from suites.workloads import load_workloads

SUITE = "bookworm"
# systemd gives the guests systemd-detect-virt, which the probe reads (real hosts have it);
# the guests still boot the lab's own small init. linux-perf gives every host an
# independent tool to hold ringbench's figures against (benchmarks/lab_reference.py).
# The shipped workloads' programs (suites/workloads.toml: gcc, sqlite3, python3 ...) run in
# every guest, so their packages are in the recipe.
INCLUDE = tuple(
    dict.fromkeys(
        (
            *("openssh-server", "kmod", "iproute2", "systemd", "procps", "linux-perf"),
            *(p for w in load_workloads() for p in w.packages),
        )
    )
)
MIRROR = "http://deb.debian.org/debian"
GUEST_MODULES = ("virtio_net",)
IMAGE_SIZE = "2G"
DEBOOTSTRAP_TIMEOUT_S = 900.0
COPY_TIMEOUT_S = 300.0
MKFS_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Kernel:
    """The distribution kernel the QEMU guests boot (this machine's own may be another)."""

    version: str
    vmlinuz: Path
    initrd: Path
    modules: Path


@dataclass(frozen=True, slots=True)
class Image:
    rootfs: Path  # the configured tree: the container's root
    disk: Path  # its ext4 image: copied for each guest
    kernel: Kernel


def _version_key(version: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", version)]


def find_kernel() -> Kernel:
    """The newest Debian amd64 kernel in /boot with its initrd and modules."""
    found = []
    for vmlinuz in Path("/boot").glob("vmlinuz-*-amd64"):
        version = vmlinuz.name.removeprefix("vmlinuz-")
        initrd = Path(f"/boot/initrd.img-{version}")
        modules = Path(f"/lib/modules/{version}")
        if initrd.is_file() and (modules / "modules.dep").is_file():
            found.append(Kernel(version, vmlinuz, initrd, modules))
    if not found:
        raise LabError(
            "no Debian kernel in /boot (vmlinuz-*-amd64 with its initrd and "
            "modules): apt-get install linux-image-amd64"
        )
    return max(found, key=lambda k: _version_key(k.version))


def recipe() -> dict[str, object]:
    return {
        "tool": "debootstrap",
        "suite": SUITE,
        "variant": "minbase",
        "include": sorted(INCLUDE),
        "mirror": MIRROR,
        "arch": "amd64",
    }


def digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _unmount_below(path: Path) -> None:
    """Unmount what an interrupted debootstrap left mounted inside ``path`` (proc, sys)."""
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    inside = [
        line.split()[4] for line in mounts if line.split()[4].startswith(f"{path.resolve()}/")
    ]
    for point in sorted(inside, key=len, reverse=True):
        run_cmd(["umount", "-l", point], timeout_s=30, check=False)


def _remove_tree(path: Path) -> None:
    if path.exists():
        _unmount_below(path)
        shutil.rmtree(path)


def _prune(keep: Path) -> None:
    """Remove the caches of other recipes or keys beside ``keep`` (under the cache's lock;
    a running lab uses none: its guests boot from copies, its container from its image)."""
    kind = keep.name.split("-", 1)[0]
    for other in keep.parent.glob(f"{kind}-*"):
        if other != keep and other.is_dir():
            _remove_tree(other)


def build_rootfs(paths: LabPaths, progress: Progress) -> Path:
    """The debootstrap tree of the current recipe, built now if it is not cached.
    Hold ``paths.cache_lock`` around this (instances may share the cache)."""
    target = paths.rootfs(digest(recipe()))
    if (target / ".complete").is_file():
        _prune(target)
        return target
    tmp = target.with_name(target.name + ".tmp")
    _remove_tree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    task = "rootfs"
    progress.start(task, f"debootstrap {SUITE} (minbase, {', '.join(INCLUDE)})")
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(INCLUDE)}",
        SUITE,
        str(tmp),
        MIRROR,
    ]
    started = time.monotonic()
    try:
        run_cmd(argv, timeout_s=DEBOOTSTRAP_TIMEOUT_S)
        (tmp / ".complete").write_text(json.dumps(recipe(), sort_keys=True) + "\n")
    except BaseException:  # failed or interrupted: nothing half-built stays
        _remove_tree(tmp)
        raise
    _remove_tree(target)
    tmp.rename(target)
    _prune(target)
    progress.finish(task, f"root file system built in {time.monotonic() - started:.0f} s")
    return target


def _module_closure(kernel: Kernel, names: tuple[str, ...]) -> list[str]:
    """Relative paths of the modules ``names`` and everything they depend on."""
    deps: dict[str, list[str]] = {}
    for line in (kernel.modules / "modules.dep").read_text().splitlines():
        module, _, needs = line.partition(":")
        deps[module] = needs.split()
    by_name = {re.sub(r"\.ko(\.\w+)?$", "", Path(m).name).replace("-", "_"): m for m in deps}
    todo = [by_name[n] for n in names if n in by_name]
    found: list[str] = []
    while todo:
        module = todo.pop()
        if module not in found:
            found.append(module)
            todo.extend(deps.get(module, []))
    return found


def _copy_modules(kernel: Kernel, root: Path) -> None:
    """The kernel's module index and the guest's network modules (not all 400 MB)."""
    dest = root / "lib" / "modules" / kernel.version
    dest.mkdir(parents=True, exist_ok=True)
    for index in kernel.modules.glob("modules.*"):
        shutil.copy2(index, dest / index.name)
    for module in _module_closure(kernel, GUEST_MODULES):
        (dest / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kernel.modules / module, dest / module)


def image_hash(rootfs: Path, kernel: Kernel, paths: LabPaths) -> str:
    keys = [Path(f"{paths.host_key}.pub").read_text(), Path(f"{paths.client_key}.pub").read_text()]
    return digest(
        {
            "rootfs": rootfs.name,
            "kernel": kernel.version,
            "modules": GUEST_MODULES,
            "files": guestfiles.fingerprint(),
            "keys": keys,
            "size": IMAGE_SIZE,
        }
    )


def _make_private(image: Image) -> Image:
    """The image's directory 0700 and its disk 0600 (they hold the host key)."""
    image.disk.parent.chmod(0o700)
    image.disk.chmod(0o600)
    return image


def build_image(paths: LabPaths, rootfs: Path, progress: Progress) -> Image:
    """The lab's configured tree and its ext4 image, built now if not cached."""
    kernel = find_kernel()
    target = paths.image_dir(image_hash(rootfs, kernel, paths))
    image = Image(target / "rootfs", target / "disk.ext4", kernel)
    if (target / ".complete").is_file():
        _prune(target)
        return _make_private(image)
    tmp = target.with_name(target.name + ".tmp")
    _remove_tree(tmp)
    private_dir(tmp)
    task = "image"
    progress.start(task, "guest image: copy, configure, mkfs.ext4", total=3)
    try:
        _fill_image(tmp, rootfs, kernel, paths, progress, task)
    except BaseException:  # failed or interrupted: nothing half-built stays
        _remove_tree(tmp)
        raise
    _remove_tree(target)
    tmp.rename(target)
    _prune(target)
    progress.finish(task, "guest image built")
    return _make_private(image)


def _fill_image(
    tmp: Path, rootfs: Path, kernel: Kernel, paths: LabPaths, progress: Progress, task: str
) -> None:
    run_cmd(
        ["cp", "-a", "--reflink=auto", str(rootfs), str(tmp / "rootfs")], timeout_s=COPY_TIMEOUT_S
    )
    (tmp / "rootfs" / ".complete").unlink()
    progress.update(task, advance=1)
    guestfiles.install(tmp / "rootfs", paths)
    _copy_modules(kernel, tmp / "rootfs")
    progress.update(task, advance=1)
    disk = tmp / "disk.ext4"
    disk.touch(mode=0o600)  # mkfs keeps the mode of a file that exists
    run_cmd(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            "ringbench",
            "-d",
            str(tmp / "rootfs"),
            str(disk),
            IMAGE_SIZE,
        ],
        timeout_s=MKFS_TIMEOUT_S,
    )
    disk.chmod(0o600)
    progress.update(task, advance=1)
    (tmp / ".complete").write_text("\n")


def guest_disk(image: Image, dest: Path) -> Path:
    """A private, sparse copy of the image for one guest (the cache stays pristine),
    0600 from its creation (it holds the host key)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    dest.touch(mode=0o600)  # cp writes into an existing file and keeps its mode
    run_cmd(
        ["cp", "--sparse=always", "--reflink=auto", str(image.disk), str(dest)],
        timeout_s=COPY_TIMEOUT_S,
    )
    dest.chmod(0o600)
    return dest
