"""The virtualization probe: read what a host shows about where it runs.

:func:`collect_evidence` gathers raw facts through the host's connection
(the harness's ``probe`` command for CPUID, ``/proc``, ``/sys``,
``systemd-detect-virt``, container marker files) into an immutable
:class:`Evidence`. :func:`runners.classify.classify`, a pure function,
turns that into layers; :func:`probe_document` is the ``<host>.probe.json``
file of a run.

Format history of the probe document (``format_version``):

1. first version: facts, layers, virt_class, disagreements, evidence; then,
   as keys a reader takes as unknown when absent or null (older documents
   have none): ``seccomp`` (``mode``, ``filters``), ``capabilities``
   (``effective``, ``names``), ``cgroup_limits`` (``memory_max_bytes``,
   ``cpu_quota``, ``pids_max``) and ``runtime`` (``engine``,
   ``oci_runtime``, ``platform``) of :mod:`runners.evidence` and
   :class:`runners.classify.Runtime`.

Whatever the host shows is data: each piece of evidence is cut (a line to
:data:`MAX_EVIDENCE_LINE` or :data:`MAX_MOUNT_LINE` characters, a file to
:data:`MAX_EVIDENCE_TEXT`)
and made printable before anything looks at it; a number that is not a plain
integer in range (the steal column of /proc/stat) is left out (None), and
whatever ``ringbench-bench probe`` printed out of format is recorded as why
CPUID is missing (``harness_error``), never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ringbench.errors import CommandError, ProtocolError
from runners.classify import Classification, Layer, Runtime, classify, compare_declared
from runners.evidence import STATUS_FIELDS, Evidence, capabilities, cgroup_limits, seccomp_state
from runners.hostfacts import (
    FACT_PATHS,
    READ_TIMEOUT_S,
    HostReader,
    Metadata,
    collect_host_metadata,
    first_line,
)
from runners.inventory import Host
from runners.transport import Connection
from suites.protocol import excerpt, parse_probe_output, parse_uint

__all__ = [
    "PROBE_FORMAT",
    "Classification",
    "Evidence",
    "Layer",
    "ProbedHost",
    "Runtime",
    "classify",
    "collect_evidence",
    "compare_declared",
    "probe_document",
    "probe_host",
]

PROBE_FORMAT = 1
PROBE_TIMEOUT_S = 30.0
COMMAND_NOT_FOUND = 127  # the shell's exit code, as a remote host reports a missing command
MAX_EVIDENCE_LINE = 256  # a one-line fact (/proc/1/comm, a DMI string)
MAX_MOUNT_LINE = 1024  # the mountinfo line of /
MAX_EVIDENCE_TEXT = 16 * 1024  # a file kept whole (the first cpuinfo block, /proc/1/cgroup)
MAX_REASON = 200
MAX_DMESG = 8192  # characters of the first lines of dmesg
MAX_CGROUP_LINES = 32  # lines of /proc/self/cgroup whose limit files are read
CGROUP_FS = "/sys/fs/cgroup"
# The limit files of a cgroup: v2's, then v1's by controller.
V2_LIMITS = ("memory.max", "cpu.max", "pids.max")
V1_LIMITS = {
    "memory": ("memory.limit_in_bytes",),
    "cpu": ("cpu.cfs_quota_us", "cpu.cfs_period_us"),
    "pids": ("pids.max",),
}
# Those of the cgroup mounted at /sys/fs/cgroup itself: a container's own (a cgroup
# namespace, or v1 hierarchies bind-mounted from the container's cgroup).
ROOT_LIMITS = (
    *(f"{CGROUP_FS}/{name}" for name in V2_LIMITS),
    *(f"{CGROUP_FS}/{c}/{name}" for c, names in V1_LIMITS.items() for name in names),
)
_CGROUP_PATH = re.compile(r"/[A-Za-z0-9_.:@=+,/-]{1,400}")


def _line(text: str | None, limit: int = MAX_EVIDENCE_LINE) -> str | None:
    """The first line of ``text``, printable and cut to ``limit``; None when there is none."""
    line = first_line(text)
    return None if line is None else excerpt(line, limit)


def _text(text: str | None) -> str | None:
    """``text`` with its lines, printable, cut to :data:`MAX_EVIDENCE_TEXT`."""
    return None if text is None else excerpt(text, MAX_EVIDENCE_TEXT, keep="\n\t")


def _harness_cpuid(
    conn: Connection, harness: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``cpuid`` object of ``HARNESS probe``, or None and why not."""
    if harness is None:
        return None, "no harness binary on this host"
    try:
        result = conn.run([harness, "probe"], timeout_s=PROBE_TIMEOUT_S, check=False)
    except (CommandError, OSError, UnicodeDecodeError) as exc:
        return None, f"'{harness} probe' failed: {excerpt(str(exc), MAX_REASON)}"
    if not result.ok:
        tail = _line(result.stderr, MAX_REASON) or "no output"
        return None, f"'{harness} probe' exited {result.exited}: {tail}"
    try:
        return parse_probe_output(result.stdout), None
    except ProtocolError as exc:
        return None, f"'{harness} probe': {exc}"


# Both questions to systemd-detect-virt in one round trip (a fixed script, no input).
# It exits 1 when it prints "none"; 127 from the shell means it is not installed.
_DETECT_VIRT = (
    'for f in --vm --container; do out=$(systemd-detect-virt "$f" 2>/dev/null); '
    'printf "%s %s\\n" "$?" "$out"; done'
)


def parse_detect_virt(output: str) -> tuple[str | None, str | None]:
    """``(vm, container)`` answers from :data:`_DETECT_VIRT`'s output; None where missing."""
    answers: list[str | None] = []
    for line in output.split("\n")[:2]:
        code, _, text = line.partition(" ")
        missing = code == str(COMMAND_NOT_FOUND) or not text.strip()
        answers.append(None if missing else excerpt(text.strip(), 64))
    answers += [None] * (2 - len(answers))
    return answers[0], answers[1]


def _detect_virt(conn: Connection) -> tuple[str | None, str | None]:
    try:
        result = conn.run(["sh", "-c", _DETECT_VIRT], timeout_s=READ_TIMEOUT_S, check=False)
    except (CommandError, OSError, UnicodeDecodeError):
        return None, None
    return parse_detect_virt(result.stdout)


def _root_mount(mountinfo: str | None) -> str | None:
    """The last mountinfo line whose mount point (field 5) is ``/``; ``""`` when none is."""
    if mountinfo is None:
        return None
    lines = [line for line in mountinfo.split("\n") if line.split()[4:5] == ["/"]]
    return excerpt(lines[-1], MAX_MOUNT_LINE) if lines else ""


def _steal(stat: str | None) -> int | None:
    """The ``steal`` column of the aggregate ``cpu`` line of /proc/stat; None when it is
    not there or not a plain integer within int64."""
    line = first_line(stat)
    if line is None or not line.startswith("cpu "):
        return None
    columns = line.split()
    try:
        return parse_uint(columns[8], "steal") if len(columns) > 8 else None
    except ProtocolError:
        return None


def _status(text: str | None) -> str | None:
    """The :data:`~runners.evidence.STATUS_FIELDS` lines of /proc/self/status, each cut;
    ``""`` when it has none of them."""
    if text is None:
        return None
    lines = [x for x in text.split("\n") if x.partition(":")[0] in STATUS_FIELDS]
    kept = [excerpt(x, MAX_EVIDENCE_LINE, keep="\t") for x in lines[: 2 * len(STATUS_FIELDS)]]
    return "".join(f"{x}\n" for x in kept)


def cgroup_limit_paths(self_cgroup: str | None) -> list[str]:
    """The limit files of the cgroup /proc/self/cgroup names (v2 ``0::PATH``, v1
    ``N:CONTROLLERS:PATH``), most specific first, then those at /sys/fs/cgroup's root. A
    path that is not a plain one (``..``, odd characters, too long) is not followed."""
    own: list[str] = []
    for entry in (self_cgroup or "").split("\n")[:MAX_CGROUP_LINES]:
        parts = entry.strip().split(":", 2)
        if len(parts) != 3 or parts[2] == "/" or not _CGROUP_PATH.fullmatch(parts[2]):
            continue
        _, controllers, path = parts
        if {"..", "."} & set(path.split("/")):
            continue
        if controllers == "":
            own.extend(f"{CGROUP_FS}{path}/{name}" for name in V2_LIMITS)
            continue
        for controller in controllers.split(","):
            names = V1_LIMITS.get(controller, ())
            own.extend(f"{CGROUP_FS}/{controller}{path}/{name}" for name in names)
    return list(dict.fromkeys([*own, *ROOT_LIMITS]))


def _cgroup_limits(reader: HostReader, paths: list[str]) -> str | None:
    """``FILE VALUE`` per limit file that could be read, in the order of ``paths``; None
    when none could."""
    reader.prefetch(paths)
    lines = []
    for path in paths:
        value = _line(reader.read(path), 64)
        if value is not None:
            lines.append(f"{path} {value}\n")
    return _text("".join(lines)) if lines else None


# Whether /proc/sys can be listed (gVisor refuses), then the first lines of the kernel's
# log (gVisor's boot lines): a fixed script, no input. dmesg prints nothing where reading
# the log needs a capability the shell lacks (dmesg_restrict).
_KERNEL_MARKS = (
    "out=$(ls -- /proc/sys/ 2>&1 >/dev/null); rc=$?; "
    'printf "%s %s\\n" "$rc" "$(printf "%s" "$out" | head -n 1)"; '
    f"dmesg 2>/dev/null | head -n 20 | head -c {MAX_DMESG}"
)


def parse_kernel_marks(output: str) -> tuple[str | None, str | None]:
    """``(proc_sys_error, dmesg)`` from :data:`_KERNEL_MARKS`'s output: ``""`` when
    /proc/sys was listed, what ls said when it was not, None when unknown; the dmesg lines,
    None when there were none."""
    first, _, rest = output.partition("\n")
    code, _, said = first.partition(" ")
    error: str | None = None
    if code == "0":
        error = ""
    elif code.isascii() and code.isdigit() and code != str(COMMAND_NOT_FOUND):
        error = _line(said, MAX_REASON) or f"ls exited {excerpt(code, 8)}"
    dmesg = "\n".join(excerpt(x, MAX_EVIDENCE_LINE) for x in rest.split("\n")[:20] if x.strip())
    return error, (_text(dmesg[:MAX_DMESG] + "\n") if dmesg else None)


def _kernel_marks(conn: Connection) -> tuple[str | None, str | None]:
    try:
        result = conn.run(["sh", "-c", _KERNEL_MARKS], timeout_s=READ_TIMEOUT_S, check=False)
    except (CommandError, OSError, UnicodeDecodeError):
        return None, None
    return parse_kernel_marks(result.stdout)


EVIDENCE_PATHS = (
    "/proc/cpuinfo",
    "/sys/hypervisor/type",
    "/sys/hypervisor/guest_type",
    "/sys/class/dmi/id/sys_vendor",
    "/sys/class/dmi/id/product_name",
    "/sys/class/dmi/id/bios_vendor",
    "/.dockerenv",
    "/run/.containerenv",
    "/proc/1/cgroup",
    "/proc/1/comm",
    "/proc/1/sched",
    "/proc/2/comm",
    "/proc/self/mountinfo",
    "/proc/stat",
    "/proc/self/status",
    "/proc/self/cgroup",
    "/proc/version",
    *ROOT_LIMITS,
)


def collect_evidence(
    conn: Connection, harness: str | None, reader: HostReader | None = None
) -> Evidence:
    """Read the probe's evidence from the host behind ``conn``.

    ``harness`` is the path of ``ringbench-bench`` on that host, or None
    when it has none yet (then CPUID is missing and ``harness_error`` says
    so). Nothing here raises for a file or command the host lacks.
    """
    reader = reader or HostReader(conn)
    reader.prefetch(EVIDENCE_PATHS)
    cpuid, harness_error = _harness_cpuid(conn, harness)
    detect_vm, detect_container = _detect_virt(conn)
    proc_sys_error, dmesg = _kernel_marks(conn)
    cpuinfo = reader.read("/proc/cpuinfo")
    self_cgroup = reader.read("/proc/self/cgroup")
    containerenv = reader.exists("/run/.containerenv")
    dmi = "/sys/class/dmi/id"
    return Evidence(
        cpuid=cpuid,
        harness_error=harness_error,
        cpuinfo=_text(cpuinfo.split("\n\n")[0].strip() + "\n") if cpuinfo else None,
        hypervisor_type=_line(reader.read("/sys/hypervisor/type")),
        hypervisor_guest_type=_line(reader.read("/sys/hypervisor/guest_type")),
        dmi_sys_vendor=_line(reader.read(f"{dmi}/sys_vendor")),
        dmi_product_name=_line(reader.read(f"{dmi}/product_name")),
        dmi_bios_vendor=_line(reader.read(f"{dmi}/bios_vendor")),
        detect_virt_vm=detect_vm,
        detect_virt_container=detect_container,
        dockerenv=reader.exists("/.dockerenv"),
        containerenv=containerenv,
        containerenv_text=_text(reader.read("/run/.containerenv")) if containerenv else None,
        pid1_cgroup=_text(reader.read("/proc/1/cgroup")),
        pid1_comm=_line(reader.read("/proc/1/comm")),
        pid1_sched=_line(reader.read("/proc/1/sched")),
        pid2_comm=_line(reader.read("/proc/2/comm")),
        root_mount=_root_mount(reader.read("/proc/self/mountinfo")),
        steal_ticks=_steal(reader.read("/proc/stat")),
        self_status=_status(reader.read("/proc/self/status")),
        self_cgroup=_text(self_cgroup),
        cgroup_limits=_cgroup_limits(reader, cgroup_limit_paths(self_cgroup)),
        proc_version=_line(reader.read("/proc/version"), MAX_MOUNT_LINE),
        dmesg=dmesg,
        proc_sys_error=proc_sys_error,
    )


def probe_document(facts: dict[str, Any], ev: Evidence, cls: Classification) -> dict[str, Any]:
    """The per-host probe JSON document (``<host>.probe.json``)."""
    return {
        "format_version": PROBE_FORMAT,
        "facts": facts,
        "virt_class": cls.virt_class,
        "layers": [layer.to_json() for layer in cls.layers],
        "disagreements": list(cls.disagreements),
        "evidence": ev.to_json(),
        "seccomp": seccomp_state(ev),
        "capabilities": capabilities(ev),
        "cgroup_limits": cgroup_limits(ev),
        "runtime": cls.runtime.to_json() if cls.runtime else None,
    }


@dataclass(frozen=True, slots=True)
class ProbedHost:
    """What the probe found on a host, and how it compares with the inventory."""

    facts: Metadata
    classification: Classification
    warning: str | None
    document: dict[str, Any]


def probe_host(conn: Connection, host: Host, harness: str | None) -> ProbedHost:
    """Facts, virtualization layers with their evidence, and the declared class checked."""
    reader = HostReader(conn)
    reader.prefetch((*FACT_PATHS, *EVIDENCE_PATHS))
    facts = collect_host_metadata(conn, reader)
    evidence = collect_evidence(conn, harness, reader)
    found = classify(evidence)
    warning = compare_declared(found, host.virt_class)
    document = probe_document(dict(facts), evidence, found)
    document.update(
        {"virt_class_declared": host.virt_class, "hypervisor": host.hypervisor, "warning": warning}
    )
    return ProbedHost(facts, found, warning, document)
