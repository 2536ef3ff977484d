"""From probe evidence to virtualization layers: a pure function, tested on captured evidence.

:func:`classify` turns an :class:`~runners.evidence.Evidence` into the layers a
host runs in, outermost first, with the evidence for each, and every place
where two sources disagree. Direct evidence wins: CPUID (what the CPU, or the
emulator, answers), ``/sys/hypervisor`` and ``/proc/cpuinfo`` (what the
kernel says), and the host's own view of PID 1, its kernel threads and its
cgroups. DMI strings, ``systemd-detect-virt``, marker files such as
``/.dockerenv`` and steal time support or contradict them; a contradiction is
recorded in ``disagreements``, never silently resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runners.evidence import Evidence
from runners.hostfacts import first_line

VIRT_CLASSES = ("paravirtualized", "binary-translation", "hardware-assisted", "container")
BARE_METAL = "bare-metal"
UML = "User-Mode Linux"
NAMESPACES = "namespaces (unshare/chroot)"
HW = "hardware-assisted"

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
# cgroup path fragments of container managers, most specific first.
CGROUP_NAMES = (
    ("libpod", "Podman"),
    ("docker", "Docker"),
    ("kubepods", "Kubernetes"),
    ("lxc", "LXC"),
    ("containerd", "containerd"),
    ("crio", "CRI-O"),
)
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
class Classification:
    """The layers, outermost first; the class is the innermost layer's, or bare metal."""

    layers: tuple[Layer, ...]
    disagreements: tuple[str, ...] = ()
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


def _container(ev: Evidence, notes: list[str]) -> _Draft | None:
    """A container layer, from markers, namespaces and the root file system.

    Namespaces (a container's cgroup path, PID 1 being another PID on the
    host, no kernel threads in sight) are enough alone. A marker file or
    ``systemd-detect-virt --container`` is enough unless the process
    demonstrably sees the whole machine (kthreadd, root cgroups, a block
    device root mounted at /): then it is a file left in an image that was
    turned into a VM, and that is recorded as a disagreement.
    """
    markers: list[tuple[str, str]] = []
    if ev.containerenv:
        markers.append(("Podman", "/run/.containerenv exists"))
    if ev.dockerenv:
        markers.append(("Docker", "/.dockerenv exists"))
    said = first_line(ev.detect_virt_container)
    if said is not None and said != "none":
        line = f"systemd-detect-virt --container says {said!r}"
        markers.append((DETECT_CONTAINER.get(said, said), line))
    spaces: list[tuple[str, str]] = []
    for entry in (ev.pid1_cgroup or "").splitlines():
        path = entry.split(":", 2)[-1]
        tech = next((t for name, t in CGROUP_NAMES if name in path), None)
        if tech is not None:
            spaces.append((tech, f"/proc/1/cgroup path {path!r}"))
            break
    sched = re.search(r"\((\d+), #threads", ev.pid1_sched or "")
    if sched and sched.group(1) != "1":
        spaces.append((NAMESPACES, f"/proc/1/sched shows PID 1 as host PID {sched.group(1)}"))
    comm1, comm2 = first_line(ev.pid1_comm), first_line(ev.pid2_comm)
    if comm1 is not None and comm2 != "kthreadd":
        seen = f"PID 2 is {comm2!r}" if comm2 else "there is no PID 2"
        spaces.append((NAMESPACES, f"{seen}, not kthreadd: a PID namespace"))
    root = ev.root_mount
    fs = root.split(" - ", 1)[1].split() if root and " - " in root else []
    fstype, source = (fs[0], fs[1]) if len(fs) >= 2 else (None, None)
    files: list[str] = []
    if root == "":
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
    lines = [line for _, line in markers + spaces]
    return _Draft("container", technology, *lines, *files, *init)


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
        user code still sees the outer CPUID), then a container.
    """
    notes: list[str] = []
    outer, pv = _xen(ev, _hypervisor(ev, notes), notes)
    inner = pv or _uml(ev, notes)
    vm = [d for d in (outer, inner) if d is not None]
    _support_vm(ev, vm, notes)
    container = _container(ev, notes)
    drafts = [*vm, container] if container is not None else vm
    layers = tuple(Layer(d.virt_class, d.technology, tuple(d.evidence)) for d in drafts)
    return Classification(layers, tuple(notes))


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
