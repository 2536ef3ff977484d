"""The local lab for real, as instances of its own: every host up, a --fast run on all of
them, two instances side by side, Ctrl-C during `lab up`, nothing left after.

Needs root, /dev/net/tun and QEMU (CI runs as root on these machines; the lab
installs its own packages, so only root and the tun device are checked before
bringing it up). These tests bring up lab instances of their own (``tests``,
``tt2``, ``timg``), each with its own directory, namespaces, links, subnets and
process tag, in $RINGBENCH_TEST_LAB_DIR (default /var/cache/ringbench-lab-tests,
with the root file system cached in its ``cache/``: built once, about 3
minutes). A lab of the user's, the default instance or any other, is never
read, taken down or pruned: every test checks that the namespaces, links and
processes of every other lab on the machine are still there after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

from ringbench.progress import SILENT
from ringbench.results import RunDir
from runners.cli.analysis import cmd_overhead
from runners.cli.lab import cmd_lab_down, cmd_lab_inventory, cmd_lab_status, cmd_lab_up
from runners.cli.run import cmd_run
from runners.execute import FAST
from runners.lab import lifecycle, net
from runners.lab.boot import ssh_true
from runners.lab.context import Endpoint
from runners.lab.engine import PodmanStore
from runners.lab.hosts import PRIVSEP_DIR, HostSpec
from runners.lab.instance import Instance
from runners.lab.paths import TAG_VAR, LabPaths
from runners.lab.placement import Placement
from runners.lab.procs import LabError, alive, tagged, with_descendants
from runners.lab.state import LabHostState, StateFile, lab_processes
from runners.ssh import default_known_hosts
from suites.build import BuildInfo
from tests.signals import as_from_a_terminal

ROOT = Path(__file__).parent.parent
EXPECTED = {
    "native": "hardware-assisted",
    "container": "container",
    "podman": "container",
    "podman-nosec": "container",
    "gvisor": "application-kernel",
    "uml": "paravirtualized",
    "tcg": "binary-translation",
}
TEST_LAB = Path(os.environ.get("RINGBENCH_TEST_LAB_DIR") or "/var/cache/ringbench-lab-tests")
CACHE = TEST_LAB / "cache"  # the root file system, shared by the tests' instances
TESTS, SECOND = Instance("tests"), Instance("tt2")
OURS = (TESTS, SECOND, Instance("timg"))  # every instance these tests bring up
WAIT_S = 1200.0  # a bound for a first `lab up` here: the root file system, then an image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, veth, tap)"),
    pytest.mark.skipif(
        not Path("/dev/net/tun").exists(),
        reason="the lab needs /dev/net/tun (User-Mode Linux's tap)",
    ),
    pytest.mark.skipif(
        shutil.which("apt-get") is None and shutil.which("qemu-system-x86_64") is None,
        reason="the lab needs QEMU (or apt-get to install it)",
    ),
]


def paths_of(instance: Instance, root: Path | None = None) -> LabPaths:
    return LabPaths.of(instance, root or TEST_LAB / instance.name, CACHE)


def ours(tag: str) -> bool:
    return any(tag.startswith(i.tag_prefix) for i in OURS)


def lab_tags() -> dict[int, str]:
    """pid -> lab tag of every process of any lab on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            for var in (entry / "environ").read_bytes().split(b"\0"):
                if entry.name.isdigit() and var.startswith(f"{TAG_VAR}=".encode()):
                    found[int(entry.name)] = var.split(b"=", 1)[1].decode(errors="replace")
    return found


def machine_links() -> set[str]:
    return {str(link["ifname"]) for link in json.loads(net.ip("-json", "link", "show") or "[]")}


def lab_objects(instance: Instance) -> list[str]:
    """Every namespace and link on this machine named like ``instance``'s."""
    found = [f"netns {n}" for n in net.list_netns() if n.startswith(instance.netns_prefix)]
    found += [f"link {link}" for link in machine_links() if instance.owns_link(link)]
    return found


def containers_of(paths: LabPaths) -> list[str]:
    """The containers in the instance's Podman store (running or not)."""
    store = PodmanStore(paths.podman)
    if not store.root.exists():
        return []
    return store.run("ps", "--all", "--format", "{{.Names}}").split()


def mounts_below(directory: Path) -> list[str]:
    """The mount points of this machine below ``directory`` (a container's root file system)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if line.split()[4].startswith(f"{directory}/")]


def lab_roots() -> dict[int, str]:
    """pid -> tag of every lab's long-running processes (those the lab started: their
    parent carries no tag; an SSH session's processes come and go below them)."""
    tags = lab_tags()
    parents = {}
    for pid in tags:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return {pid: tag for pid, tag in tags.items() if parents.get(pid) not in tags}


@pytest.fixture(autouse=True)
def other_labs_untouched() -> Iterator[None]:
    """After each test, every namespace, link and process of a lab that is not one of
    these tests' instances is still there: a lab of the user's (up now or not) is
    untouched."""
    theirs = {n for n in net.list_netns() if not any(i.owns_netns(n) for i in OURS)}
    links = {link for link in machine_links() if not any(i.owns_link(link) for i in OURS)}
    procs = {pid: tag for pid, tag in lab_roots().items() if not ours(tag)}
    yield
    assert theirs <= set(net.list_netns()), "another lab's namespace went"
    assert links <= machine_links(), "another lab's link went"
    now = lab_tags()
    gone = {pid: tag for pid, tag in procs.items() if now.get(pid) != tag}
    assert not gone, f"another lab's processes went: {gone}"


@pytest.fixture
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private known_hosts and ssh config; every instance of these tests down after."""
    config = tmp_path / "ssh_config"
    config.write_text("")
    monkeypatch.setenv("RINGBENCH_SSH_CONFIG", str(config))
    monkeypatch.setenv("RINGBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    yield tmp_path
    for instance in (TESTS, SECOND):
        lifecycle.down(paths_of(instance))
    lifecycle.down(paths_of(Instance("timg"), tmp_path / "timg"))


@pytest.fixture
def out(lab_env: Path) -> Iterator[Console]:
    """A console writing to console.txt (shown when an assertion fails)."""
    with (lab_env / "console.txt").open("a") as fp:
        yield Console(file=fp, width=200)


def median(run_dir: Path, host: str, bench: str) -> float:
    suite = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path(host)))
    return statistics.median(suite.get_benchmark(bench).get_values())


def threads(pid: int) -> dict[int, str]:
    """Thread id -> name of every thread of ``pid`` and of the processes below it."""
    found = {}
    for p in with_descendants([pid]):
        for task in Path(f"/proc/{p}/task").iterdir():
            with contextlib.suppress(OSError):
                found[int(task.name)] = (task / "comm").read_text().strip()
    return found


def check_placement(state: StateFile) -> None:
    """Every UML process and QEMU's vCPU on the measuring CPU, QEMU's other threads off it."""
    placement = Placement.default()
    assert placement.measure is not None
    if placement.helpers == (placement.measure,):
        return  # one CPU: nothing to place
    recorded = {p.host: p.pid for p in state.state.processes}
    uml = threads(recorded["uml"])
    assert len(uml) > 1
    wrong = {tid: os.sched_getaffinity(tid) for tid in uml}
    assert all(cpus == {placement.measure} for cpus in wrong.values()), wrong
    tcg = threads(recorded["tcg"])
    vcpus = [tid for tid, name in tcg.items() if name.startswith("CPU ")]
    assert vcpus and all(os.sched_getaffinity(t) == {placement.measure} for t in vcpus)
    assert all(os.sched_getaffinity(t) == set(placement.helpers) for t in tcg if t not in vcpus)
    assert "on CPU" in state.state.hosts["uml"].placement


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def check_private(paths: LabPaths) -> None:
    """Keys 0600, images and guest disks (they hold the host key) 0600, in 0700 directories."""
    assert mode(paths.root) == "0o700"
    assert mode(paths.keys) == "0o700"
    for key in (paths.client_key, paths.host_key):
        assert mode(key) == "0o600", key
    (image,) = paths.root.glob("image-*")
    assert mode(image) == "0o700"
    assert mode(image / "disk.ext4") == "0o600"
    assert mode(image / "rootfs" / "etc" / "ssh" / "ssh_host_ed25519_key") == "0o600"
    assert mode(paths.run) == "0o700"
    disks = sorted(paths.run.glob("*.ext4"))
    assert {d.name for d in disks} >= {"uml.ext4", "tcg.ext4"}
    assert all(mode(d) == "0o600" for d in disks), [(d.name, mode(d)) for d in disks]
    assert mode(paths.run / "native") == "0o700"
    assert mode(paths.podman) == "0o700", "the Podman store holds the image's host key"


def test_lab_up_run_classify_down(harness: BuildInfo, lab_env: Path, out: Console) -> None:
    paths = paths_of(TESTS)
    inventory = lab_env / "inventory.yaml"
    code = cmd_lab_up(
        out, inventory=inventory, instance=TESTS.name, lab_dir=paths.root, cache_dir=CACHE
    )
    assert code == 0, (lab_env / "console.txt").read_text()
    assert cmd_lab_status(out, instance=TESTS.name, lab_dir=paths.root) == 0
    # The lab's own inventory lives in its directory (no file of the checkout is
    # rewritten); --inventory writes the same hosts there too.
    assert paths.inventory.read_text() == inventory.read_text()
    assert cmd_lab_inventory(instance=TESTS.name, lab_dir=paths.root) == 0
    check_private(paths)
    state = StateFile.load(paths.state_file)
    assert state is not None and state.state.instance == TESTS.name
    assert state.state.tag.startswith(TESTS.tag_prefix)
    up = {n for n, r in state.state.hosts.items() if r.state == "up"}
    assert set(EXPECTED) <= up, state.state.hosts
    assert state.state.hosts["container"].address.startswith(f"10.{TESTS.octet}.")
    assert sorted(lab_objects(TESTS)) == sorted(
        [f"netns {TESTS.netns(r)}" for r in ("ct", "pod", "pns", "gv", "uml")]
        + [f"link {TESTS.link(r, 'h')}" for r in ("ct", "pod", "pns", "gv", "uml")]
    )
    prefix = TESTS.netns_prefix
    assert sorted(containers_of(paths)) == [
        f"{prefix}{h}" for h in ("gvisor", "podman", "podman-nosec")
    ]
    check_placement(state)
    affinity = os.sched_getaffinity(0)
    results = lab_env / "results"
    cmd_run(
        out,
        local=False,
        inventory=inventory,
        host_patterns=[],
        bench_names=[],
        families=[],
        config=FAST,
        param_specs=[],
        results=results,
    )
    assert os.sched_getaffinity(0) == affinity, "the controller's CPUs given back"
    # The native host's sessions have the run directory as their home: what the run
    # deployed there goes with `lab down`, never into the real ~/.cache/ringbench.
    deployed = paths.run / "native" / "home" / ".cache" / "ringbench"
    assert [p.name for p in deployed.iterdir()] == [f"ringbench-bench-{harness.sha256[:16]}"]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    placed = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path("uml"))).get_metadata()
    assert "on CPU" in placed["placement"], "the placement is one of the host's facts"
    manifest = json.loads(RunDir(run_dir).manifest_path.read_text())
    for host in EXPECTED:
        entry = manifest["hosts"][host]
        assert entry["status"] == "complete", (host, entry)
        for bench in ("syscall-null", "trap-cpuid"):
            assert entry["benchmarks"][bench]["status"] == "success", (host, bench, entry)
    for host, virt_class in EXPECTED.items():
        probe = json.loads(RunDir(run_dir).probe_path(host).read_text())
        assert probe["virt_class"] == virt_class, (host, probe["layers"])
    # Podman's default profile is one seccomp filter; its twin runs unconfined.
    seccomp = {
        h: json.loads(RunDir(run_dir).probe_path(h).read_text())["seccomp"]
        for h in ("podman", "podman-nosec")
    }
    assert seccomp["podman"] == {"mode": 2, "filters": 1}, seccomp
    assert seccomp["podman-nosec"]["mode"] == 0, seccomp
    # The mechanisms: UML turns every system call into ptrace stops of the host;
    # TCG emulates CPUID without leaving the process, the native host exits to KVM.
    assert median(run_dir, "uml", "syscall-null") > 20 * median(run_dir, "native", "syscall-null")
    assert median(run_dir, "tcg", "trap-cpuid") < median(run_dir, "native", "trap-cpuid")
    # gVisor serves every system call in its own kernel: a ptrace stop per call here.
    assert median(run_dir, "gvisor", "syscall-null") > 20 * median(
        run_dir, "native", "syscall-null"
    )
    # The analysis of the same run: the intervals say the same, the figures are written.
    assert cmd_overhead(out, str(run_dir), results, None) == 0
    analysis = RunDir(run_dir).analysis_dir
    document = json.loads((analysis / "overhead.json").read_text())
    ratios = {(r["host"], r["benchmark"]): r for r in document["overhead"]}
    assert ratios[("uml", "syscall-null")]["ratio_low"] > 20
    assert ratios[("tcg", "trap-cpuid")]["ratio_high"] < 1
    assert ratios[("tcg", "trap-cpuid")]["verdict"] == "cheaper"
    ring = {r["host"]: r for r in document["mechanisms"] if r["mechanism"] == "ring transition"}
    assert ring["uml"]["added_low_ns"] > 1000 and ring["native"]["added_ns"] is None
    assert {"kernel", "cpu-model"} <= {f["check"] for f in document["flags"] if f["host"] == "tcg"}
    assert (analysis / "mechanisms.svg").stat().st_size > 0

    assert cmd_lab_down(out, instance=TESTS.name, lab_dir=paths.root) == 0
    assert not lab_processes(state.state)
    assert not tagged(TESTS.tag_prefix, prefix=True)
    assert lab_objects(TESTS) == []
    assert containers_of(paths) == [] and mounts_below(paths.root) == []
    assert not paths.state_file.exists()
    assert not paths.run.exists()
    assert not paths.inventory.exists(), "a lab that is down leaves no inventory to run on"
    assert cmd_lab_inventory(instance=TESTS.name, lab_dir=paths.root) == 1


def test_lab_up_after_a_kill(lab_env: Path, out: Console) -> None:
    paths = paths_of(TESTS)
    where = {"instance": TESTS.name, "lab_dir": paths.root, "cache_dir": CACHE}
    inventory = lab_env / "inventory.yaml"
    assert cmd_lab_up(out, inventory=inventory, **where) == 0
    first = StateFile.load(paths.state_file)
    assert first is not None
    victims = lab_processes(first.state)
    assert victims
    for pid in victims:  # a crash: every process of the lab killed, nothing cleaned
        os.kill(pid, signal.SIGKILL)
    assert cmd_lab_status(out, instance=TESTS.name, lab_dir=paths.root) == 1  # hosts down
    assert cmd_lab_up(out, inventory=inventory, **where) == 0, (lab_env / "console.txt").read_text()
    assert "removed a previous lab" in (lab_env / "console.txt").read_text()
    second = StateFile.load(paths.state_file)
    assert second is not None and second.state.tag != first.state.tag
    assert not any(alive(p.pid, p.start) for p in first.state.processes)
    assert {n for n, r in second.state.hosts.items() if r.state == "up"} >= set(EXPECTED)
    assert cmd_lab_down(out, instance=TESTS.name, lab_dir=paths.root) == 0
    assert lab_objects(TESTS) == []
    assert containers_of(paths) == [] and mounts_below(paths.root) == []


def without_guest_kernels(spec: HostSpec) -> bool:
    return spec.name in ("native", "container", "uml")


def answers(paths: LabPaths) -> dict[str, bool]:
    """Each up host of the instance: whether a real SSH session runs ``true`` on it."""
    state = StateFile.load(paths.state_file)
    assert state is not None
    found = {}
    for name, record in state.state.hosts.items():
        if record.state is LabHostState.UP:
            endpoint = Endpoint(record.address, record.port, 0)
            try:
                ssh_true(name, endpoint, paths.client_key, default_known_hosts())
                found[name] = True
            except Exception:
                found[name] = False
    return found


def test_two_instances_side_by_side_one_down_leaves_the_other_up(lab_env: Path) -> None:
    """Two labs on one machine: their own names and subnets; one's down leaves the other
    up, answering real SSH sessions (sshd's /run/sshd is still there)."""
    first, second = paths_of(TESTS), paths_of(SECOND)
    assert TESTS.octet != SECOND.octet
    for paths in (first, second):
        result = lifecycle.up(
            paths, lab_env / f"{paths.instance.name}.yaml", SILENT, without_guest_kernels
        )
        assert {r.name for r in result.hosts if r.state is LabHostState.UP} == {
            "native",
            "container",
            "uml",
        }, result.hosts
    assert len(lab_objects(TESTS)) == len(lab_objects(SECOND)) == 4
    with pytest.raises(LabError, match="another ringbench lab instance's"):
        net.check_free(SECOND.address(1, 0, 30), TESTS)  # the other's subnet is taken
    net.check_free(TESTS.address(1, 0, 30), TESTS)  # its own links do not count
    assert answers(second) == answers(first) == dict.fromkeys(("native", "container", "uml"), True)

    removed, left = lifecycle.down(second)
    assert removed is not None and removed.processes and left == []
    assert lab_objects(SECOND) == [] and not tagged(SECOND.tag_prefix, prefix=True)
    assert Path(PRIVSEP_DIR).is_dir()
    assert len(lab_objects(TESTS)) == 4
    assert answers(first) == dict.fromkeys(("native", "container", "uml"), True)
    lifecycle.down(first)
    assert lab_objects(TESTS) == []


def lab_up_process(paths: LabPaths, inventory: Path, log: Path) -> subprocess.Popen[bytes]:
    """A real ``ringbench lab up`` of ``paths``'s instance, in a process of its own."""
    argv = [sys.executable, "-m", "runners.cli", "lab", "up", "--inventory", str(inventory)]
    argv += ["--instance", paths.instance.name, "--lab-dir", str(paths.root)]
    argv += ["--cache-dir", str(paths.cache)]
    with log.open("wb") as fp:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=fp,
            stderr=subprocess.STDOUT,
            preexec_fn=as_from_a_terminal,
        )


def wait_for(
    proc: subprocess.Popen[bytes], log: Path, what: str, ready: Callable[[], bool]
) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        assert proc.poll() is None, f"lab up ended before {what}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} in {WAIT_S:g} s"
        time.sleep(0.2)


def interrupt(proc: subprocess.Popen[bytes], log: Path) -> str:
    """SIGINT (Ctrl-C), then what it printed once it ended (130, bounded)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"lab up still running 120 s after SIGINT: {log.read_text()[-2000:]}")
    said = log.read_text()
    assert proc.returncode == 130, said
    assert "Traceback" not in said, said
    return said


def commands_in(directory: Path) -> list[str]:
    """The command lines of the processes that name ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes()
            if entry.name.isdigit() and str(directory).encode() in argv:
                found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found


def booting(paths: LabPaths, host: str) -> bool:
    """Whether ``host`` is booting: its process started, no SSH answer yet."""
    with contextlib.suppress(Exception):
        state = StateFile.load(paths.state_file)
        if state is not None:
            record = state.state.hosts.get(host)
            started = any(p.host == host for p in state.state.processes)
            return started and record is not None and record.state is LabHostState.BOOTING
    return False


def test_ctrl_c_while_the_hosts_boot_removes_everything(lab_env: Path) -> None:
    """Every boot abandoned at once (TCG's is still under way, not waited for), and no
    process, namespace, link, tap, known_hosts line or file of the run left."""
    paths = paths_of(TESTS)
    inventory, log = lab_env / "inventory.yaml", lab_env / "lab-up.log"
    proc = lab_up_process(paths, inventory, log)
    wait_for(proc, log, "TCG guest booting", lambda: booting(paths, "tcg"))
    assert lab_objects(TESTS)  # its namespaces and links exist now
    said = interrupt(proc, log)
    assert "lab up interrupted during the boot of " in said, said
    assert "tcg" in said.split("during the boot of")[1].split(":")[0], said
    assert f"nothing of instance {TESTS.name} left" in said
    assert tagged(TESTS.tag_prefix, prefix=True) == []
    assert lab_objects(TESTS) == []
    assert containers_of(paths) == [] and mounts_below(paths.root) == []
    assert not paths.state_file.exists()
    assert not paths.run.exists()
    assert not inventory.exists()
    assert not list(paths.root.glob("**/*.tmp")) and not list(CACHE.glob("*.tmp"))
    known_hosts = lab_env / "known_hosts"
    assert not known_hosts.exists() or known_hosts.read_text().strip() == ""


def test_ctrl_c_during_the_image_build_leaves_no_half_written_file(lab_env: Path) -> None:
    """A new instance builds its image (its keys are new): interrupted, the half-built
    image and whatever was building it are gone."""
    paths = paths_of(Instance("timg"), lab_env / "timg")
    inventory, log = lab_env / "inventory.yaml", lab_env / "lab-up.log"
    proc = lab_up_process(paths, inventory, log)
    wait_for(proc, log, "image build", lambda: any(paths.root.glob("image-*.tmp/rootfs")))
    said = interrupt(proc, log)
    assert "lab up interrupted before any host started" in said, said
    assert not list(paths.root.glob("image-*")), list(paths.root.iterdir())
    assert commands_in(paths.root) == [], "a copy or mkfs of the interrupted build still runs"
    assert not paths.state_file.exists() and not inventory.exists()
    assert mode(paths.root) == "0o700" and mode(paths.keys) == "0o700"


def test_lab_never_replaces_an_inventory_of_the_users(tmp_path: Path) -> None:
    """Refused before anything starts; the shipped default and its own files are replaceable."""
    from runners.lab.invfile import MARKER, check_replaceable

    theirs = tmp_path / "theirs.yaml"
    theirs.write_text("all:\n  hosts:\n    prod1:\n      ansible_host: 10.9.9.9\n")
    with pytest.raises(LabError, match="kept; give the lab its own file"):
        check_replaceable(theirs)
    assert "prod1" in theirs.read_text()
    default = Path(__file__).parent.parent / "inventory.yaml"
    check_replaceable(default)
    own = tmp_path / "lab.yaml"
    own.write_text(f"{MARKER}, written earlier\nall: {{}}\n")
    check_replaceable(own)
    check_replaceable(tmp_path / "new.yaml")
