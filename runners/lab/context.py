"""What starting a lab host needs and gives: its context, its endpoint, a way to say no."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ringbench.errors import RingbenchError
from runners.lab import net
from runners.lab.instance import Instance
from runners.lab.paths import LabPaths
from runners.lab.placement import Placement
from runners.lab.procs import spawn
from runners.lab.rootfs import Image
from runners.lab.state import StateFile


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int
    pid: int


class Cancelled(Exception):
    """``lab up`` was interrupted: a host's start or boot stops at its next step."""


@dataclass(frozen=True, slots=True)
class LabContext:
    """What every host's start needs."""

    paths: LabPaths
    state: StateFile
    image: Image
    placement: Placement
    disks: str = "cached"  # runners.lab.placement.DISKS
    gvisor_platform: str = "ptrace"  # runners.lab.oci.GVISOR_PLATFORMS
    cancel: threading.Event = field(default_factory=threading.Event)
    starting: set[str] = field(default_factory=set)  # hosts in a step that creates something

    @property
    def tag(self) -> str:
        return self.state.state.tag

    @property
    def instance(self) -> Instance:
        return self.paths.instance

    def check(self) -> None:
        """Raise :class:`Cancelled` once ``lab up`` is interrupted (before each step that
        creates something, so that nothing new appears while the lab is removed)."""
        if self.cancel.is_set():
            raise Cancelled("interrupted")


class LeftOut(RingbenchError):
    """The host cannot run here; the reason is shown by ``lab status`` and in the inventory."""


def spawn_recorded(ctx: LabContext, host: str, argv: list[str], what: str) -> int:
    ctx.check()
    pid = spawn(argv, tag=ctx.tag, log=ctx.paths.log(host))
    ctx.state.add_process(host, pid, what)
    return pid


def lab_namespace(ctx: LabContext, role: str, index: int, *also: str) -> net.Link:
    """A network namespace of the lab's own, joined to the host by a veth pair (its
    ``index``-th /30), each recorded before it is made; ``also``: other subnets the host
    will need, checked free with it."""
    link = net.link_for(ctx.instance, role, index)
    for subnet in (link.host_ip, *also):
        net.check_free(subnet, ctx.instance)
    ctx.check()
    ctx.state.add_netns(link.netns)
    net.create_netns(link.netns)
    ctx.check()
    ctx.state.add_link(link.host_if)
    net.create_veth(link)
    return link


def require_root() -> None:
    if os.geteuid() != 0:
        raise LeftOut("needs root (network namespaces, veth pairs, chroot): run lab up as root")
