"""From probe evidence to virtualization layers: a pure function, tested on captured evidence.

:func:`classify` turns an :class:`~runners.evidence.Evidence` into the layers a
host runs in, outermost first, with the evidence for each, and every place
where two sources disagree. Direct evidence wins: CPUID (what the CPU, or the
emulator, answers), ``/sys/hypervisor`` and ``/proc/cpuinfo`` (what the
kernel says), and the host's own view of PID 1, its kernel threads and its
cgroups. DMI strings, ``systemd-detect-virt``, marker files such as
``/.dockerenv`` and steal time support or contradict them; a contradiction is
recorded in ``disagreements``, never silently resolved.

The virtual machines' layers are found here; the innermost layer, a
container or an application kernel (gVisor's Sentry, on the kernel of
whatever machine runs it, whose layers CPUID still shows), and the engine
that runs it, in :mod:`runners.classify_container`; the data, in
:mod:`runners.layers`. A container's confinement (seccomp, capabilities,
cgroup limits) is stated in the evidence of the innermost layer.
"""

from __future__ import annotations

from runners.classify_container import (
    DETECT_CONTAINER,
    ENGINES,
    NAMESPACES,
    container_layer,
    gvisor_layer,
    sandboxed,
)
from runners.evidence import Evidence, confinement
from runners.hostfacts import first_line
from runners.layers import (
    APP_KERNEL,
    BARE_METAL,
    HW,
    VIRT_CLASSES,
    Classification,
    Draft,
    Layer,
    Runtime,
    cpuinfo_field,
)

__all__ = [
    "APP_KERNEL",
    "BARE_METAL",
    "DETECT_CONTAINER",
    "NAMESPACES",
    "VIRT_CLASSES",
    "Classification",
    "Layer",
    "Runtime",
    "classify",
    "compare_declared",
]

UML = "User-Mode Linux"

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


def _hypervisor(ev: Evidence, notes: list[str]) -> Draft | None:
    """The hypervisor CPUID shows; without CPUID, what systemd or the cpuinfo flag says."""
    cpuid = ev.cpuid or {}
    if cpuid.get("available") is True:
        if cpuid.get("hypervisor_bit") is not True:
            return None
        vendor = str(cpuid.get("hypervisor_vendor") or "")
        line = f"CPUID.1:ECX[31] hypervisor bit set; CPUID 0x40000000 vendor {vendor!r}"
        if vendor in CPUID_VENDORS:
            return Draft(*CPUID_VENDORS[vendor], line)
        name = f"unknown hypervisor {vendor!r}" if vendor else "unknown hypervisor"
        return Draft(HW, name, line)
    if ev.harness_error:  # on other architectures there is no CPUID to miss
        notes.append(f"no CPUID evidence: {ev.harness_error}")
    detected = first_line(ev.detect_virt_vm)
    if detected in DETECT_VM and detected != "uml":
        return Draft(*DETECT_VM[detected], f"systemd-detect-virt --vm says {detected!r}")
    if "hypervisor" in (cpuinfo_field(ev, "flags") or "").split():
        return Draft(HW, "unknown hypervisor", "/proc/cpuinfo flag 'hypervisor'")
    return None


def _xen(ev: Evidence, outer: Draft | None, notes: list[str]) -> tuple[Draft | None, Draft | None]:
    """What /sys/hypervisor says: (the hypervisor layer, a Xen PV guest layer or None)."""
    if first_line(ev.hypervisor_type) != "xen":
        return outer, None
    guest = first_line(ev.hypervisor_guest_type) or "HVM"
    line = f"/sys/hypervisor/type 'xen', guest_type {guest!r}"
    if guest == "PV":
        pv = Draft("paravirtualized", "Xen PV", line)
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
    return Draft(HW, f"Xen {guest}", line), None


def _uml(ev: Evidence, notes: list[str]) -> Draft | None:
    """User-Mode Linux: its kernel says so in /proc/cpuinfo (systemd too, when installed)."""
    vendor = cpuinfo_field(ev, "vendor_id")
    if vendor == "User Mode Linux":
        draft = Draft("paravirtualized", UML, "/proc/cpuinfo vendor_id 'User Mode Linux'")
        if host := cpuinfo_field(ev, "host"):
            draft.evidence.append(f"/proc/cpuinfo host {host!r}")
        return draft
    if first_line(ev.detect_virt_vm) != "uml":
        return None
    if vendor is not None:
        notes.append(f"systemd-detect-virt --vm says 'uml', /proc/cpuinfo vendor_id {vendor!r}")
        return None
    return Draft("paravirtualized", UML, "systemd-detect-virt --vm says 'uml'")


def _dmi(ev: Evidence, outer: Draft | None, notes: list[str]) -> None:
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


def _support_vm(ev: Evidence, vm: list[Draft], notes: list[str]) -> None:
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
    flags = cpuinfo_field(ev, "flags")
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
    innermost = gvisor_layer(ev, notes)
    if innermost is not None:
        runtime = sandboxed(ev, innermost, notes)
    elif (innermost := container_layer(ev, notes)) is not None and innermost.technology in ENGINES:
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
