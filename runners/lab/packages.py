"""The Debian packages the lab needs, and their installation with apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from ringbench.progress import Progress
from runners.lab.procs import LabError, run_cmd, tail

# package -> what it gives the lab
PACKAGES: dict[str, str] = {
    "qemu-system-x86": "QEMU, for the binary-translation (TCG) and nested KVM guests",
    "qemu-utils": "qemu-img",
    "user-mode-linux": "the User-Mode Linux kernel (/usr/bin/linux)",
    "debootstrap": "the guests' root file system",
    "linux-image-amd64": "a Debian kernel and modules for the QEMU guests",
    "iproute2": "network namespaces, veth pairs, taps",
    "kmod": "modprobe, depmod",
    "openssh-server": "sshd on every host",
    "e2fsprogs": "mkfs.ext4 -d, the guests' disk images",
    "podman": "the OCI containers (podman, podman-nosec, gvisor)",
    "runc": "the OCI runtime of the podman hosts (crun refuses hybrid cgroups)",
    "runsc": "gVisor's OCI runtime (the gvisor host)",
}
UPDATE_TIMEOUT_S = 300.0
INSTALL_TIMEOUT_S = 900.0


def missing_packages() -> list[str]:
    """The lab's packages that dpkg does not list as installed."""
    out = run_cmd(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES],
        timeout_s=30,
        check=False,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in PACKAGES if p not in installed]


def install(packages: list[str], progress: Progress) -> None:
    """``apt-get update`` then ``apt-get install``, with a bar fed by apt's status lines."""
    if shutil.which("apt-get") is None:
        raise LabError(
            f"missing Debian packages {', '.join(packages)} and no apt-get: install them by hand"
        )
    if os.geteuid() != 0:
        raise LabError(
            f"missing Debian packages {', '.join(packages)}: run as root, or "
            f"sudo apt-get install {' '.join(packages)}"
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    task = "packages"
    progress.start(task, "apt-get update", total=100)
    run_cmd(["apt-get", "update", "-qq"], timeout_s=UPDATE_TIMEOUT_S, env=env)
    argv = [
        "timeout",
        "-k",
        "10",
        f"{INSTALL_TIMEOUT_S:g}",
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "-o",
        "APT::Status-Fd=1",
        *packages,
    ]
    lines: list[str] = []
    started = time.monotonic()
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: timeout(1) ends apt-get, which closes stdout
            lines = [*lines[-30:], line]
            kind, _, rest = line.partition(":")
            if kind in ("dlstatus", "pmstatus"):
                _, percent, what = [*rest.split(":", 2), "", ""][:3]
                try:
                    share = float(percent or 0) / 2 + (50 if kind == "pmstatus" else 0)
                except ValueError:
                    continue
                progress.update(task, completed=share, description=f"apt-get: {what.strip()}")
        code = proc.wait(timeout=30)
    if code != 0:
        raise LabError(
            f"apt-get install {' '.join(packages)} failed (exit {code}, after "
            f"{time.monotonic() - started:.0f} s): {tail(''.join(lines))}"
        )
    progress.finish(task, f"installed {' '.join(packages)}")
