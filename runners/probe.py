"""The virtualization probe: read what a host shows about where it runs.

:func:`collect_evidence` gathers raw facts through the host's connection
(the harness's ``probe`` command for CPUID, ``/proc``, ``/sys``,
``systemd-detect-virt``, container marker files) into an immutable
:class:`Evidence`. :func:`runners.classify.classify`, a pure function,
turns that into layers; :func:`probe_document` is the ``<host>.probe.json``
file of a run.

Format history of the probe document (``format_version``):

1. first version: facts, layers, virt_class, disagreements, evidence.

Whatever the host shows is data: each piece of evidence is cut (a line to
:data:`MAX_EVIDENCE_LINE` or :data:`MAX_MOUNT_LINE` characters, a file to
:data:`MAX_EVIDENCE_TEXT`)
and made printable before anything looks at it; a number that is not a plain
integer in range (the steal column of /proc/stat) is left out (None), and
whatever ``ringbench-bench probe`` printed out of format is recorded as why
CPUID is missing (``harness_error``), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringbench.errors import CommandError, ProtocolError
from runners.classify import Classification, Layer, classify, compare_declared
from runners.evidence import Evidence
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
    cpuinfo = reader.read("/proc/cpuinfo")
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
        containerenv=reader.exists("/run/.containerenv"),
        pid1_cgroup=_text(reader.read("/proc/1/cgroup")),
        pid1_comm=_line(reader.read("/proc/1/comm")),
        pid1_sched=_line(reader.read("/proc/1/sched")),
        pid2_comm=_line(reader.read("/proc/2/comm")),
        root_mount=_root_mount(reader.read("/proc/self/mountinfo")),
        steal_ticks=_steal(reader.read("/proc/stat")),
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
