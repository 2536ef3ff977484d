"""What the probe concludes a host runs in: layers, the runtime, the classification.

The data of :mod:`runners.classify` (which builds it from evidence, with the
virtual machines' layers) and :mod:`runners.classify_container` (containers
and application kernels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runners.evidence import Evidence

VIRT_CLASSES = (
    "paravirtualized",
    "binary-translation",
    "hardware-assisted",
    "container",
    "application-kernel",
)
BARE_METAL = "bare-metal"
HW = "hardware-assisted"
APP_KERNEL = "application-kernel"


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


class Draft:
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


def cpuinfo_field(ev: Evidence, name: str) -> str | None:
    match = re.search(rf"^{name}\s*:\s*(.*)$", ev.cpuinfo or "", re.MULTILINE)
    return match.group(1).strip() if match else None
