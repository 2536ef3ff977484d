"""The lab's guest kernels: User-Mode Linux, QEMU TCG and (when it boots here) QEMU/KVM.

Each boots from a private copy of the lab's ext4 image; its network comes from
boot parameters (``rb_ip``, ``rb_gw``, ``rb_modules``) that the lab's init reads.
The UML guest sits behind a namespace of its own (its tap inside, forwarding
on, a host route to its subnet through the veth); the QEMU guests are reached
on a 127.0.0.1 port forwarded by QEMU's user-mode network, restricted so that
the guest cannot reach anything else.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from ringbench.files import atomic_write_json
from runners.lab import net
from runners.lab.context import (
    Endpoint,
    LabContext,
    LeftOut,
    lab_namespace,
    require_root,
    spawn_recorded,
)
from runners.lab.placement import pin_vcpus
from runners.lab.rootfs import guest_disk
from runners.sshd_config import free_port

KVM_BOOT_S = 60.0
UML_LINK = 2  # the /30 of the UML namespace's veth pair
UML_NET = 3  # the /24 behind it: the tap (.1) and the guest (.2)


def start_uml(ctx: LabContext) -> Endpoint:
    """``linux ubd0=IMAGE eth0=tuntap,TAP ...`` inside the lab's namespace."""
    require_root()
    instance = ctx.instance
    subnet, tap_ip, guest_ip = (instance.address(UML_NET, n, 24) for n in (0, 1, 2))
    tap = instance.link("uml", "tap")
    link = lab_namespace(ctx, "uml", UML_LINK, subnet)
    net.create_tap(link.netns, tap, tap_ip)
    net.enable_forwarding(link.netns)
    net.route_via(subnet, link)
    ctx.check()
    disk = guest_disk(ctx.image, ctx.paths.run / "uml.ext4")
    argv = [
        "ip",
        "netns",
        "exec",
        link.netns,
        *ctx.placement.guest_prefix(),
        "linux",
        "mem=512M",
        f"ubd0{'s' if ctx.disks == 'durable' else ''}={disk}",
        "root=/dev/ubda",
        "rw",
        "init=/sbin/init",
        f"eth0=tuntap,{tap}",
        "con=null",
        "con0=fd:0,fd:1",
        f"rb_ip={guest_ip}",
        f"rb_gw={tap_ip.split('/')[0]}",
        "rb_hostname=uml",
    ]
    pid = spawn_recorded(ctx, "uml", argv, "User-Mode Linux")
    ctx.state.update("uml", placement=ctx.placement.host_description("guest"))
    return Endpoint(guest_ip.split("/")[0], 22, pid)


_QEMU_CACHE = {"cached": "writeback", "durable": "none"}


def _qemu_argv(ctx: LabContext, name: str, accel: str, port: int, disk: Path) -> list[str]:
    kernel = ctx.image.kernel
    append = (
        f"console=ttyS0 root=/dev/vda rw init=/sbin/init quiet rb_ip=10.0.2.15/24 "
        f"rb_gw=10.0.2.2 rb_modules=virtio_net rb_hostname={name}"
    )
    return [
        *ctx.placement.emulator_prefix(),
        "qemu-system-x86_64",
        "-name",
        f"{name},debug-threads=on",  # threads named "CPU 0/TCG"...: the vCPU can be found
        "-accel",
        accel,
        "-m",
        "1024",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-kernel",
        str(kernel.vmlinuz),
        "-initrd",
        str(kernel.initrd),
        "-append",
        append,
        "-drive",
        f"file={disk},if=virtio,format=raw,cache={_QEMU_CACHE[ctx.disks]}",
        "-netdev",
        f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device",
        "virtio-net-pci,netdev=n0",
    ]


def start_tcg(ctx: LabContext) -> Endpoint:
    """QEMU with binary translation and the distribution's kernel."""
    port = free_port()
    ctx.check()
    disk = guest_disk(ctx.image, ctx.paths.run / "tcg.ext4")
    pid = spawn_recorded(ctx, "tcg", _qemu_argv(ctx, "tcg", "tcg", port, disk), "QEMU TCG")
    place_emulator(ctx, "tcg", pid)
    return Endpoint("127.0.0.1", port, pid)


def kvm_key(ctx: LabContext) -> dict[str, str]:
    """What decides whether KVM boots a guest here: the machine's kernel, QEMU, the guest's."""
    qemu = Path("/usr/bin/qemu-system-x86_64")
    return {
        "host_kernel": platform.release(),
        "guest_kernel": ctx.image.kernel.version,
        "qemu_mtime": str(qemu.stat().st_mtime_ns if qemu.exists() else 0),
    }


def cached_kvm_failure(ctx: LabContext) -> str | None:
    """The reason of an earlier bounded KVM boot that failed on this very set-up, if any."""
    try:
        verdict = json.loads(ctx.paths.kvm_verdict.read_text())
    except (OSError, ValueError):
        return None
    if verdict.get("key") != kvm_key(ctx) or verdict.get("booted"):
        return None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(verdict.get("time", 0)))
    return (
        f"{verdict.get('reason')} (bounded boot of {when}; remove "
        f"{ctx.paths.kvm_verdict} to try again)"
    )


def record_kvm(ctx: LabContext, booted: bool, reason: str) -> None:
    atomic_write_json(
        ctx.paths.kvm_verdict,
        {"key": kvm_key(ctx), "booted": booted, "reason": reason, "time": time.time()},
    )


def pvm_serves_kvm(
    modules: Path = Path("/sys/module"), cmdline: Path = Path("/proc/cmdline")
) -> str | None:
    """Why the lab's KVM guest cannot boot when PVM serves ``/dev/kvm``, else None.

    PVM (pagetable-based virtual machine, the ``kvm_pvm`` module) gives a guest that has
    no hardware virtualization (no vmx, no svm) a ``/dev/kvm`` of its own; it runs only
    guest kernels built for PVM, and the lab's guest boots Debian's kernel, which stops
    at "Booting from ROM...". With ``kvm_intel`` or ``kvm_amd`` loaded, they serve it."""
    if not (modules / "kvm_pvm").exists():
        return None
    if any((modules / name).exists() for name in ("kvm_intel", "kvm_amd")):
        return None
    try:
        nested = "nested_pvm=1" in cmdline.read_text(errors="replace").split()
    except OSError:
        nested = False
    said = ", nested_pvm=1 on the kernel command line" if nested else ""
    return (
        f"this machine's /dev/kvm is served by PVM (module kvm_pvm loaded{said}; no "
        "kvm_intel or kvm_amd): PVM runs only guest kernels built for it, and the lab's "
        "guest boots Debian's kernel"
    )


def start_kvm(ctx: LabContext) -> Endpoint:
    """QEMU with ``-accel kvm``: a bounded try (the machine's /dev/kvm may not boot it)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise LeftOut("/dev/kvm is missing or not usable: no nested hardware virtualization")
    if reason := pvm_serves_kvm():
        raise LeftOut(reason)
    if reason := cached_kvm_failure(ctx):
        raise LeftOut(reason)
    port = free_port()
    ctx.check()
    disk = guest_disk(ctx.image, ctx.paths.run / "kvm.ext4")
    pid = spawn_recorded(ctx, "kvm", _qemu_argv(ctx, "kvm", "kvm", port, disk), "QEMU KVM")
    place_emulator(ctx, "kvm", pid)
    return Endpoint("127.0.0.1", port, pid)


def place_emulator(ctx: LabContext, host: str, pid: int) -> None:
    """QEMU's vCPU thread to the measuring CPU (its other threads stay on the helpers),
    and what became of it in the host's record."""
    placement = ctx.placement
    described = placement.host_description("emulator")
    if placement.pinned and pin_vcpus(pid, placement, stop=ctx.cancel) == 0:
        described = "vCPU thread not found in time: QEMU's threads all on the helper CPUs"
    ctx.state.update(host, placement=described)
