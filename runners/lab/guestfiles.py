"""The files the lab writes into the guests' root file system: init, sshd, keys."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from runners.lab.paths import LabPaths

AUTHORIZED_KEYS = "/etc/ssh/ringbench_authorized_keys"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"

# PID 1 of the UML and QEMU guests. Its file name makes PID 1's comm "init", as on
# real hosts. The kernel hands unknown "name=value" boot parameters to init as
# environment variables: rb_ip, rb_gw and rb_modules come from the lab's command line.
INIT = """\
#!/bin/sh
# ringbench lab init: mounts, network from the boot parameters, sshd; then waits.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname "${rb_hostname:-ringbench-guest}"
for module in $(echo "${rb_modules:-}" | tr ',' ' '); do modprobe "$module"; done
ip link set lo up
dev=""
for path in /sys/class/net/*; do
    name=${path##*/}
    [ "$name" = lo ] || { dev=$name; break; }
done
if [ -n "$dev" ] && [ -n "${rb_ip:-}" ]; then
    ip link set "$dev" up
    ip addr add "$rb_ip" dev "$dev"
    [ -z "${rb_gw:-}" ] || ip route add default via "$rb_gw"
fi
mkdir -p /run/sshd
echo "ringbench-lab: $dev ${rb_ip:-} up, starting sshd"
/usr/sbin/sshd -D -e &
while :; do wait; sleep 5; done
"""

SSHD_CONFIG = f"""\
# ringbench lab: key authentication with the lab's key only
Port 22
HostKey {HOST_KEY}
PidFile /run/sshd.pid
AuthorizedKeysFile {AUTHORIZED_KEYS}
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UseDNS no
Subsystem sftp internal-sftp
LogLevel ERROR
"""

HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tringbench-guest\n::1\tlocalhost\n"


def fingerprint() -> str:
    """A hash of everything this module writes (part of the image's cache key)."""
    text = "\0".join((INIT, SSHD_CONFIG, HOSTS, AUTHORIZED_KEYS, HOST_KEY))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_text(text)
    path.chmod(mode)


def install(root: Path, paths: LabPaths) -> None:
    """Write the lab's init, sshd configuration and keys into the tree at ``root``."""
    _write(root / "sbin" / "init", INIT, 0o755)
    _write(root / "etc" / "ssh" / "sshd_config", SSHD_CONFIG, 0o644)
    for old in (root / "etc" / "ssh").glob("ssh_host_*"):
        old.unlink()
    host_key = root / HOST_KEY.lstrip("/")
    shutil.copyfile(paths.host_key, host_key)
    host_key.chmod(0o600)
    shutil.copyfile(f"{paths.host_key}.pub", f"{host_key}.pub")
    _write(root / AUTHORIZED_KEYS.lstrip("/"), Path(f"{paths.client_key}.pub").read_text(), 0o644)
    _write(root / "etc" / "hostname", "ringbench-guest\n", 0o644)
    _write(root / "etc" / "hosts", HOSTS, 0o644)
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True)  # the container's sshd
    (root / "root" / ".cache").mkdir(parents=True, exist_ok=True)
