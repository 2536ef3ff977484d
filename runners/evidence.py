"""What the probe read from a host, raw: the input of :func:`runners.classify.classify`.

:class:`Evidence` is the raw text; :func:`seccomp_state`, :func:`capabilities`
and :func:`cgroup_limits` decode its confinement lines into the probe
document's ``seccomp``, ``capabilities`` and ``cgroup_limits``, and
:func:`confinement` states them as evidence lines. They are pure and never
raise: a line that is not what the kernel prints counts as unknown (None),
whatever the host sent.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from ringbench.errors import ProtocolError
from suites.protocol import parse_uint

# The capabilities of Linux by bit number (include/uapi/linux/capability.h, CAP_LAST_CAP
# 40 since Linux 5.9), lower-case without CAP_.
CAPABILITIES = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
)
# The lines of /proc/self/status the probe keeps.
STATUS_FIELDS = ("Seccomp", "Seccomp_filters", "CapEff", "NoNewPrivs")
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}
MAX_FILTERS = 2**31 - 1  # the kernel counts them in an atomic_t
# memory.limit_in_bytes of an unlimited cgroup v1 is PAGE_COUNTER_MAX pages: ~2**63.
V1_NO_LIMIT = 2**62
_HEX_MASK = re.compile(r"[0-9a-fA-F]{1,16}")
_QUOTA = re.compile(r"(max|[0-9]{1,20}) ([0-9]{1,20})")


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

    The probe's own shell (the harness runs under the same): ``self_status``
    holds the :data:`STATUS_FIELDS` lines of its /proc/self/status,
    ``self_cgroup`` its /proc/self/cgroup, ``cgroup_limits`` one ``FILE
    VALUE`` line per limit file of its cgroup that could be read (the most
    specific first). ``containerenv_text`` is what /run/.containerenv holds
    (``""`` when empty). ``proc_version`` is /proc/version's line, ``dmesg``
    the first lines of ``dmesg`` (None when it printed nothing: no right to
    read the kernel's log), ``proc_sys_error`` what ``ls /proc/sys/`` said
    on stderr when it failed (``""`` when it listed the directory).
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
    containerenv_text: str | None = None
    pid1_cgroup: str | None = None
    pid1_comm: str | None = None
    pid1_sched: str | None = None
    pid2_comm: str | None = None
    root_mount: str | None = None
    steal_ticks: int | None = None
    self_status: str | None = None
    self_cgroup: str | None = None
    cgroup_limits: str | None = None
    proc_version: str | None = None
    dmesg: str | None = None
    proc_sys_error: str | None = None

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


def status_field(ev: Evidence, name: str) -> str | None:
    """The value of the ``name:`` line of ``ev.self_status``, stripped; None when absent."""
    for line in (ev.self_status or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    return None


def _uint(text: str | None, hi: int) -> int | None:
    if text is None:
        return None
    try:
        return parse_uint(text, "status", hi=hi)
    except ProtocolError:
        return None


def seccomp_state(ev: Evidence) -> dict[str, int | None] | None:
    """``{"mode": 0|1|2, "filters": N or None}`` from ``Seccomp`` and ``Seccomp_filters``
    (a line Linux prints since 5.9); None when the mode is not known."""
    mode = _uint(status_field(ev, "Seccomp"), 2)
    if mode is None:
        return None
    return {"mode": mode, "filters": _uint(status_field(ev, "Seccomp_filters"), MAX_FILTERS)}


def capability_names(mask: int) -> list[str]:
    """The names of the bits set in ``mask``, sorted; a bit Linux does not name is ``bitN``."""
    names = [
        CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"bit{bit}"
        for bit in range(64)
        if mask >> bit & 1
    ]
    return sorted(names)


def capabilities(ev: Evidence) -> dict[str, Any] | None:
    """``{"effective": 16 hex digits, "names": [...]}`` from ``CapEff``; None when unknown."""
    text = status_field(ev, "CapEff")
    if text is None or not _HEX_MASK.fullmatch(text):
        return None
    mask = int(text, 16)
    return {"effective": f"{mask:016x}", "names": capability_names(mask)}


def _limit_files(ev: Evidence) -> list[tuple[str, str]]:
    """``(path, value)`` of each ``FILE VALUE`` line of ``ev.cgroup_limits``, in order."""
    pairs = []
    for line in (ev.cgroup_limits or "").splitlines():
        path, _, value = line.strip().partition(" ")
        if path.startswith("/") and value:
            pairs.append((path, value.strip()))
    return pairs


def _bytes_or_none(name: str, value: str) -> tuple[bool, int | None]:
    """(understood, limit) of a memory or pids file; ``max`` and v1's ~2**63 are no limit."""
    if value == "max" and name != "memory.limit_in_bytes":
        return True, None
    number = _uint(value, 2**63 - 1)
    if number is None:
        return False, None
    if name == "memory.limit_in_bytes" and number >= V1_NO_LIMIT:
        return True, None
    return True, number


def _cpu_quota(path: str, value: str, files: dict[str, str]) -> str | None:
    """``max`` or ``QUOTA/PERIOD`` from cpu.max or v1's quota file and its period beside it."""
    if path.endswith("/cpu.max"):
        match = _QUOTA.fullmatch(" ".join(value.split()))
        if match is None:
            return None
        quota, period = match.groups()
        return "max" if quota == "max" else f"{int(quota)}/{int(period)}"
    if value == "-1":
        return "max"
    quota_us = _uint(value, 2**63 - 1)
    period = _uint(files.get(path.rsplit("/", 1)[0] + "/cpu.cfs_period_us"), 2**63 - 1)
    return None if quota_us is None or period is None else f"{quota_us}/{period}"


def cgroup_limits(ev: Evidence) -> dict[str, Any] | None:
    """``memory_max_bytes``, ``cpu_quota`` and ``pids_max`` of the probe's cgroup, from the
    first file of each that says something sensible (v2's memory.max, cpu.max, pids.max or
    v1's memory.limit_in_bytes, cpu.cfs_quota_us with cpu.cfs_period_us, pids.max). A limit
    is None when there is none or no file says; the whole is None when no file was read."""
    pairs = _limit_files(ev)
    if not pairs:
        return None
    files = dict(reversed(pairs))  # the first line for a path wins
    out: dict[str, Any] = {"memory_max_bytes": None, "cpu_quota": None, "pids_max": None}
    done: set[str] = set()
    for path, value in pairs:
        name = path.rsplit("/", 1)[-1]
        key = {
            "memory.max": "memory_max_bytes",
            "memory.limit_in_bytes": "memory_max_bytes",
            "pids.max": "pids_max",
            "cpu.max": "cpu_quota",
            "cpu.cfs_quota_us": "cpu_quota",
        }.get(name)
        if key is None or key in done:
            continue
        if key == "cpu_quota":
            quota = _cpu_quota(path, value, files)
            if quota is not None:
                out[key] = quota
                done.add(key)
            continue
        understood, limit = _bytes_or_none(name, value)
        if understood:
            out[key] = limit
            done.add(key)
    return out


def _seccomp_line(ev: Evidence) -> str | None:
    state = seccomp_state(ev)
    if state is None:
        return None
    mode, filters = state["mode"], state["filters"]
    if mode == 2 and filters is not None:
        return f"seccomp filter mode with {filters} filter{'' if filters == 1 else 's'}"
    if mode == 2:
        return "seccomp filter mode (no Seccomp_filters line: a kernel before 5.9)"
    return "seccomp strict mode" if mode == 1 else "seccomp off (mode 0): no filter"


def confinement(ev: Evidence) -> list[str]:
    """Evidence lines of what confines the probe's shell: its seccomp mode and filters, its
    effective capabilities and no_new_privs (/proc/self/status), its cgroup's limits."""
    status = [line] if (line := _seccomp_line(ev)) is not None else []
    caps = capabilities(ev)
    if caps is not None:
        names, mask = caps["names"], caps["effective"]
        missing = sorted(set(CAPABILITIES) - set(names))
        counted = f"effective capabilities {mask}: {len(names)} of {len(CAPABILITIES)}"
        if not missing:
            status.append(f"effective capabilities {mask}: all {len(names)}")
        elif len(missing) < len(names):
            status.append(f"{counted}, all but {', '.join(missing)}")
        else:
            status.append(f"{counted} ({', '.join(names) or 'none'})")
    if status_field(ev, "NoNewPrivs") == "1":
        status.append("no_new_privs set")
    lines = [f"{line} (/proc/self/status)" for line in status]
    limits = cgroup_limits(ev)
    if limits is not None:
        set_ = [f"{k} {v}" for k, v in limits.items() if v is not None and v != "max"]
        lines.append(f"cgroup limits: {', '.join(set_)}" if set_ else "no cgroup limits")
    return lines
