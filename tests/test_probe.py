"""The virtualization probe: classification of captured and derived evidence, and a live probe.

Fixtures under ``tests/data/probe/`` (see its README.md): ``kvm-guest.json``
and ``lab-container.json`` were captured on a development machine with
:func:`capture` (run this file as a script); the others are derived from
the facts in LAB.md and the kernels' and systemd's sources.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners.classify import VIRT_CLASSES
from runners.hostfacts import _READ_SCRIPT
from runners.probe import (
    _DETECT_VIRT,
    Classification,
    Evidence,
    classify,
    collect_evidence,
    compare_declared,
    parse_detect_virt,
    probe_document,
)
from runners.transport import Connection, LocalConnection, Result
from suites.build import BuildInfo

DATA = Path(__file__).parent / "data" / "probe"


def load(name: str) -> Evidence:
    return Evidence.from_json(json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")))


def capture(conn: Connection, harness: str, out: Path) -> Evidence:
    """Collect evidence through ``conn`` and save it as a fixture."""
    ev = collect_evidence(conn, harness)
    out.write_text(json.dumps(ev.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return ev


class NsenterConnection(LocalConnection):
    """Runs each command inside the namespaces and root of process ``pid`` (for captures)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"pid-{pid}")
        self.prefix = [
            "nsenter",
            f"--target={pid}",
            "--mount",
            "--uts",
            "--ipc",
            "--pid",
            "--net",
            "--root",
            "--wd",
        ]

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        return super().run([*self.prefix, *argv], timeout_s=timeout_s, check=check)


def technologies(cls: Classification) -> list[tuple[str, str]]:
    return [(layer.virt_class, layer.technology) for layer in cls.layers]


def evidence_of(cls: Classification, technology: str) -> str:
    return " | ".join(next(x for x in cls.layers if x.technology == technology).evidence)


# --- captured on this kind of machine -------------------------------------------------


def test_captured_kvm_guest_is_hardware_assisted_kvm() -> None:
    cls = classify(load("kvm-guest"))
    assert technologies(cls) == [("hardware-assisted", "KVM")]
    assert cls.virt_class == "hardware-assisted"
    kvm = evidence_of(cls, "KVM")
    assert "CPUID 0x40000000 vendor 'KVMKVMKVM'" in kvm
    assert "systemd-detect-virt --vm says 'kvm'" in kvm
    assert "/proc/cpuinfo flag 'hypervisor'" in kvm


def test_a_dockerenv_left_in_a_vm_image_is_a_disagreement_not_a_container() -> None:
    """The development VM's root file system came from a Docker image: /.dockerenv is there,
    systemd-detect-virt --container believes it, but the process sees kthreadd and /dev/vda."""
    ev = load("kvm-guest")
    assert ev.dockerenv and ev.detect_virt_container == "docker"
    cls = classify(ev)
    assert all(layer.virt_class != "container" for layer in cls.layers)
    (note,) = [d for d in cls.disagreements if "/.dockerenv" in d]
    assert "systemd-detect-virt --container says 'docker'" in note
    assert "kthreadd" in note and "not a container" in note


def test_captured_lab_container_is_namespaces_on_kvm() -> None:
    """unshare --mount --uts --ipc --pid --net --fork --mount-proc, chroot, sshd as PID 1."""
    ev = load("lab-container")
    cls = classify(ev)
    assert technologies(cls) == [
        ("hardware-assisted", "KVM"),
        ("container", "namespaces (unshare/chroot)"),
    ]
    assert cls.virt_class == "container"
    container = evidence_of(cls, "namespaces (unshare/chroot)")
    assert "not kthreadd: a PID namespace" in container
    assert "the root is a chroot" in container
    assert "PID 1 is 'sshd', not an init" in container
    assert any("--container says 'none'" in d for d in cls.disagreements)


# --- derived from LAB.md and the sources ----------------------------------------------


def test_uml_inside_kvm_has_two_layers() -> None:
    """UML's user code runs natively, so CPUID shows the KVM underneath."""
    cls = classify(load("uml-in-kvm"))
    assert technologies(cls) == [
        ("hardware-assisted", "KVM"),
        ("paravirtualized", "User-Mode Linux"),
    ]
    assert cls.virt_class == "paravirtualized"
    uml = evidence_of(cls, "User-Mode Linux")
    assert "/proc/cpuinfo vendor_id 'User Mode Linux'" in uml
    assert "systemd-detect-virt --vm says 'uml'" in uml
    assert "/proc/cpuinfo host 'Linux vm" in uml


def test_uml_where_systemd_says_kvm_is_a_disagreement() -> None:
    cls = classify(replace(load("uml-in-kvm"), detect_virt_vm="kvm"))
    assert cls.virt_class == "paravirtualized"
    assert any("says 'kvm', the outer layer" in d for d in cls.disagreements)


def test_qemu_tcg_is_binary_translation() -> None:
    cls = classify(load("qemu-tcg"))
    assert technologies(cls) == [("binary-translation", "QEMU TCG")]
    tcg = evidence_of(cls, "QEMU TCG")
    assert "vendor 'TCGTCGTCGTCG'" in tcg
    assert "systemd-detect-virt --vm says 'qemu'" in tcg
    assert "DMI sys_vendor 'QEMU'" in tcg
    assert not [d for d in cls.disagreements if "systemd" in d or "DMI" in d]


def test_tcg_where_systemd_says_kvm_is_a_disagreement() -> None:
    cls = classify(replace(load("qemu-tcg"), detect_virt_vm="kvm"))
    assert cls.virt_class == "binary-translation"
    assert "systemd-detect-virt --vm says 'kvm' but the probe finds QEMU TCG" in cls.disagreements


def test_container_on_an_old_kernel_shows_the_host_pid_of_pid1() -> None:
    """Before Linux 4.14, /proc/1/sched printed the PID as the host sees it."""
    cls = classify(load("container-old-kernel"))
    assert cls.virt_class == "container"
    assert "/proc/1/sched shows PID 1 as host PID 4242" in evidence_of(
        cls, "namespaces (unshare/chroot)"
    )
    assert any("--container says 'none'" in d for d in cls.disagreements)


def test_docker_on_bare_metal() -> None:
    cls = classify(load("docker-bare-metal"))
    assert technologies(cls) == [("container", "Docker")]
    docker = evidence_of(cls, "Docker")
    assert "/.dockerenv exists" in docker
    assert "/proc/1/cgroup path '/docker/" in docker
    assert "the root file system is overlay" in docker
    assert cls.disagreements == ()


def test_docker_sharing_the_host_pid_namespace_is_still_docker() -> None:
    """--pid=host --cgroupns=private: kthreadd in sight, but the root is overlay."""
    ev = replace(
        load("docker-bare-metal"),
        pid1_cgroup="0::/\n",
        pid1_comm="systemd",
        pid1_sched="systemd (1, #threads: 1)",
        pid2_comm="kthreadd",
    )
    cls = classify(ev)
    assert technologies(cls) == [("container", "Docker")]
    assert cls.disagreements == ()


def test_container_init_supports_the_container_layer() -> None:
    cls = classify(replace(load("docker-bare-metal"), pid1_comm="tini"))
    assert "PID 1 is 'tini', an init made for containers" in evidence_of(cls, "Docker")


def test_bare_metal() -> None:
    cls = classify(load("bare-metal"))
    assert cls.layers == () and cls.virt_class == "bare-metal"
    assert cls.disagreements == ()


def test_dmi_naming_a_vm_without_the_hypervisor_bit_is_a_disagreement() -> None:
    cls = classify(replace(load("bare-metal"), dmi_sys_vendor="QEMU"))
    assert cls.virt_class == "bare-metal"
    assert "DMI sys_vendor 'QEMU' names a virtual machine but the probe finds no hypervisor" in (
        cls.disagreements
    )


def test_xen_pv_is_one_paravirtualized_layer() -> None:
    cls = classify(load("xen-pv"))
    assert technologies(cls) == [("paravirtualized", "Xen PV")]
    xen = evidence_of(cls, "Xen PV")
    assert "guest_type 'PV'" in xen and "XenVMMXenVMM" in xen
    assert cls.disagreements == ()


def test_xen_pv_whose_cpuid_reaches_kvm_is_nested() -> None:
    """Without CPUID faulting a PV guest's CPUID is answered below Xen, here by KVM."""
    kvm_cpuid = load("kvm-guest").cpuid
    cls = classify(replace(load("xen-pv"), cpuid=kvm_cpuid))
    assert technologies(cls) == [("hardware-assisted", "KVM"), ("paravirtualized", "Xen PV")]


def test_xen_hvm_from_sysfs_and_cpuid() -> None:
    ev = replace(load("xen-pv"), hypervisor_guest_type="HVM")
    assert technologies(classify(ev)) == [("hardware-assisted", "Xen HVM")]


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("Microsoft Hv", ("hardware-assisted", "Hyper-V")),
        ("VMwareVMware", ("hardware-assisted", "VMware")),
        ("bhyve bhyve", ("hardware-assisted", "bhyve")),
        ("ACRNACRNACRN", ("hardware-assisted", "ACRN")),
        ("VBoxVBoxVBox", ("hardware-assisted", "VirtualBox")),
        ("NewHyperVsr", ("hardware-assisted", "unknown hypervisor 'NewHyperVsr'")),
        ("", ("hardware-assisted", "unknown hypervisor")),
    ],
)
def test_cpuid_vendors(vendor: str, expected: tuple[str, str]) -> None:
    ev = load("kvm-guest")
    assert ev.cpuid is not None
    ev = replace(ev, cpuid={**ev.cpuid, "hypervisor_vendor": vendor}, detect_virt_vm=None)
    assert technologies(classify(ev))[0] == expected


def test_without_cpuid_systemd_names_the_layer_and_says_why() -> None:
    ev = replace(load("kvm-guest"), cpuid=None, harness_error="no harness binary on this host")
    cls = classify(ev)
    assert technologies(cls) == [("hardware-assisted", "KVM")]
    assert "no CPUID evidence: no harness binary on this host" in cls.disagreements
    assert "systemd-detect-virt --vm says 'kvm'" in cls.layers[0].evidence


# --- declared against found, the document ---------------------------------------------


def test_compare_declared() -> None:
    kvm = classify(load("kvm-guest"))
    assert compare_declared(kvm, None) is None
    assert compare_declared(kvm, "hardware-assisted") is None
    warning = compare_declared(kvm, "container")
    assert warning is not None and "kept, unconfirmed" in warning
    other = compare_declared(kvm, "binary-translation")
    assert other == "declared 'binary-translation' but the probe finds hardware-assisted (KVM)"
    container = classify(load("lab-container"))
    assert compare_declared(container, "container") is None
    mismatch = compare_declared(container, "paravirtualized")
    assert mismatch is not None and "KVM > namespaces" in mismatch


def test_probe_document_round_trips() -> None:
    ev = load("uml-in-kvm")
    cls = classify(ev)
    doc = json.loads(json.dumps(probe_document({"hostname": "uml"}, ev, cls)))
    assert doc["format_version"] == 1
    assert doc["virt_class"] == "paravirtualized"
    assert [x["technology"] for x in doc["layers"]] == ["KVM", "User-Mode Linux"]
    assert Evidence.from_json(doc["evidence"]) == ev


def test_evidence_rejects_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        Evidence.from_json({"cpu": "x"})
    with pytest.raises(ValueError, match="dockerenv must be bool"):
        Evidence.from_json({"dockerenv": "yes"})


# --- collection, with a fake host and on this machine ---------------------------------


class FakeHost:
    """A fake host (a minimal root file system cannot be produced on this machine):
    its files and commands are a dict; anything else is missing. A file is given
    as ``("cat", "--", PATH)``; the batched read of HostReader is answered from them."""

    host = "fake"

    def __init__(self, outputs: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.outputs = outputs

    def _batch(self, boundary: str, paths: list[str]) -> str:
        out = []
        for path in paths:
            code, text = self.outputs.get(("cat", "--", path), (1, ""))
            exists = code == 0 or ("test", "-e", path) in self.outputs
            kind = "f" if code == 0 else ("e" if exists else "n")
            out.append(f"\n{boundary} {path}\n{kind}\n{text if code == 0 else ''}")
        return "".join(out)

    def run(self, argv: list[str], *, timeout_s: float, check: bool = True) -> Result:
        if argv[:2] == ["sh", "-c"] and argv[2] == _READ_SCRIPT:
            return Result(tuple(argv), self._batch(argv[4], argv[5:]), "", 0, 0.0)
        if argv[:2] == ["sh", "-c"] and argv[2] == _DETECT_VIRT:
            lines = []
            for flag in ("--vm", "--container"):
                code, out = self.outputs.get(("systemd-detect-virt", flag), (127, ""))
                lines.append(f"{code} {out.strip()}\n")
            return Result(tuple(argv), "".join(lines), "", 0, 0.0)
        exited, stdout = self.outputs.get(tuple(argv), (127, ""))
        if argv[0] == "systemd-detect-virt" and (tuple(argv) not in self.outputs):
            raise FileNotFoundError(argv[0])
        return Result(tuple(argv), stdout, "", exited, 0.0)

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        raise NotImplementedError

    def get(self, remote: str, local: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_collect_on_a_minimal_host() -> None:
    """No systemd, no harness output, a chroot without a root mount, PID 2 absent."""
    host = FakeHost(
        {
            ("cat", "--", "/proc/1/comm"): (0, "sshd\n"),
            ("cat", "--", "/proc/self/mountinfo"): (0, "64 43 0:40 / /proc rw - proc proc rw\n"),
            ("cat", "--", "/proc/stat"): (
                0,
                "cpu  1 2 3 4 5 6 7 89 0 0\ncpu0 1 2 3 4 5 6 7 89 0 0\n",
            ),
            ("/opt/rb", "probe"): (2, ""),
        }
    )
    ev = collect_evidence(host, "/opt/rb")
    assert ev.cpuid is None and ev.harness_error == "'/opt/rb probe' exited 2: no output"
    assert ev.detect_virt_vm is None and ev.detect_virt_container is None
    assert ev.dockerenv is False and ev.pid2_comm is None
    assert ev.root_mount == "" and ev.steal_ticks == 89
    assert classify(ev).virt_class == "container"


def test_collect_records_systemd_none_despite_its_exit_code() -> None:
    host = FakeHost(
        {
            ("systemd-detect-virt", "--vm"): (1, "none\n"),
            ("systemd-detect-virt", "--container"): (1, "none\n"),
            ("test", "-e", "/.dockerenv"): (0, ""),
        }
    )
    ev = collect_evidence(host, None)
    assert ev.detect_virt_vm == "none" and ev.detect_virt_container == "none"
    assert ev.dockerenv is True and ev.harness_error == "no harness binary on this host"


@pytest.mark.parametrize(
    ("probe_out", "words"),
    [
        ("[" * 100_000, "longer than 65536 characters"),
        (
            '{"format":1,"cpuid":{"available":true,"hypervisor_bit":true,"x":' + "9" * 5000 + "}}",
            "an integer of 5000 digits",
        ),
        ("\x00\x1b[2J" + "\ufffd" * 50, "probe output is not JSON: '\\x00\\x1b[2J"),
    ],
)
def test_hostile_host_text_is_evidence_never_an_exception(probe_out: str, words: str) -> None:
    """What a hostile host prints is bounded and made printable; a steal count of 5,000
    digits, or of unicode digits, is left out, and an unparsable probe says why."""
    host = FakeHost(
        {
            ("cat", "--", "/proc/stat"): (0, "cpu  1 2 3 4 5 6 7 " + "9" * 5000 + "\n"),
            ("cat", "--", "/proc/1/comm"): (0, "evil\x1b]0;owned\x07" + "z" * 1000 + "\n"),
            ("cat", "--", "/proc/1/cgroup"): (0, "0::/docker/\x1b[31m\n" * 10_000),
            ("cat", "--", "/proc/self/mountinfo"): (0, "garbage\n\n1 2 3 4 / x - \x07 y\n"),
            ("cat", "--", "/sys/class/dmi/id/sys_vendor"): (0, "QEMU\x1b[2J\n"),
            ("systemd-detect-virt", "--vm"): (0, "kvm\x1b[0m" + "k" * 500),
            ("/opt/rb", "probe"): (0, probe_out),
        }
    )
    ev = collect_evidence(host, "/opt/rb")
    assert ev.steal_ticks is None
    assert ev.harness_error is not None and words in ev.harness_error
    assert ev.harness_error.isprintable() and len(ev.harness_error) < 300
    assert ev.pid1_comm is not None and ev.pid1_comm.startswith("evil\\x1b]0;owned\\x07z")
    assert len(ev.pid1_comm) <= 259
    assert ev.pid1_cgroup is not None and len(ev.pid1_cgroup) <= 16 * 1024 + 3
    assert "\x1b" not in ev.pid1_cgroup and "\\x1b[31m\n" in ev.pid1_cgroup
    assert ev.root_mount == "1 2 3 4 / x - \\x07 y"
    assert ev.detect_virt_vm is not None and len(ev.detect_virt_vm) <= 67
    cls = classify(ev)
    assert cls.virt_class == "container"  # the cgroup path says docker
    for line in (*cls.disagreements, *(e for layer in cls.layers for e in layer.evidence)):
        assert line.isprintable(), line
    json.dumps(probe_document({}, ev, cls), allow_nan=False)


TEXT_FIELDS = [f.name for f in fields(Evidence) if f.name not in ("cpuid", "steal_ticks")]
TEXT_FIELDS = [n for n in TEXT_FIELDS if n not in ("dockerenv", "containerenv")]


@settings(max_examples=300, deadline=None, database=None)
@given(
    texts=st.dictionaries(st.sampled_from(TEXT_FIELDS), st.text(max_size=300)),
    steal=st.none() | st.integers(0, 2**63 - 1),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_classify_takes_any_evidence_text(
    texts: dict[str, str], steal: int | None, flags: tuple[bool, bool]
) -> None:
    """classify is pure over whatever the host's files said: it never raises."""
    ev = Evidence(**texts, steal_ticks=steal, dockerenv=flags[0], containerenv=flags[1])  # type: ignore[arg-type]
    cls = classify(ev)
    assert cls.virt_class in ("bare-metal", *VIRT_CLASSES)


def test_steal_in_range_is_kept() -> None:
    host = FakeHost({("cat", "--", "/proc/stat"): (0, "cpu  1 2 3 4 5 6 7 42 0 0\n")})
    assert collect_evidence(host, None).steal_ticks == 42
    host = FakeHost({("cat", "--", "/proc/stat"): (0, "cpu  1 2 3 4 5 6 7 \u0664\u0662 0\n")})
    assert collect_evidence(host, None).steal_ticks is None


def test_harness_probe_prints_format_1_json(harness: BuildInfo) -> None:
    out = subprocess.run(
        [str(harness.path), "probe"], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stderr == "" and out.stdout.count("\n") == 1
    doc = json.loads(out.stdout)
    assert doc["format"] == 1 and doc["arch"]
    cpuid = doc["cpuid"]
    if cpuid["available"]:
        assert isinstance(cpuid["hypervisor_bit"], bool)
        assert (cpuid["hypervisor_vendor"] is None) == (not cpuid["hypervisor_bit"])
        assert (cpuid["hypervisor_max_leaf"] is None) == (not cpuid["hypervisor_bit"])
        if cpuid["hypervisor_bit"]:
            assert cpuid["hypervisor_max_leaf"] >= 0x40000000


def test_harness_probe_takes_no_arguments(harness: BuildInfo) -> None:
    out = subprocess.run(
        [str(harness.path), "probe", "--x"], capture_output=True, text=True, check=False, timeout=30
    )
    assert out.returncode == 2 and "probe: unexpected argument '--x'" in out.stderr


def test_live_probe_of_this_machine(harness: BuildInfo) -> None:
    """The development machines are Firecracker KVM guests (LAB.md)."""
    ev = collect_evidence(LocalConnection(), str(harness.path))
    assert ev.cpuid is not None and ev.cpuid["available"] is True
    if ev.cpuid["hypervisor_vendor"] != "KVMKVMKVM":
        pytest.skip(f"not a KVM guest: CPUID vendor {ev.cpuid['hypervisor_vendor']!r}")
    cls = classify(ev)
    assert technologies(cls)[0] == ("hardware-assisted", "KVM")
    assert cls.virt_class == "hardware-assisted"
    assert "CPUID.1:ECX[31] hypervisor bit set; CPUID 0x40000000 vendor 'KVMKVMKVM'" in (
        cls.layers[0].evidence
    )


if __name__ == "__main__":
    # python tests/test_probe.py OUT.json HARNESS [PID]: capture this machine, or the
    # namespaces and root of process PID (a lab container), into a fixture.
    target = LocalConnection() if len(sys.argv) < 4 else NsenterConnection(int(sys.argv[3]))
    print(json.dumps(classify(capture(target, sys.argv[2], Path(sys.argv[1]))).to_json(), indent=1))


def test_detect_virt_answers_from_the_real_shell() -> None:
    """The two answers come back in one command; a missing systemd gives None, not 'none'."""
    from runners.transport import LocalConnection

    result = LocalConnection().run(["sh", "-c", _DETECT_VIRT], timeout_s=30, check=False)
    vm, container = parse_detect_virt(result.stdout)
    assert result.stdout.count("\n") == 2
    assert parse_detect_virt("1 none\n127 \n") == ("none", None)
    assert parse_detect_virt("0 kvm\n0 docker\n") == ("kvm", "docker")
    assert parse_detect_virt("") == (None, None)
    assert (vm is None) == (container is None)
