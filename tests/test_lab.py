"""The local lab for real: every host up, a --fast run on all of them, nothing left after.

Needs root, /dev/net/tun and QEMU (CI runs as root on these machines; the lab
installs its own packages, so only root and the tun device are checked before
bringing it up). The lab's cache ($RINGBENCH_LAB_DIR or
/var/cache/ringbench-lab) is shared with ``ringbench lab up``: a lab already
up on this machine is taken down by these tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import statistics
from collections.abc import Iterator
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

from runners.cli.analysis import cmd_overhead
from runners.cli.lab import cmd_lab_down, cmd_lab_status, cmd_lab_up
from runners.cli.run import cmd_run
from runners.execute import FAST
from runners.lab import net
from runners.lab.paths import LINK_PREFIX, NETNS_PREFIX, LabPaths
from runners.lab.placement import Placement
from runners.lab.procs import alive, tagged, with_descendants
from runners.lab.state import StateFile, lab_processes
from runners.lab.status import lab_status
from suites.build import BuildInfo

EXPECTED = {
    "native": "hardware-assisted",
    "container": "container",
    "uml": "paravirtualized",
    "tcg": "binary-translation",
}

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


@pytest.fixture
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private known_hosts and ssh config; the lab's own directory (and cache) as usual.

    A lab the user has up is never taken down: these tests share its directory and
    its namespace names, so they skip, saying so, until the lab can run as an instance
    of its own (issue 14)."""
    hosts = lab_status(LabPaths.default()) or []
    if any(h.state == "up" for h in hosts):  # a state file of a dead lab is cleaned up instead
        pytest.skip(
            f"a lab is up in {LabPaths.default().root}: these tests would take it down "
            "(run 'ringbench lab down' to run them)"
        )
    config = tmp_path / "ssh_config"
    config.write_text("")
    monkeypatch.setenv("RINGBENCH_SSH_CONFIG", str(config))
    monkeypatch.setenv("RINGBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    yield tmp_path
    cmd_lab_down(Console(file=io.StringIO()))


@pytest.fixture
def out(lab_env: Path) -> Iterator[Console]:
    """A console writing to console.txt (shown when an assertion fails)."""
    with (lab_env / "console.txt").open("a") as fp:
        yield Console(file=fp, width=200)


def lab_objects() -> list[str]:
    """Every namespace and link on this machine named like the lab's."""
    found = [f"netns {n}" for n in net.list_netns() if n.startswith(NETNS_PREFIX)]
    links = json.loads(net.ip("-json", "link", "show") or "[]")
    found += [
        f"link {link['ifname']}"
        for link in links
        if str(link["ifname"]).startswith(f"{LINK_PREFIX}-")
    ]
    return found


def median(run_dir: Path, host: str, bench: str) -> float:
    suite = pyperf.BenchmarkSuite.load(str(run_dir / f"{host}.json"))
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


def test_lab_up_run_classify_down(harness: BuildInfo, lab_env: Path, out: Console) -> None:
    inventory = lab_env / "inventory.yaml"
    assert cmd_lab_up(out, inventory=inventory) == 0, (lab_env / "console.txt").read_text()
    assert cmd_lab_status(out) == 0
    state = StateFile.load(LabPaths.default().state_file)
    assert state is not None
    up = {n for n, r in state.state.hosts.items() if r.state == "up"}
    assert set(EXPECTED) <= up, state.state.hosts
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
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    placed = pyperf.BenchmarkSuite.load(str(run_dir / "uml.json")).get_metadata()
    assert "on CPU" in placed["placement"], "the placement is one of the host's facts"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for host in EXPECTED:
        entry = manifest["hosts"][host]
        assert entry["status"] == "complete", (host, entry)
        for bench in ("syscall-null", "trap-cpuid"):
            assert entry["benchmarks"][bench]["status"] == "success", (host, bench, entry)
    for host, virt_class in EXPECTED.items():
        probe = json.loads((run_dir / f"{host}.probe.json").read_text())
        assert probe["virt_class"] == virt_class, (host, probe["layers"])
    # The mechanisms: UML turns every system call into ptrace stops of the host;
    # TCG emulates CPUID without leaving the process, the native host exits to KVM.
    assert median(run_dir, "uml", "syscall-null") > 20 * median(run_dir, "native", "syscall-null")
    assert median(run_dir, "tcg", "trap-cpuid") < median(run_dir, "native", "trap-cpuid")
    # The analysis of the same run: the intervals say the same, the figures are written.
    assert cmd_overhead(out, str(run_dir), results, None) == 0
    document = json.loads((run_dir / "analysis" / "overhead.json").read_text())
    ratios = {(r["host"], r["benchmark"]): r for r in document["overhead"]}
    assert ratios[("uml", "syscall-null")]["ratio_low"] > 20
    assert ratios[("tcg", "trap-cpuid")]["ratio_high"] < 1
    assert ratios[("tcg", "trap-cpuid")]["verdict"] == "cheaper"
    ring = {r["host"]: r for r in document["mechanisms"] if r["mechanism"] == "ring transition"}
    assert ring["uml"]["added_low_ns"] > 1000 and ring["native"]["added_ns"] is None
    assert {"kernel", "cpu-model"} <= {f["check"] for f in document["flags"] if f["host"] == "tcg"}
    assert (run_dir / "analysis" / "mechanisms.svg").stat().st_size > 0

    assert cmd_lab_down(out) == 0
    assert not lab_processes(state.state)
    assert not tagged(state.state.tag)
    assert lab_objects() == []
    assert not LabPaths.default().state_file.exists()


def test_lab_up_after_a_kill(lab_env: Path, out: Console) -> None:
    inventory = lab_env / "inventory.yaml"
    assert cmd_lab_up(out, inventory=inventory) == 0
    first = StateFile.load(LabPaths.default().state_file)
    assert first is not None
    victims = lab_processes(first.state)
    assert victims
    for pid in victims:  # a crash: every process of the lab killed, nothing cleaned
        os.kill(pid, signal.SIGKILL)
    assert cmd_lab_status(out) == 1  # hosts down: their processes are gone
    assert cmd_lab_up(out, inventory=inventory) == 0, (lab_env / "console.txt").read_text()
    assert "removed a previous lab" in (lab_env / "console.txt").read_text()
    second = StateFile.load(LabPaths.default().state_file)
    assert second is not None and second.state.tag != first.state.tag
    assert not any(alive(p.pid, p.start) for p in first.state.processes)
    assert {n for n, r in second.state.hosts.items() if r.state == "up"} >= set(EXPECTED)
    assert cmd_lab_down(out) == 0
    assert lab_objects() == []


def test_lab_never_replaces_an_inventory_of_the_users(tmp_path: Path) -> None:
    """Refused before anything starts; the shipped default and its own files are replaceable."""
    from runners.lab.invfile import MARKER, check_replaceable
    from runners.lab.procs import LabError

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
