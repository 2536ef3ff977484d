"""The lab's OCI hosts: what platform engineers deploy, run by Podman from the lab's image.

Three containers of one image, each in a network namespace of the lab's own
(joined with ``--network ns:PATH``, a veth pair to the host as the lab's
container has) with its own sshd:

- ``podman``: Podman with runc, its default seccomp profile
  (/usr/share/containers/seccomp.json), its default capabilities and cgroups;
- ``podman-nosec``: the same with ``--security-opt seccomp=unconfined``, so
  that the profile's cost shows as the difference of the two on one runtime;
- ``gvisor``: the same image under runsc, gVisor's OCI runtime: the
  workload's system calls go to gVisor's application kernel (the Sentry).
  The platform (how the Sentry intercepts them) is ``ptrace`` unless ``lab
  up --gvisor-platform`` says otherwise; ``kvm`` needs a /dev/kvm that boots
  gVisor's guest, which PVM's does not. Networking is gVisor's ``host`` mode
  (the Sentry's sockets are the lab namespace's kernel sockets): this runsc
  release's own network stack refuses to start in any namespace of kernels
  that have ``net.core.rmem_default`` per namespace (it takes the file's
  presence for the root namespace's mark), as 6.x kernels have.

Not ``--rm``: Podman mounts a transient container's overlay ``volatile``,
which makes every fsync a no-op (``io-write-sync`` read x0.025 of native);
a deployed container's is not. The lab removes its containers by name.

Runtimes and rlimits: runc, not Podman's default crun, which refuses this
machine's hybrid cgroup layout; nofile and nproc at 1024, since Podman's
defaults are above the machine's hard limits. The image is the lab's
configured root file system (``podman import``), cached in the instance's
Podman store under the image's hash. Podman detaches its monitor (conmon)
from the lab's process tree: the container is recorded in the state file
before it starts and removed by name at clean-up (:mod:`runners.lab.engine`),
and conmon carries the lab's tag (through the lab's own containers.conf), so
clean-up finds it and what runs below it even when ``lab up`` was stopped
before conmon's pid was known.
"""

from __future__ import annotations

import shutil
import threading
import time

from runners.lab.context import (
    Endpoint,
    LabContext,
    LeftOut,
    lab_namespace,
    require_root,
    spawn_recorded,
)
from runners.lab.engine import PODMAN, ContainerRecord, PodmanStore, write_config
from runners.lab.guests import pvm_serves_kvm
from runners.lab.paths import private_dir
from runners.lab.placement import place_running
from runners.lab.procs import LabError, alive, run_cmd

RUNC = "/usr/sbin/runc"
RUNSC = "runsc"
IMAGE_REPO = "localhost/ringbench-lab"
IMPORT_TIMEOUT_S = 600.0
START_WAIT_S = 60.0
POLL_S = 0.2
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
SSHD_COMMAND = ("/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e")
GVISOR_PLATFORMS = ("ptrace", "kvm", "systrap")
# What changes in the image tree while other hosts run (the chroot container's sshd
# logs logins, a run deploys the harness under /root/.cache): not part of the image.
VOLATILE = ("./proc/*", "./sys/*", "./run/*", "./tmp/*", "./root/.cache", "./var/log/*")

# role (namespace and link names, at most 3 letters) and /30 index of each host
ROLES = {"podman": ("pod", 4), "podman-nosec": ("pns", 5), "gvisor": ("gv", 6)}
_IMAGE_LOCK = threading.Lock()


def store(ctx: LabContext) -> PodmanStore:
    """The instance's Podman store (in its private directory: the image holds its host key),
    with the lab's configuration for this ``lab up`` (conmon tagged as the lab's)."""
    config = write_config(ctx.paths.run / "containers.conf", ctx.tag)
    return PodmanStore(private_dir(ctx.paths.podman), config)


def image_tag(ctx: LabContext) -> str:
    return f"{IMAGE_REPO}:{ctx.image.rootfs.parent.name.removeprefix('image-')}"


def ensure_image(ctx: LabContext, podman: PodmanStore) -> str:
    """The lab's image in the store (imported once per image hash; older ones removed)."""
    tag = image_tag(ctx)
    with _IMAGE_LOCK:
        if podman.image_exists(tag):
            return tag
        ctx.check()
        tarball = ctx.paths.run / "image.tar"
        excludes = [f"--exclude={pattern}" for pattern in VOLATILE]
        try:
            run_cmd(
                ["tar", "-C", str(ctx.image.rootfs), *excludes, "-cf", str(tarball), "."],
                timeout_s=IMPORT_TIMEOUT_S,
            )
            ctx.check()
            podman.run("import", "--quiet", str(tarball), tag, timeout_s=IMPORT_TIMEOUT_S)
        finally:
            tarball.unlink(missing_ok=True)
        listed = podman.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=False)
        for old in listed.split():
            if old.startswith(f"{IMAGE_REPO}:") and old != tag:
                podman.run("rmi", "--force", old, check=False)
    return tag


def _wait_running(ctx: LabContext, podman: PodmanStore, name: str, pid: int) -> int:
    """conmon's pid once the container runs; a one-line error when Podman gave up."""
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        ctx.check()
        try:
            conmon, first = podman.pids(name)
        except LabError:
            conmon = first = 0
        if conmon > 0 and first > 0:
            return conmon
        if not alive(pid, None):
            log = ctx.paths.log(name.removeprefix(ctx.instance.netns_prefix))
            said = log.read_text(errors="replace")[-300:] if log.exists() else ""
            raise LabError(f"podman run ended: {' '.join(said.split()) or 'no message'}")
        ctx.cancel.wait(POLL_S)
    raise LabError(f"the container did not start in {START_WAIT_S:g} s")


def _start(
    ctx: LabContext, host: str, runtime: list[str], options: list[str], what: str
) -> tuple[Endpoint, int]:
    """Run the lab's image as ``host`` with sshd: its endpoint, and conmon's pid (the
    container's monitor, the parent of its processes)."""
    require_root()
    if shutil.which(PODMAN) is None:
        raise LeftOut("podman is not installed: run 'ringbench lab up' as root to install it")
    link = lab_namespace(ctx, *ROLES[host])
    podman = store(ctx)
    tag = ensure_image(ctx, podman)
    name = f"{ctx.instance.netns_prefix}{host}"
    podman.remove_container(name)  # a container of a lab whose state file was lost
    ctx.check()
    ctx.state.add_container(ContainerRecord(host, name, str(podman.root)))
    argv = podman.argv(
        *runtime,
        "run",
        "--name",
        name,
        "--hostname",
        host,
        "--network",
        f"ns:/run/netns/{link.netns}",
        *ULIMITS,
        *options,
        tag,
        *SSHD_COMMAND,
    )
    pid = spawn_recorded(ctx, host, argv, what)
    conmon = _wait_running(ctx, podman, name, pid)
    ctx.state.add_process(host, conmon, "conmon")
    return Endpoint(link.ns_address, 22, pid), conmon


def start_podman(ctx: LabContext) -> Endpoint:
    """Podman and runc with the default seccomp profile."""
    endpoint, _ = _start(ctx, "podman", ["--runtime", RUNC], [], "podman run (runc)")
    ctx.state.update("podman", placement=ctx.placement.host_description("harness"))
    return endpoint


def start_podman_nosec(ctx: LabContext) -> Endpoint:
    """The same container without a seccomp filter."""
    options = ["--security-opt", "seccomp=unconfined"]
    what = "podman run (runc, unconfined)"
    endpoint, _ = _start(ctx, "podman-nosec", ["--runtime", RUNC], options, what)
    ctx.state.update("podman-nosec", placement=ctx.placement.host_description("harness"))
    return endpoint


def runsc_release() -> str:
    """runsc's release, e.g. ``20221219`` (from ``runsc --version``), or "" when unknown."""
    out = run_cmd([RUNSC, "--version"], timeout_s=15, check=False).stdout
    first = out.splitlines()[0] if out else ""
    version = first.removeprefix("runsc version").strip()
    return version.removeprefix("0.0~").removesuffix(".0") or version


def start_gvisor(ctx: LabContext) -> Endpoint:
    """The image under runsc: gVisor's application kernel between the workload and Linux."""
    platform = ctx.gvisor_platform
    if shutil.which(RUNSC) is None:
        raise LeftOut("runsc (gVisor) is not installed: run 'ringbench lab up' as root")
    if platform == "kvm" and (reason := pvm_serves_kvm()):
        raise LeftOut(f"gVisor's kvm platform: {reason}; choose --gvisor-platform ptrace")
    # runsc's own state in the instance's directory, not the machine's /run/runsc (this
    # release leaves a sandbox's state file there after the container is removed)
    state_dir = ctx.paths.podman / "runsc"
    shutil.rmtree(state_dir, ignore_errors=True)  # no sandbox of the instance runs now
    private_dir(state_dir)
    runtime = [
        "--runtime",
        RUNSC,
        "--runtime-flag",
        f"root={state_dir}",
        "--runtime-flag",
        f"platform={platform}",
        "--runtime-flag",
        "network=host",
    ]
    endpoint, conmon = _start(ctx, "gvisor", runtime, [], f"podman run (runsc, {platform})")
    # The harness's own pinning stays inside gVisor: the Sentry's threads and the
    # processes it traces are placed from outside, all on the measuring CPU, as
    # User-Mode Linux's are (every ptrace stop that crosses CPUs is a wake-up).
    place_running("guest", [endpoint.pid, conmon], ctx.placement)
    release = runsc_release()
    ctx.state.update(
        "gvisor",
        placement=ctx.placement.host_description("guest"),
        hypervisor=(
            f"gVisor (runsc {release or 'release unknown'}, {platform} platform, host "
            "network) under Podman, on the host's kernel"
        ),
    )
    return endpoint
