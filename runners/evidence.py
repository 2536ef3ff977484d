"""What the probe read from a host, raw: the input of :func:`runners.classify.classify`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the probe read from one host, raw; None where it could not be read.

    ``cpuid`` is the ``cpuid`` object of ``ringbench-bench probe``
    (PROTOCOL.md), and ``harness_error`` says why it is missing. ``cpuinfo``
    is the first processor's block of /proc/cpuinfo. ``detect_virt_*`` are
    what ``systemd-detect-virt --vm`` / ``--container`` print (``"none"``
    when they detect nothing, None when systemd is not installed).
    ``root_mount`` is the /proc/self/mountinfo line mounted at ``/``, ``""``
    when no such line is visible (a chroot), None when mountinfo could not
    be read. ``pid2_comm`` is read because in the root PID namespace PID 2 is
    always ``kthreadd``; inside a PID namespace it is something else or
    nothing, whatever the kernel version (/proc/PID/sched shows namespaced
    PIDs since Linux 4.14, so ``pid1_sched`` helps on old kernels only).
    """

    cpuid: dict[str, Any] | None = None
    harness_error: str | None = None
    cpuinfo: str | None = None
    hypervisor_type: str | None = None
    hypervisor_guest_type: str | None = None
    dmi_sys_vendor: str | None = None
    dmi_product_name: str | None = None
    dmi_bios_vendor: str | None = None
    detect_virt_vm: str | None = None
    detect_virt_container: str | None = None
    dockerenv: bool | None = None
    containerenv: bool | None = None
    pid1_cgroup: str | None = None
    pid1_comm: str | None = None
    pid1_sched: str | None = None
    pid2_comm: str | None = None
    root_mount: str | None = None
    steal_ticks: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """Evidence from :meth:`to_json` output, for example a captured fixture; checks types."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"evidence: unknown keys {unknown}")
        for name, value in data.items():
            kind = {"cpuid": dict, "dockerenv": bool, "containerenv": bool, "steal_ticks": int}.get(
                name, str
            )
            if value is not None and (type(value) is not kind):
                raise ValueError(f"evidence: {name} must be {kind.__name__} or null, not {value!r}")
        return cls(**data)
