"""From probe evidence to virtualization layers: a pure function, tested on captured evidence.

:func:`classify` turns an :class:`~runners.evidence.Evidence` into the layers a
host runs in, outermost first, with the evidence for each, and every place
where two sources disagree. Direct evidence wins: CPUID (what the CPU, or the
emulator, answers), ``/sys/hypervisor`` and ``/proc/cpuinfo`` (what the
kernel says), and the host's own view of PID 1, its kernel threads and its
cgroups. DMI strings, ``systemd-detect-virt``, marker files such as
``/.dockerenv`` and steal time support or contradict them; a contradiction is
recorded in ``disagreements``, never silently resolved.

An application kernel (gVisor's Sentry) is a layer of its own: it serves the
workload's system calls itself, on the kernel of whatever machine runs it,
whose layers CPUID still shows (user code runs on the CPU). It is called
gVisor only when two of its marks agree (its boot lines in ``dmesg``, its
fixed kernel identity in /proc/version, a 9p root served over ``trans=fd``,
a /proc/sys it refuses to list, a CPU model and stepping it calls
``unknown``); one mark alone is a disagreement. A container's engine
(:class:`Runtime`) comes from its marker files and cgroup paths; its
confinement (seccomp, capabilities, cgroup limits) is stated in the
evidence of the innermost layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runners.evidence import Evidence, confinement
from runners.hostfacts import first_line

VIRT_CLASSES = (
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
    "application-kernel",
)
BARE_METAL = "bare-metal"
UML = "User-Mode Linux"
NAMESPACES = "namespaces (unshare/chroot)"
HW = "hardware-assisted"
APP_KERNEL = "application-kernel"
GVISOR = "gVisor"

# CPUID leaf 0x40000000 signatures (EBX ECX EDX, trailing NULs/spaces trimmed).
CPUID_VENDORS: dict[str, tuple[str, str]] = {
    "TCGTCGTCGTCG": ("binary-translation", "QEMU TCG"),
    "KVMKVMKVM": (HW, "KVM"),
    "Microsoft Hv": (HW, "Hyper-V"),
    "VMwareVMware": (HW, "VMware"),
    "XenVMMXenVMM": (HW, "Xen HVM"),
    "bhyve bhyve": (HW, "bhyve"),
    "ACRNACRNACRN": (HW, "ACRN"),
    "VBoxVBoxVBox": (HW, "VirtualBox"),
    "QNXQVMBSQG": (HW, "QNX hypervisor"),
    "Linux KVM Hv": (HW, "KVM"),  # KVM showing its Hyper-V enlightenments first
    " prl hyperv": (HW, "Parallels"),
    "SRESRESRESRE": (HW, "SRE"),
    "Apple VZ": (HW, "Apple Virtualization"),
}
# systemd-detect-virt --vm identifiers (systemd's virt.c names).
DETECT_VM: dict[str, tuple[str, str]] = {
    "kvm": (HW, "KVM"),
    "amazon": (HW, "KVM"),
    "google": (HW, "KVM"),
    "qemu": ("binary-translation", "QEMU TCG"),
    "microsoft": (HW, "Hyper-V"),
    "vmware": (HW, "VMware"),
    "xen": (HW, "Xen HVM"),
    "bhyve": (HW, "bhyve"),
    "acrn": (HW, "ACRN"),
    "oracle": (HW, "VirtualBox"),
    "uml": ("paravirtualized", UML),
}
# systemd-detect-virt --container identifiers.
DETECT_CONTAINER = {
    "docker": "Docker",
    "podman": "Podman",
    "lxc": "LXC",
    "lxc-libvirt": "LXC",
    "systemd-nspawn": "systemd-nspawn",
    "openvz": "OpenVZ",
    "rkt": "rkt",
    "wsl": "WSL",
}
# Substrings of DMI strings that name a virtual machine, and the layers they fit.
DMI_NAMES: tuple[tuple[str, frozenset[str]], ...] = (
    ("qemu", frozenset({"KVM", "QEMU TCG"})),
    ("kvm", frozenset({"KVM"})),
    ("amazon ec2", frozenset({"KVM", "Xen HVM", "Xen PV"})),
    ("google", frozenset({"KVM"})),
    ("openstack", frozenset({"KVM", "QEMU TCG"})),
    ("microsoft corporation", frozenset({"Hyper-V"})),
    ("virtual machine", frozenset({"Hyper-V"})),
    ("vmware", frozenset({"VMware"})),
    ("innotek", frozenset({"VirtualBox"})),
    ("virtualbox", frozenset({"VirtualBox"})),
    ("xen", frozenset({"Xen HVM", "Xen PVH", "Xen PV"})),
    ("bhyve", frozenset({"bhyve"})),
)
# cgroup paths of container managers, most specific first: a container's own cgroup
# (its 64-hex id), then a manager's fragment alone.
CGROUP_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), technology)
    for pattern, technology in (
        (r"libpod-(?:conmon-)?[0-9a-f]{64}|/libpod_parent/", "Podman"),
        (r"cri-containerd-[0-9a-f]{64}", "containerd"),
        (r"crio-(?:conmon-)?[0-9a-f]{64}", "CRI-O"),
        (r"docker-[0-9a-f]{64}\.scope|/docker/[0-9a-f]{64}", "Docker"),
        (r"/lxc\.payload[./]|/lxc/", "LXC"),
        (r"kubepods", "Kubernetes"),
        (r"libpod", "Podman"),
        (r"docker", "Docker"),
        (r"containerd", "containerd"),
        (r"crio", "CRI-O"),
        (r"lxc", "LXC"),
    )
)
# The engine's name in the probe document's ``runtime``, by the layer's technology.
ENGINES = {
    "Podman": "podman",
    "Buildah": "buildah",
    "Docker": "docker",
    "containerd": "containerd",
    "CRI-O": "cri-o",
    "Kubernetes": "kubernetes",
    "LXC": "lxc",
    "systemd-nspawn": "systemd-nspawn",
    "OpenVZ": "openvz",
    "rkt": "rkt",
    "WSL": "wsl",
}
# /run/.containerenv's engine="NAME-VERSION", by NAME.
CONTAINERENV_ENGINES = {"podman": "Podman", "buildah": "Buildah", "cri-o": "CRI-O"}
_CONTAINERENV = re.compile(r'^engine="([a-z][a-z-]{0,31})-([0-9][0-9A-Za-z.+~-]{0,31})"$', re.M)
# gVisor's kernel identity: uname's release and version are fixed in its Sentry.
GVISOR_VERSION = re.compile(r"Linux version (\S{1,64}) (#1 SMP Sun Jan 10 15:06:54 PST 2016)")
GVISOR_BOOT = "Starting gVisor..."
MAX_DMESG_LINES = 20
OS_INITS = frozenset({"systemd", "init", "launchd", "runit", "s6-svscan", "openrc-init", "upstart"})
CONTAINER_INITS = frozenset({"tini", "dumb-init", "catatonit", "docker-init", "podman-init"})
OVERLAY_FS = frozenset({"overlay", "fuse-overlayfs", "aufs"})


@dataclass(frozen=True, slots=True)
class Layer:
    """One environment the host runs in, and why the probe thinks so."""

    virt_class: str
    technology: str
    evidence: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.virt_class not in VIRT_CLASSES:
            raise ValueError(f"virt_class {self.virt_class!r} is not one of {VIRT_CLASSES}")
        if not self.evidence:
            raise ValueError(f"layer {self.technology!r} has no evidence")

    def to_json(self) -> dict[str, object]:
        return {
            "virt_class": self.virt_class,
            "technology": self.technology,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Runtime:
    """What runs a container or a sandbox: the engine (``podman``, ``docker``,
    ``gvisor`` when runsc runs alone ...), the OCI runtime where the evidence says which
    (``runsc`` for gVisor; runc or crun cannot be told apart from inside), and gVisor's
    platform (never seen from inside: the inventory declares it)."""

    engine: str
    oci_runtime: str | None = None
    platform: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"engine": self.engine, "oci_runtime": self.oci_runtime, "platform": self.platform}


@dataclass(frozen=True, slots=True)
class Classification:
    """The layers, outermost first; the class is the innermost layer's, or bare metal.
    ``runtime`` is the engine of the innermost container or sandbox, when one is known."""

    layers: tuple[Layer, ...]
    disagreements: tuple[str, ...] = ()
    runtime: Runtime | None = None
    virt_class: str = field(init=False)

    def __post_init__(self) -> None:
        innermost = self.layers[-1].virt_class if self.layers else BARE_METAL
        object.__setattr__(self, "virt_class", innermost)

    def technologies(self) -> str:
        """``KVM > User-Mode Linux``, or ``bare metal``."""
        return " > ".join(layer.technology for layer in self.layers) or "bare metal"

    def to_json(self) -> dict[str, object]:
        return {
            "virt_class": self.virt_class,
            "layers": [layer.to_json() for layer in self.layers],
            "disagreements": list(self.disagreements),
            "runtime": self.runtime.to_json() if self.runtime else None,
        }


class _Draft:
    """A layer being assembled: its evidence grows as each source is checked."""

    def __init__(self, virt_class: str, technology: str, *evidence: str) -> None:
        self.virt_class = virt_class
        self.technology = technology
        self.evidence = list(evidence)

    def fits(self, technology: str) -> bool:
        """Whether another source's name for a layer is this one (any Xen is Xen)."""
        return technology == self.technology or (
            technology.startswith("Xen") and self.technology.startswith("Xen")
        )


def _cpuinfo(ev: Evidence, name: str) -> str | None:
    match = re.search(rf"^{name}\s*:\s*(.*)$", ev.cpuinfo or "", re.MULTILINE)
    return match.group(1).strip() if match else None


def _hypervisor(ev: Evidence, notes: list[str]) -> _Draft | None:
    """The hypervisor CPUID shows; without CPUID, what systemd or the cpuinfo flag says."""
    cpuid = ev.cpuid or {}
    if cpuid.get("available") is True:
        if cpuid.get("hypervisor_bit") is not True:
            return None
        vendor = str(cpuid.get("hypervisor_vendor") or "")
        line = f"CPUID.1:ECX[31] hypervisor bit set; CPUID 0x40000000 vendor {vendor!r}"
        if vendor in CPUID_VENDORS:
            return _Draft(*CPUID_VENDORS[vendor], line)
        name = f"unknown hypervisor {vendor!r}" if vendor else "unknown hypervisor"
        return _Draft(HW, name, line)
    if ev.harness_error:  # on other architectures there is no CPUID to miss
        notes.append(f"no CPUID evidence: {ev.harness_error}")
    detected = first_line(ev.detect_virt_vm)
    if detected in DETECT_VM and detected != "uml":
        return _Draft(*DETECT_VM[detected], f"systemd-detect-virt --vm says {detected!r}")
    if "hypervisor" in (_cpuinfo(ev, "flags") or "").split():
        return _Draft(HW, "unknown hypervisor", "/proc/cpuinfo flag 'hypervisor'")
    return None


def _xen(
    ev: Evidence, outer: _Draft | None, notes: list[str]
) -> tuple[_Draft | None, _Draft | None]:
    """What /sys/hypervisor says: (the hypervisor layer, a Xen PV guest layer or None)."""
    if first_line(ev.hypervisor_type) != "xen":
        return outer, None
    guest = first_line(ev.hypervisor_guest_type) or "HVM"
    line = f"/sys/hypervisor/type 'xen', guest_type {guest!r}"
    if guest == "PV":
        pv = _Draft("paravirtualized", "Xen PV", line)
        if outer is not None and outer.fits("Xen"):  # the same Xen, seen through CPUID too
            pv.evidence.extend(outer.evidence)
            outer = None
        return outer, pv
    if outer is not None and outer.fits("Xen"):
        outer.technology = f"Xen {guest}"
        outer.evidence.append(line)
        return outer, None
    if outer is not None:
        notes.append(f"CPUID shows {outer.technology} but {line}")
    return _Draft(HW, f"Xen {guest}", line), None


def _uml(ev: Evidence, notes: list[str]) -> _Draft | None:
    """User-Mode Linux: its kernel says so in /proc/cpuinfo (systemd too, when installed)."""
    vendor = _cpuinfo(ev, "vendor_id")
    if vendor == "User Mode Linux":
        draft = _Draft("paravirtualized", UML, "/proc/cpuinfo vendor_id 'User Mode Linux'")
        if host := _cpuinfo(ev, "host"):
            draft.evidence.append(f"/proc/cpuinfo host {host!r}")
        return draft
    if first_line(ev.detect_virt_vm) != "uml":
        return None
    if vendor is not None:
        notes.append(f"systemd-detect-virt --vm says 'uml', /proc/cpuinfo vendor_id {vendor!r}")
        return None
    return _Draft("paravirtualized", UML, "systemd-detect-virt --vm says 'uml'")


def _dmi(ev: Evidence, outer: _Draft | None, notes: list[str]) -> None:
    for source, value in (
        ("sys_vendor", ev.dmi_sys_vendor),
        ("product_name", ev.dmi_product_name),
        ("bios_vendor", ev.dmi_bios_vendor),
    ):
        text = first_line(value)
        fits = {t for name, ts in DMI_NAMES if text and name in text.lower() for t in ts}
        if not fits:
            continue
        line = f"DMI {source} {text!r}"
        if outer is None:
            notes.append(f"{line} names a virtual machine but the probe finds no hypervisor")
        elif any(outer.fits(t) for t in fits):
            outer.evidence.append(line)
        else:
            names = "/".join(sorted(fits))
            notes.append(f"{line} suggests {names} but CPUID shows {outer.technology}")


def _support_vm(ev: Evidence, vm: list[_Draft], notes: list[str]) -> None:
    """DMI, systemd-detect-virt --vm, the cpuinfo flag and steal time: support or disagree."""
    outer = vm[0] if vm and vm[0].technology != UML else None  # Xen PV is its own hypervisor
    inner = vm[-1] if vm else None
    _dmi(ev, outer, notes)
    detected = first_line(ev.detect_virt_vm)
    said = f"systemd-detect-virt --vm says {detected!r}"
    if detected is None or (inner is not None and said in inner.evidence):
        pass
    elif inner is None:
        if detected != "none":
            notes.append(f"{said} but the probe finds no hypervisor")
    elif detected in DETECT_VM and inner.fits(DETECT_VM[detected][1]):
        inner.evidence.append(said)
    elif outer is not None and detected in DETECT_VM and outer.fits(DETECT_VM[detected][1]):
        notes.append(f"{said}, the outer layer, but the innermost guest is {inner.technology}")
    else:
        notes.append(f"{said} but the probe finds {inner.technology}")
    paravirt_inside = inner is not None and inner is not outer
    flags = _cpuinfo(ev, "flags")
    if outer is not None and flags is not None and not paravirt_inside:
        if "hypervisor" in flags.split():
            outer.evidence.append("/proc/cpuinfo flag 'hypervisor'")
        else:
            notes.append("CPUID has the hypervisor bit, /proc/cpuinfo lacks the 'hypervisor' flag")
    if ev.steal_ticks:
        if vm:
            vm[0].evidence.append(f"/proc/stat steal {ev.steal_ticks} ticks")
        else:
            notes.append(f"/proc/stat counts {ev.steal_ticks} steal ticks but no hypervisor shows")


def _containerenv(ev: Evidence) -> tuple[str, str] | None:
    """The engine /run/.containerenv names (Podman writes ``engine="podman-4.3.1"`` when it
    may; the file is empty otherwise), and the line that says so."""
    if not ev.containerenv:
        return None
    text = ev.containerenv_text
    match = _CONTAINERENV.search(text or "")
    if match is not None:
        name, version = match.groups()
        technology = CONTAINERENV_ENGINES.get(name, name)
        return technology, f'/run/.containerenv exists, engine="{name}-{version}"'
    if text is not None and not text.strip():
        return "Podman", "/run/.containerenv exists (empty)"
    return "Podman", "/run/.containerenv exists"


def _markers(ev: Evidence) -> list[tuple[str, str]]:
    """(technology, evidence) of each file or tool that names a container manager."""
    markers: list[tuple[str, str]] = []
    if (env := _containerenv(ev)) is not None:
        markers.append(env)
    if ev.dockerenv:
        markers.append(("Docker", "/.dockerenv exists"))
    said = first_line(ev.detect_virt_container)
    if said is not None and said != "none":
        line = f"systemd-detect-virt --container says {said!r}"
        markers.append((DETECT_CONTAINER.get(said, said), line))
    return markers


def _cgroup_engine(ev: Evidence) -> tuple[str, str] | None:
    """The container manager the most specific cgroup path names: the probe's own cgroup
    first, then PID 1's."""
    for source, text in (("/proc/self/cgroup", ev.self_cgroup), ("/proc/1/cgroup", ev.pid1_cgroup)):
        best: tuple[int, str] | None = None
        for entry in (text or "").splitlines():
            path = entry.split(":", 2)[-1]
            rank = next((i for i, (p, _) in enumerate(CGROUP_NAMES) if p.search(path)), None)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, path)
        if best is not None:
            return CGROUP_NAMES[best[0]][1], f"{source} path {best[1]!r}"
    return None


def _gvisor(ev: Evidence, notes: list[str]) -> _Draft | None:
    """gVisor's Sentry, when two of its marks agree; one alone is recorded as a note."""
    marks: list[str] = []
    boot = next(
        (x.strip() for x in (ev.dmesg or "").splitlines()[:MAX_DMESG_LINES] if GVISOR_BOOT in x),
        None,
    )
    if boot is not None:
        marks.append(f"dmesg {boot!r}, gVisor's boot line")
    version = first_line(ev.proc_version) or ""
    if (identity := GVISOR_VERSION.fullmatch(version)) is not None:
        marks.append(
            f"/proc/version {version!r}: gVisor's fixed kernel identity "
            f"(release {identity.group(1)}, build date {identity.group(2)!r})"
        )
    fstype, _, options = _root_fs(ev)
    if fstype == "9p" and "trans=fd" in options.split(","):
        marks.append("the root file system is 9p over trans=fd, served by gVisor's gofer")
    if ev.proc_sys_error:
        marks.append(f"ls /proc/sys/ fails ({ev.proc_sys_error!r}); Linux always lists it")
    if _cpuinfo(ev, "model name") == "unknown" and _cpuinfo(ev, "stepping") == "unknown":
        marks.append("/proc/cpuinfo model name and stepping 'unknown', as gVisor shows them")
    if len(marks) >= 2:
        return _Draft(APP_KERNEL, GVISOR, *marks)
    if marks:
        notes.append(f"{marks[0]}, but no other mark of gVisor agrees: not an application kernel")
    return None


def _root_fs(ev: Evidence) -> tuple[str | None, str | None, str]:
    """(type, source, super options) of the mountinfo line of /; (None, None, "") unknown."""
    root = ev.root_mount
    fs = root.split(" - ", 1)[1].split() if root and " - " in root else []
    if len(fs) < 2:
        return None, None, ""
    return fs[0], fs[1], fs[2] if len(fs) > 2 else ""


def _container(ev: Evidence, notes: list[str]) -> _Draft | None:
    """A container layer, from markers, namespaces and the root file system.

    Namespaces (a container's cgroup path, PID 1 being another PID on the
    host, no kernel threads in sight) are enough alone. A marker file or
    ``systemd-detect-virt --container`` is enough unless the process
    demonstrably sees the whole machine (kthreadd, root cgroups, a block
    device root mounted at /): then it is a file left in an image that was
    turned into a VM, and that is recorded as a disagreement.
    """
    markers = _markers(ev)
    said = first_line(ev.detect_virt_container)
    spaces: list[tuple[str, str]] = []
    if (cgroup := _cgroup_engine(ev)) is not None:
        spaces.append(cgroup)
    sched = re.search(r"\((\d+), #threads", ev.pid1_sched or "")
    if sched and sched.group(1) != "1":
        spaces.append((NAMESPACES, f"/proc/1/sched shows PID 1 as host PID {sched.group(1)}"))
    comm1, comm2 = first_line(ev.pid1_comm), first_line(ev.pid2_comm)
    if comm1 is not None and comm2 != "kthreadd":
        seen = f"PID 2 is {comm2!r}" if comm2 else "there is no PID 2"
        spaces.append((NAMESPACES, f"{seen}, not kthreadd: a PID namespace"))
    fstype, source, _ = _root_fs(ev)
    files: list[str] = []
    if ev.root_mount == "":
        files.append("no mount at / in /proc/self/mountinfo: the root is a chroot")
    elif fstype in OVERLAY_FS:
        files.append(f"the root file system is {fstype}, as in container images")
    init: list[str] = []
    if comm1 in CONTAINER_INITS:
        init.append(f"PID 1 is {comm1!r}, an init made for containers")
    elif comm1 is not None and comm1 not in OS_INITS:
        init.append(f"PID 1 is {comm1!r}, not an init")

    if not markers and not spaces:
        if files or init:
            found = "; ".join(files + init)
            notes.append(f"{found} (supports a container), but no marker or namespace shows one")
        return None
    if not spaces and not files and comm2 == "kthreadd" and fstype is not None:
        notes.append(
            f"{' and '.join(line for _, line in markers)}, but this process sees the kernel's "
            f"threads (PID 2 is kthreadd), root cgroups and {source} ({fstype}) mounted at /"
            f"{''.join(f' ({x})' for x in init)}: a marker left in the image, not a container"
        )
        return None
    technology = (markers + spaces)[0][0]
    if said == "none":
        notes.append(f"systemd-detect-virt --container says 'none', the probe finds {technology}")
    elif said is not None and DETECT_CONTAINER.get(said, said) != technology:
        notes.append(f"systemd-detect-virt --container says {said!r}, other evidence {technology}")
    _engines_agree(markers, cgroup, notes)
    lines = [line for _, line in markers + spaces]
    return _Draft("container", technology, *lines, *files, *init)


def _engines_agree(
    markers: list[tuple[str, str]], cgroup: tuple[str, str] | None, notes: list[str]
) -> None:
    """A note when a marker file and the cgroup path name two different engines."""
    files = [(t, line) for t, line in markers if not line.startswith("systemd-detect-virt")]
    if files and cgroup is not None and cgroup[0] not in (files[0][0], "Kubernetes"):
        notes.append(f"{files[0][1]} ({files[0][0]}), but {cgroup[1]} names {cgroup[0]}")


def _sandboxed(ev: Evidence, sandbox: _Draft, notes: list[str]) -> Runtime:
    """gVisor's engine: the manager whose markers are inside the sandbox (runsc under Docker
    or Podman), else runsc run alone. gVisor's own PID space explains a PID 1 that is no
    init and no kthreadd: those are no container layer here."""
    found = _markers(ev)
    cgroup = _cgroup_engine(ev)
    _engines_agree(found, cgroup, notes)
    if cgroup is not None:
        found.append(cgroup)
    sandbox.evidence.extend(line for _, line in found)
    engine = next((ENGINES[t] for t, _ in found if t in ENGINES), "gvisor")
    return Runtime(engine, oci_runtime="runsc")


def classify(ev: Evidence) -> Classification:
    """The layers ``ev`` shows, outermost first, and every disagreement between its sources.

    Parameters
    ----------
    ev : Evidence
        What :func:`runners.probe.collect_evidence` read from the host.

    Returns
    -------
    Classification
        The hypervisor layer (CPUID, ``/sys/hypervisor``), then a
        paravirtualized guest kernel running inside it (UML or Xen PV, whose
        user code still sees the outer CPUID), then a container or an
        application kernel (gVisor), whose confinement its evidence states,
        and the engine that runs it (``runtime``).
    """
    notes: list[str] = []
    outer, pv = _xen(ev, _hypervisor(ev, notes), notes)
    inner = pv or _uml(ev, notes)
    vm = [d for d in (outer, inner) if d is not None]
    _support_vm(ev, vm, notes)
    runtime: Runtime | None = None
    innermost = _gvisor(ev, notes)
    if innermost is not None:
        runtime = _sandboxed(ev, innermost, notes)
    elif (innermost := _container(ev, notes)) is not None and innermost.technology in ENGINES:
        runtime = Runtime(ENGINES[innermost.technology])
    if innermost is not None:
        innermost.evidence.extend(confinement(ev))
    drafts = [*vm, innermost] if innermost is not None else vm
    layers = tuple(Layer(d.virt_class, d.technology, tuple(d.evidence)) for d in drafts)
    return Classification(layers, tuple(notes), runtime)


def compare_declared(result: Classification, declared: str | None) -> str | None:
    """One line when the inventory declares another class than the probe finds, else None."""
    if declared is None or declared == result.virt_class:
        return None
    found = f"{result.virt_class} ({result.technologies()})"
    if declared == "container" and all(x.virt_class != "container" for x in result.layers):
        return (
            f"declared 'container' but the probe finds no container evidence, only {found}: "
            "the declaration is kept, unconfirmed"
        )
    return f"declared {declared!r} but the probe finds {found}"
