"""Containers and application kernels, from probe evidence: the innermost layer.

A container's engine (:class:`~runners.layers.Runtime`) comes from its marker
files and cgroup paths; an application kernel (gVisor's Sentry) is called so
only when two of its marks agree (its boot lines in ``dmesg``, its fixed
kernel identity in /proc/version, a 9p root served over ``trans=fd``, a
/proc/sys it refuses to list, a CPU model and stepping it calls
``unknown``); one mark alone is a disagreement. Used by
:func:`runners.classify.classify`.
"""

from __future__ import annotations

import re

from runners.evidence import Evidence
from runners.hostfacts import first_line
from runners.layers import APP_KERNEL, Draft, Runtime, cpuinfo_field

NAMESPACES = "namespaces (unshare/chroot)"
GVISOR = "gVisor"

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


def gvisor_layer(ev: Evidence, notes: list[str]) -> Draft | None:
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
    if cpuinfo_field(ev, "model name") == "unknown" and cpuinfo_field(ev, "stepping") == "unknown":
        marks.append("/proc/cpuinfo model name and stepping 'unknown', as gVisor shows them")
    if len(marks) >= 2:
        return Draft(APP_KERNEL, GVISOR, *marks)
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


def container_layer(ev: Evidence, notes: list[str]) -> Draft | None:
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
    return Draft("container", technology, *lines, *files, *init)


def _engines_agree(
    markers: list[tuple[str, str]], cgroup: tuple[str, str] | None, notes: list[str]
) -> None:
    """A note when a marker file and the cgroup path name two different engines."""
    files = [(t, line) for t, line in markers if not line.startswith("systemd-detect-virt")]
    if files and cgroup is not None and cgroup[0] not in (files[0][0], "Kubernetes"):
        notes.append(f"{files[0][1]} ({files[0][0]}), but {cgroup[1]} names {cgroup[0]}")


def sandboxed(ev: Evidence, sandbox: Draft, notes: list[str]) -> Runtime:
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
