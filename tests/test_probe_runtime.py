"""The probe on the runtimes users deploy: Podman (with and without its seccomp profile) and
gVisor, recognised with evidence; their confinement in the probe document and the tidy frame.

Fixtures (``tests/data/probe/README.md``): ``podman.json`` and ``podman-nosec.json`` were
captured from Podman 4.3.1 containers (runc, cgroupfs, the default seccomp profile or
``seccomp=unconfined``) on a development machine, ``gvisor.json`` from a runsc sandbox
(ptrace platform, a 9p root) on the same machine, by running this file as a script
(:func:`capture_podman`, :func:`capture_runsc`); ``raw/`` holds files as those hosts
showed them, whole.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from analysis import tidy
from analysis.tidy import COLUMNS
from ringbench.results import RunDir
from runners.classify import VIRT_CLASSES, classify
from runners.evidence import (
    CAPABILITIES,
    Evidence,
    capabilities,
    capability_names,
    cgroup_limits,
    seccomp_state,
)
from runners.inventory import VIRT_CLASSES as DECLARABLE
from runners.probe import (
    _KERNEL_MARKS,
    cgroup_limit_paths,
    collect_evidence,
    parse_kernel_marks,
    probe_document,
)
from runners.transport import LocalConnection, Result
from tests.history_data import FIGURES, write_run
from tests.test_probe import FakeHost, capture, evidence_of, load, technologies

RAW = Path(__file__).parent / "data" / "probe" / "raw"
PODMAN_CAPS = [
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
]


def raw(name: str) -> str:
    return (RAW / name).read_text(encoding="utf-8")


# --- the new hosts, captured ----------------------------------------------------------


def test_podman_with_its_default_seccomp_profile_is_a_container_with_one_filter() -> None:
    ev = load("podman")
    cls = classify(ev)
    assert technologies(cls) == [("hardware-assisted", "KVM"), ("container", "Podman")]
    assert cls.virt_class == "container"
    podman = evidence_of(cls, "Podman")
    assert "/run/.containerenv exists (empty)" in podman
    assert "/proc/self/cgroup path '/libpod_parent/libpod-f42eec38b54d" in podman
    assert "seccomp filter mode with 1 filter (/proc/self/status)" in podman
    assert "effective capabilities 00000000800405fb: 11 of 41 (chown, dac_override" in podman
    assert "cgroup limits: pids_max 2048" in podman
    assert cls.runtime is not None
    assert cls.runtime.to_json() == {"engine": "podman", "oci_runtime": None, "platform": None}
    assert cls.disagreements == ()  # /.dockerenv of the machine's image: Podman's marks first


def test_podman_unconfined_is_the_same_container_without_a_filter() -> None:
    cls = classify(load("podman-nosec"))
    assert technologies(cls) == [("hardware-assisted", "KVM"), ("container", "Podman")]
    podman = evidence_of(cls, "Podman")
    assert "seccomp off (mode 0): no filter (/proc/self/status)" in podman
    assert "seccomp filter" not in podman
    assert seccomp_state(load("podman-nosec")) == {"mode": 0, "filters": 0}
    assert seccomp_state(load("podman")) == {"mode": 2, "filters": 1}


def test_gvisor_on_kvm_is_an_application_kernel_inside_the_vm() -> None:
    """User code runs on the CPU under the ptrace platform: CPUID shows the KVM below."""
    cls = classify(load("gvisor"))
    assert technologies(cls) == [("hardware-assisted", "KVM"), ("application-kernel", "gVisor")]
    assert cls.virt_class == "application-kernel"
    gvisor = evidence_of(cls, "gVisor")
    assert "dmesg '[    0.000000] Starting gVisor...'" in gvisor
    assert "'Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016'" in gvisor
    assert "the root file system is 9p over trans=fd" in gvisor
    assert "ls /proc/sys/ fails (\"ls: cannot access '/proc/sys/': Invalid argument\")" in gvisor
    assert "seccomp off (mode 0)" in gvisor
    assert "namespaces" not in cls.technologies(), "gVisor's own PID space is no container"
    assert cls.runtime is not None
    assert cls.runtime.to_json() == {"engine": "gvisor", "oci_runtime": "runsc", "platform": None}
    assert cls.disagreements == ()


def test_gvisor_started_by_docker_names_docker_as_its_engine() -> None:
    cls = classify(replace(load("gvisor"), dockerenv=True))
    assert cls.virt_class == "application-kernel"
    assert cls.runtime is not None and cls.runtime.engine == "docker"
    assert cls.runtime.oci_runtime == "runsc"
    assert "/.dockerenv exists" in evidence_of(cls, "gVisor")


@pytest.mark.parametrize(
    ("only", "words"),
    [
        ({"dmesg": "[    0.000000] Starting gVisor...\n"}, "dmesg '[    0.000000] Starting gVisor"),
        (
            {"proc_version": "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"},
            "/proc/version 'Linux version 4.4.0 #1",
        ),
        ({"proc_sys_error": "ls: cannot access '/proc/sys/': Invalid argument"}, "ls /proc/sys/"),
        (
            {"root_mount": "8 8 0:8 / / ro  - 9p none ro,trans=fd,rfdno=3,wfdno=3,aname=/"},
            "9p over trans=fd",
        ),
    ],
)
def test_one_mark_of_gvisor_alone_is_a_disagreement_not_an_application_kernel(
    only: dict[str, str], words: str
) -> None:
    """Any one of gVisor's marks on the KVM guest (a faked /proc/version, a 9p root): the
    host stays what the rest says, and the lone mark is recorded."""
    cls = classify(replace(load("kvm-guest"), **only))  # type: ignore[arg-type]
    assert cls.virt_class == "hardware-assisted"
    (note,) = [d for d in cls.disagreements if "gVisor" in d]
    assert words in note and "no other mark of gVisor agrees" in note


def test_gvisor_with_a_single_mark_left_is_not_called_gvisor() -> None:
    ev = replace(
        load("gvisor"),
        dmesg=None,
        proc_version="Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        cpuinfo=load("kvm-guest").cpuinfo,
        proc_sys_error="",
    )
    cls = classify(ev)
    assert all(layer.virt_class != "application-kernel" for layer in cls.layers)
    assert any("9p over trans=fd" in d and "no other mark" in d for d in cls.disagreements)


def test_application_kernel_is_a_class_everywhere_classes_are_listed() -> None:
    assert "application-kernel" in VIRT_CLASSES and "application-kernel" in DECLARABLE


# --- container engines from cgroup paths and marker files -----------------------------


ID = "4eed6683a3ce3061b0af87f68910ccbc5b2d80087ecab622b15e5cf72165961b"


@pytest.mark.parametrize(
    ("cgroup", "technology", "engine"),
    [
        (f"0::/machine.slice/libpod-{ID}.scope/container\n", "Podman", "podman"),
        (f"0::/system.slice/docker-{ID}.scope\n", "Docker", "docker"),
        (f"12:memory:/docker/{ID}\n", "Docker", "docker"),
        (
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b.slice/"
            f"cri-containerd-{ID}.scope\n",
            "containerd",
            "containerd",
        ),
        (f"0::/kubepods/besteffort/pod1a2b/{ID}\n", "Kubernetes", "kubernetes"),
        ("0::/lxc.payload.web01\n", "LXC", "lxc"),
        ("7:memory:/lxc/web01\n", "LXC", "lxc"),
    ],
)
def test_the_engine_from_the_cgroup_path(cgroup: str, technology: str, engine: str) -> None:
    ev = replace(load("docker-bare-metal"), dockerenv=False, pid1_cgroup="0::/\n")
    cls = classify(replace(ev, self_cgroup=cgroup))
    assert technologies(cls) == [("container", technology)]
    assert f"/proc/self/cgroup path '{cgroup.split(':', 2)[2].strip()}'" in cls.layers[0].evidence
    assert cls.runtime is not None and cls.runtime.engine == engine


def test_containerenv_with_its_engine_names_podman_and_its_version() -> None:
    text = 'engine="podman-4.3.1"\nname="podman"\nid="4eed"\nimage="localhost/lab"\n'
    cls = classify(replace(load("podman"), containerenv_text=text))
    assert '/run/.containerenv exists, engine="podman-4.3.1"' in evidence_of(cls, "Podman")


def test_a_marker_and_a_cgroup_naming_two_engines_disagree() -> None:
    cls = classify(replace(load("podman"), containerenv=False, self_cgroup=f"0::/docker/{ID}\n"))
    assert technologies(cls)[-1] == ("container", "Docker")
    cls = classify(replace(load("docker-bare-metal"), self_cgroup=f"0::/libpod-{ID}\n"))
    assert "/.dockerenv exists (Docker), but /proc/self/cgroup path" in cls.disagreements[0]


def test_the_lab_container_keeps_its_namespaces_and_no_engine() -> None:
    cls = classify(load("lab-container"))
    assert cls.layers[-1].technology == "namespaces (unshare/chroot)"
    assert cls.runtime is None


# --- the confinement decoders ---------------------------------------------------------


def test_capabilities_decode_by_bit_number() -> None:
    assert len(CAPABILITIES) == 41 and CAPABILITIES[40] == "checkpoint_restore"
    assert capability_names(0x800405FB) == sorted(PODMAN_CAPS)
    assert capability_names(1 << 21 | 1 << 45) == ["bit45", "sys_admin"]
    caps = capabilities(load("podman"))
    assert caps == {"effective": "00000000800405fb", "names": sorted(PODMAN_CAPS)}
    native = Evidence(self_status="CapEff:\t000001ffffffffff\n")
    assert capabilities(native) == {"effective": "000001ffffffffff", "names": sorted(CAPABILITIES)}


def test_cgroup_limits_v1_v2_and_no_limit() -> None:
    v1 = cgroup_limits(load("podman"))
    assert v1 == {"memory_max_bytes": None, "cpu_quota": "max", "pids_max": 2048}
    v2 = Evidence(
        cgroup_limits="/sys/fs/cgroup/a/memory.max 536870912\n/sys/fs/cgroup/a/cpu.max "
        "50000 100000\n/sys/fs/cgroup/a/pids.max max\n/sys/fs/cgroup/pids.max 10\n"
    )
    assert cgroup_limits(v2) == {
        "memory_max_bytes": 536870912,
        "cpu_quota": "50000/100000",
        "pids_max": None,
    }
    quota = Evidence(
        cgroup_limits="/sys/fs/cgroup/cpu/cpu.cfs_quota_us 20000\n"
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us 100000\n"
    )
    expected = {"memory_max_bytes": None, "cpu_quota": "20000/100000", "pids_max": None}
    assert cgroup_limits(quota) == expected
    assert cgroup_limits(Evidence()) is None and cgroup_limits(load("gvisor")) is None


def test_the_limit_files_of_the_process_cgroup_come_first_and_odd_paths_are_not_followed() -> None:
    cgroup = raw("podman-cgroup.txt")
    own = cgroup.split("\n")[1].split(":", 2)[2]  # 8:pids:/libpod_parent/libpod-<id>
    paths = cgroup_limit_paths(cgroup)
    assert paths[:5] == [
        f"/sys/fs/cgroup/pids{own}/pids.max",
        f"/sys/fs/cgroup/memory{own}/memory.limit_in_bytes",
        f"/sys/fs/cgroup/cpu{own}/cpu.cfs_quota_us",
        f"/sys/fs/cgroup/cpu{own}/cpu.cfs_period_us",
        f"/sys/fs/cgroup{own}/memory.max",
    ]
    assert paths[-1] == "/sys/fs/cgroup/pids/pids.max" and len(paths) == len(set(paths))
    hostile = "0::/../../etc\n0::/a/./b\n1:memory:/x\x1b[2J\n0::/" + "a" * 5000 + "\n"
    odd = cgroup_limit_paths(hostile)
    assert all(".." not in p and "\x1b" not in p and len(p) < 500 for p in odd)
    assert cgroup_limit_paths(None) == cgroup_limit_paths("0::/\n")


# --- collection: whole files as the hosts showed them, and garbage --------------------


class RuntimeHost(FakeHost):
    """FakeHost answering the kernel-marks script too (exit 127 by default: no answer)."""

    def __init__(self, outputs: dict[tuple[str, ...], tuple[int, str]], marks: str = "") -> None:
        super().__init__(outputs)
        self.marks = marks

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        if argv[:3] == ["sh", "-c", _KERNEL_MARKS]:
            return Result(tuple(argv), self.marks, "", 0, 0.0)
        return super().run(argv, timeout_s=timeout_s, check=check)


def cat(path: str, text: str) -> tuple[tuple[str, ...], tuple[int, str]]:
    return ("cat", "--", path), (0, text)


def test_collect_keeps_the_confinement_lines_of_a_whole_podman_status() -> None:
    """The container's own cgroup is what /sys/fs/cgroup shows (runc bind-mounts it): the
    files under its host path are not there."""
    limits = {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
        "/sys/fs/cgroup/pids/pids.max": "2048",
    }
    host = RuntimeHost(
        dict(
            [
                cat("/proc/self/status", raw("podman-status.txt")),
                cat("/proc/self/cgroup", raw("podman-cgroup.txt")),
                cat("/proc/self/mountinfo", raw("podman-mountinfo.txt")),
                cat("/run/.containerenv", ""),
                cat("/proc/1/comm", "sshd\n"),
                *(cat(path, f"{value}\n") for path, value in limits.items()),
            ]
        ),
        marks="0 \n",
    )
    ev = collect_evidence(host, None)
    assert ev.self_status == (
        "CapEff:\t00000000800405fb\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n"
    )
    assert ev.containerenv is True and ev.containerenv_text == ""
    assert ev.cgroup_limits == "".join(f"{path} {value}\n" for path, value in limits.items())
    assert ev.proc_sys_error == "" and ev.dmesg is None
    cls = classify(ev)
    assert technologies(cls) == [("container", "Podman")]
    doc = json.loads(json.dumps(probe_document({}, ev, cls)))
    assert doc["seccomp"] == {"mode": 2, "filters": 1}
    assert doc["capabilities"]["names"] == sorted(PODMAN_CAPS)
    assert doc["cgroup_limits"] == {"memory_max_bytes": None, "cpu_quota": "max", "pids_max": 2048}
    assert doc["runtime"] == {"engine": "podman", "oci_runtime": None, "platform": None}


def test_collect_reads_gvisor_marks_from_its_whole_files() -> None:
    host = RuntimeHost(
        dict(
            [
                cat("/proc/self/status", raw("gvisor-status.txt")),
                cat("/proc/self/mountinfo", raw("gvisor-mountinfo.txt")),
                cat("/proc/self/cgroup", ""),
                cat("/proc/version", "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n"),
                cat("/proc/1/comm", "sshd\n"),
            ]
        ),
        marks="2 ls: cannot access '/proc/sys/': Invalid argument\n" + raw("gvisor-dmesg.txt"),
    )
    ev = collect_evidence(host, None)
    assert ev.self_status == "CapEff:\t00000000800405fb\nSeccomp:\t0\n"
    assert ev.dmesg is not None and ev.dmesg.startswith("[    0.000000] Starting gVisor...\n")
    assert ev.cgroup_limits is None and ev.self_cgroup == ""
    cls = classify(ev)
    assert cls.virt_class == "application-kernel" and cls.technologies() == "gVisor"
    doc = probe_document({}, ev, cls)
    assert doc["seccomp"] == {"mode": 0, "filters": None} and doc["cgroup_limits"] is None


def test_kernel_marks_from_the_real_shell() -> None:
    """This machine lists /proc/sys; dmesg prints its log or nothing (dmesg_restrict)."""
    result = LocalConnection().run(["sh", "-c", _KERNEL_MARKS], timeout_s=30, check=False)
    error, dmesg = parse_kernel_marks(result.stdout)
    assert error == ""
    assert dmesg is None or (len(dmesg) <= 8192 + 1 and dmesg.count("\n") <= 20)
    assert parse_kernel_marks("") == (None, None)
    assert parse_kernel_marks("127 sh: ls: not found\n") == (None, None)
    assert parse_kernel_marks("2 \n") == ("ls exited 2", None)


GARBAGE = "\x1b[2J\x00\ufffd" + "9" * 3000 + "\n:::\n" + "z\x07" * 3000


@pytest.mark.parametrize(
    "path",
    [
        "/proc/self/status",
        "/proc/self/cgroup",
        "/run/.containerenv",
        "/proc/version",
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "/sys/fs/cgroup/pids/pids.max",
    ],
)
def test_garbage_in_each_new_file_is_evidence_never_an_exception(path: str) -> None:
    host = RuntimeHost(dict([cat(path, GARBAGE * 3)]), marks=GARBAGE)
    ev = collect_evidence(host, None)
    for name, value in ev.to_json().items():
        if isinstance(value, str):
            assert len(value) <= 16 * 1024 + 3, name
            assert "\x1b" not in value and "\x00" not in value and "\x07" not in value, name
    cls = classify(ev)
    doc = probe_document({}, ev, cls)
    json.dumps(doc, allow_nan=False)
    assert doc["seccomp"] is None and doc["capabilities"] is None
    for line in (*cls.disagreements, *(e for layer in cls.layers for e in layer.evidence)):
        assert line.isprintable(), line


@pytest.mark.parametrize(
    "status",
    [
        "Seccomp:\t3\nSeccomp_filters:\t-1\nCapEff:\t0x1\n",
        "Seccomp:\t\u0662\nCapEff:\t" + "f" * 17 + "\n",
        "Seccomp: 2 2\nSeccomp_filters: " + "9" * 30 + "\nCapEff:\tzz\n",
    ],
)
def test_status_lines_out_of_format_are_unknown(status: str) -> None:
    ev = Evidence(self_status=status)
    state = seccomp_state(ev)
    assert state is None or state["filters"] is None
    assert capabilities(ev) is None


# --- the tidy frame -------------------------------------------------------------------


def test_tidy_reads_the_runtime_columns_from_the_probe_documents(tmp_path: Path) -> None:
    """native's probe document is an older one (none of the keys), podman-nosec has none
    at all: their columns are unknown; the others carry what their probes found."""
    hosts = ("native", "podman", "podman-nosec", "gvisor")
    run = write_run(tmp_path, 0, {h: FIGURES["native"] for h in hosts})
    for host in ("podman", "gvisor"):
        ev = load(host)
        RunDir(run).write_probe(host, probe_document({}, ev, classify(ev)))
    RunDir(run).write_probe("native", {"format_version": 1, "virt_class": "hardware-assisted"})
    df = load_frame(run)
    assert list(df.columns) == COLUMNS
    per_host = df.groupby("host", observed=True).first().to_dict("index")
    assert per_host["podman"]["seccomp_mode"] == 2.0
    assert per_host["podman"]["seccomp_filters"] == 1.0
    assert per_host["podman"]["container_engine"] == "podman"
    assert per_host["podman"]["oci_runtime"] == ""
    assert per_host["gvisor"]["seccomp_mode"] == 0.0
    assert math.isnan(per_host["gvisor"]["seccomp_filters"])
    assert per_host["gvisor"]["container_engine"] == "gvisor"
    assert per_host["gvisor"]["oci_runtime"] == "runsc"
    for host in ("native", "podman-nosec"):
        assert math.isnan(per_host[host]["seccomp_mode"])
        assert math.isnan(per_host[host]["seccomp_filters"])
        assert per_host[host]["container_engine"] == "" == per_host[host]["oci_runtime"]
    assert df["container_engine"].dtype == "category" and df["seccomp_mode"].dtype == float
    assert len(df) == len(hosts) * len(df[df["host"] == "native"])


def test_tidy_takes_a_probe_document_out_of_format_as_unknown(tmp_path: Path) -> None:
    run = write_run(tmp_path, 0, {"podman": FIGURES["native"], "gvisor": FIGURES["native"]})
    bad = {"seccomp": {"mode": True, "filters": 2**40}, "runtime": {"engine": "x\x1b[2J" * 9}}
    RunDir(run).write_probe("podman", bad)
    RunDir(run).probe_path("gvisor").write_text("{not json", encoding="utf-8")
    df = load_frame(run)
    assert df["seccomp_mode"].isna().all() and df["seccomp_filters"].isna().all()
    assert set(df["container_engine"]) == {""} and set(df["oci_runtime"]) == {""}


def load_frame(run: Path) -> pd.DataFrame:
    return tidy.load(run)


# --- capture (run this file as a script) ----------------------------------------------


class PodmanExec(LocalConnection):
    """Runs each command by ``podman exec`` in a running container (for captures)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        return super().run(["podman", "exec", self.name, *argv], timeout_s=timeout_s, check=check)


class RunscRun(LocalConnection):
    """Runs each command as a runsc sandbox of its own, from an OCI bundle (for captures)."""

    def __init__(self, bundle: Path, state: Path) -> None:
        super().__init__("gvisor")
        self.bundle, self.state, self.count = bundle, state, 0

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        config = json.loads((self.bundle / "config.json").read_text(encoding="utf-8"))
        config["process"]["args"] = list(argv)
        caps = [f"CAP_{name.upper()}" for name in PODMAN_CAPS]
        config["process"]["capabilities"] = dict.fromkeys(
            ("bounding", "effective", "permitted"), caps
        )
        (self.bundle / "config.json").write_text(json.dumps(config), encoding="utf-8")
        self.count += 1
        runsc = ["runsc", "--root", str(self.state)]
        cid = f"ringbench-capture-{self.count}"
        try:
            run = [*runsc, "--platform=ptrace", "--network=none", "run", "--bundle"]
            return super().run([*run, str(self.bundle), cid], timeout_s=timeout_s, check=check)
        finally:
            subprocess.run([*runsc, "delete", "--force", cid], capture_output=True, timeout=30)


def capture_podman(out: Path, harness: str, options: list[str]) -> Evidence:
    name = f"ringbench-capture-{os.getpid()}"
    podman = ["podman", "--runtime", "/usr/sbin/runc", "--cgroup-manager", "cgroupfs"]
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    run = [*podman, "run", "-d", "--rm", "--name", name, "--network", "none", *limits]
    subprocess.run([*run, *options, "--rootfs", "/:O", "sleep", "600"], check=True, timeout=120)
    try:
        return capture(PodmanExec(name), harness, out)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=120)


def capture_runsc(out: Path, harness: str) -> Evidence:
    with tempfile.TemporaryDirectory() as tmp:
        bundle, state = Path(tmp) / "bundle", Path(tmp) / "state"
        bundle.mkdir()
        state.mkdir()
        subprocess.run(["runsc", "spec", "--", "true"], cwd=bundle, check=True, timeout=30)
        config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
        config["root"] = {"path": "/", "readonly": True}
        config["process"]["terminal"] = False
        (bundle / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return capture(RunscRun(bundle, state), harness, out)


if __name__ == "__main__":
    # python -m tests.test_probe_runtime podman|runsc OUT.json HARNESS [PODMAN-RUN-OPTIONS]
    kind, target, binary = sys.argv[1], Path(sys.argv[2]), str(Path(sys.argv[3]).resolve())
    if kind == "podman":
        found = capture_podman(target, binary, sys.argv[4:])
    else:
        found = capture_runsc(target, binary)
    print(json.dumps(classify(found).to_json(), indent=1))
