"""What starting a lab host needs and gives: its context, its endpoint, a way to say no."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ringbench.errors import RingbenchError
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


@dataclass(frozen=True, slots=True)
class LabContext:
    """What every host's start needs."""

    paths: LabPaths
    state: StateFile
    image: Image
    placement: Placement
    disks: str = "cached"  # runners.lab.placement.DISKS

    @property
    def tag(self) -> str:
        return self.state.state.tag


class LeftOut(RingbenchError):
    """The host cannot run here; the reason is shown by ``lab status`` and in the inventory."""


def spawn_recorded(ctx: LabContext, host: str, argv: list[str], what: str) -> int:
    pid = spawn(argv, tag=ctx.tag, log=ctx.paths.log(host))
    ctx.state.add_process(host, pid, what)
    return pid


def require_root() -> None:
    if os.geteuid() != 0:
        raise LeftOut("needs root (network namespaces, veth pairs, chroot): run lab up as root")
