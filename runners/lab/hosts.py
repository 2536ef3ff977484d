"""The lab's hosts: what each one is and how it starts.

Each :class:`HostSpec` says its class and hypervisor (as the inventory will
declare them) and starts its host, recording every process, namespace and
link in the state file before using it (:mod:`runners.lab.context`);
:mod:`runners.lab.boot` waits for SSH. The native host and the container run
sshd directly; the OCI containers (Podman, gVisor) are in :mod:`runners.lab.oci`, the
guests in :mod:`runners.lab.guests`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ringbench.files import atomic_write_text
from runners.lab import guests, oci
from runners.lab.context import (
    Endpoint,
    LabContext,
    lab_namespace,
    require_root,
    spawn_recorded,
)
from runners.lab.paths import private_dir
from runners.sshd_config import free_port, loopback_sshd_config

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"  # compiled into OpenSSH: shared by every sshd of the machine


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    virt_class: str
    hypervisor: str
    start: Callable[[LabContext], Endpoint]
    boot_timeout_s: float
    # A host whose failure to boot is expected on some machines: left out, not an error.
    optional: bool = False
    # A guest kernel with a clock of its own (set from this machine's once it answers).
    own_clock: bool = False


def start_native(ctx: LabContext) -> Endpoint:
    """This machine: an sshd of the lab's own on a loopback port (no root needed).

    Its sessions' home is the instance's run directory (``SetEnv HOME``), so that what a
    run deploys there (~/.cache/ringbench) goes with ``lab down``, never into the real
    home. As root, sshd also needs /run/sshd (its privilege separation directory, the
    same for every sshd of the machine): made when missing, never removed by the lab."""
    port = free_port()
    root = private_dir(ctx.paths.run / "native")
    home = private_dir(root / "home")
    authorized = root / "authorized_keys"
    atomic_write_text(authorized, Path(f"{ctx.paths.client_key}.pub").read_text(), mode=0o600)
    config = root / "sshd_config"
    text = loopback_sshd_config(
        port, ctx.paths.host_key, root / "sshd.pid", authorized, extra=(f"SetEnv HOME={home}",)
    )
    atomic_write_text(config, text, mode=0o600)
    if os.geteuid() == 0:
        Path(PRIVSEP_DIR).mkdir(mode=0o755, exist_ok=True)
    pid = spawn_recorded(ctx, "native", [SSHD, "-D", "-e", "-f", str(config)], "sshd")
    ctx.state.update("native", placement=ctx.placement.host_description("harness"))
    return Endpoint("127.0.0.1", port, pid)


def start_container(ctx: LabContext) -> Endpoint:
    """Namespaces on the host's kernel: netns + veth, unshare, chroot, sshd as PID 1."""
    require_root()
    link = lab_namespace(ctx, "ct", 1)
    root = ctx.image.rootfs  # the instance's own image tree: no other instance's container
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    argv = [
        "ip",
        "netns",
        "exec",
        link.netns,
        "unshare",
        "--mount",
        "--uts",
        "--ipc",
        "--pid",
        "--fork",
        f"--mount-proc={root / 'proc'}",
        "chroot",
        str(root),
        SSHD,
        "-D",
        "-e",
    ]
    pid = spawn_recorded(ctx, "container", argv, "unshare chroot sshd")
    # placed as the native host is (its baseline, on the same kernel): the harness pins itself
    ctx.state.update("container", placement=ctx.placement.host_description("harness"))
    return Endpoint(link.ns_address, 22, pid)


def specs() -> list[HostSpec]:
    """Every host the lab tries, the native baseline first."""
    return [
        HostSpec(
            "native",
            "hardware-assisted",
            "KVM, type 1 (this machine is itself a KVM guest)",
            start_native,
            15.0,
        ),
        HostSpec(
            "container",
            "container",
            "none: Linux namespaces on the host's kernel",
            start_container,
            20.0,
        ),
        HostSpec(
            "podman",
            "container",
            "none: Podman 4 with runc, its default seccomp profile, on the host's kernel",
            oci.start_podman,
            120.0,
        ),
        HostSpec(
            "podman-nosec",
            "container",
            "none: Podman 4 with runc, seccomp=unconfined, on the host's kernel",
            oci.start_podman_nosec,
            120.0,
        ),
        HostSpec(
            "gvisor",
            "application-kernel",
            "gVisor (runsc) under Podman, on the host's kernel",
            oci.start_gvisor,
            120.0,
        ),
        HostSpec(
            "uml",
            "paravirtualized",
            "User-Mode Linux, type 2 (a guest kernel as host processes)",
            guests.start_uml,
            90.0,
        ),
        HostSpec(
            "tcg", "binary-translation", "QEMU TCG, type 2", guests.start_tcg, 240.0, own_clock=True
        ),
        HostSpec(
            "kvm",
            "hardware-assisted",
            "QEMU/KVM nested, type 2 on a KVM guest",
            guests.start_kvm,
            guests.KVM_BOOT_S,
            optional=True,
            own_clock=True,
        ),
    ]
