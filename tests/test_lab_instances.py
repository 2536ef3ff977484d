"""Lab instances without booting anything: their names, a lab directory the guests'
command lines would split, state files of another instance (no root needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ringbench.errors import UserError
from runners.lab import lifecycle
from runners.lab.engine import ContainerRecord
from runners.lab.instance import IFNAMSIZ, ROLES, Instance
from runners.lab.paths import LabPaths, instance_dir
from runners.lab.procs import LabError
from runners.lab.state import FORMAT_VERSION, LabState, StateFile

ROOT = Path(__file__).parent.parent


def test_the_default_instance_keeps_the_names_a_running_lab_has() -> None:
    default = Instance()
    assert default.netns("ct") == "ringbench-ct" and default.netns("uml") == "ringbench-uml"
    assert default.link("ct", "h") == "rb-ct-h" and default.link("uml", "tap") == "rb-uml-tap"
    assert default.address(1, 2, 30) == "10.213.1.2/30"
    assert instance_dir(default) == LabPaths.default().root


def test_named_instances_have_names_subnets_and_tags_of_their_own() -> None:
    names = [Instance(n) for n in ("tests", "tt2", "timg", "a", "z9z9z")]
    for instance in names:
        devices = [instance.link(r, end) for r in ROLES for end in ("h", "g", "tap")]
        assert all(len(d.encode()) <= IFNAMSIZ for d in devices), devices
        assert not any(Instance().owns_link(d) for d in devices)  # never the default's
        assert not any(Instance().owns_netns(instance.netns(r)) for r in ROLES)
        assert instance.octet != 213 and 214 <= instance.octet <= 253
        assert instance.new_tag().startswith(f"{instance.name}-")
        assert str(instance_dir(instance)) == f"{instance_dir(Instance())}-{instance.name}"
    others = [i for i in names if i.name != "a"]
    assert not any(names[3].owns_link(o.link("ct", "h")) for o in others)  # rba- vs rbaX-
    assert len({i.octet for i in names[:3]}) == 3  # the tests' instances never overlap


@pytest.mark.parametrize("name", ["Tests", "toolong", "a-b", "9x", "", "x y", "ab\n"])
def test_a_bad_instance_name_is_one_line(name: str) -> None:
    with pytest.raises(UserError) as caught:
        Instance(name)
    assert "\n" not in str(caught.value) and "lower-case letters and digits" in str(caught.value)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runners.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("option", ["--lab-dir", "--cache-dir"])
def test_a_lab_directory_with_a_comma_is_refused_before_anything_starts(
    tmp_path: Path, option: str
) -> None:
    """UML's ubd0=FILE,COW and QEMU's -drive file=...,if=... would read options in it."""
    bad = tmp_path / "lab,if=none"
    inventory = tmp_path / "inventory.yaml"
    args = ["lab", "up", "--instance", "tc", "--inventory", str(inventory), option, str(bad)]
    if option == "--cache-dir":
        args += ["--lab-dir", str(tmp_path / "lab")]
    done = run_cli(*args)
    assert done.returncode == 2, done
    assert done.stdout.strip() == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(bad) in done.stderr and "','" in done.stderr and "choose a directory" in done.stderr
    assert not bad.exists() and not inventory.exists() and not (tmp_path / "lab").exists()


def test_a_lab_directory_with_blanks_or_a_colon_is_refused(tmp_path: Path) -> None:
    for name in ("two words", "a:b", 'q"uote'):
        with pytest.raises(UserError, match="choose a directory"):
            lifecycle.up(LabPaths.of(Instance("tc"), tmp_path / name), tmp_path / "i.yaml", None)  # type: ignore[arg-type]
        assert not (tmp_path / name).exists()


def state_of(instance: Instance, version: int) -> dict[str, object]:
    data = LabState.new(instance).to_json()
    data["format_version"] = version
    if version < 3:
        del data["instance"]
    if version < 4:
        del data["containers"]
    return data


def test_a_state_file_of_format_2_is_the_default_instances(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state_of(Instance(), 2)))
    loaded = StateFile.load(path)
    assert loaded is not None and loaded.state.instance == "default"
    path.write_text(json.dumps(state_of(Instance("tt2"), FORMAT_VERSION)))
    loaded = StateFile.load(path)
    assert loaded is not None and loaded.state.instance == "tt2"
    assert loaded.state.tag.startswith("tt2-")


def test_a_state_file_keeps_the_containers_and_reads_older_ones_without(
    tmp_path: Path,
) -> None:
    """Format 4 records each container (host, name, Podman store) before it starts, so that
    clean-up removes it by name; a file of format 3 has none."""
    path = tmp_path / "state.json"
    state = StateFile(path, LabState.new(Instance("tt2")))
    record = ContainerRecord("podman", "ringbench-tt2-podman", str(tmp_path / "podman"))
    state.add_container(record)
    loaded = StateFile.load(path)
    assert loaded is not None and loaded.state.containers == [record]
    assert json.loads(path.read_text())["format_version"] == 4
    path.write_text(json.dumps(state_of(Instance(), 3)))
    older = StateFile.load(path)
    assert older is not None and older.state.containers == []


def test_a_container_whose_store_or_podman_is_gone_is_nothing_left(tmp_path: Path) -> None:
    """Clean-up of a lab whose Podman was removed since (or whose store went): nothing to
    remove, nothing said to be left, no error."""
    from runners.lab import engine

    records = [ContainerRecord("podman", "ringbench-tt2-podman", str(tmp_path / "none"))]
    assert engine.existing(records) == [] and engine.remove(records) == []


def test_status_names_the_hosts_an_older_lab_lacks(tmp_path: Path) -> None:
    """A lab brought up by an older ringbench (no podman, podman-nosec, gvisor) is not
    fine: ``lab status`` says which hosts it lacks, so ``nox -s bench`` brings it up anew."""
    from runners.lab.hosts import specs
    from runners.lab.state import HostRecord, LabHostState
    from runners.lab.status import lab_status

    paths = LabPaths.of(Instance("tt2"), tmp_path)
    state = StateFile(paths.state_file, LabState.new(Instance("tt2")))
    for name in ("native", "container", "uml", "tcg", "kvm"):
        state.host(HostRecord(name, "x", state=LabHostState.LEFT_OUT, reason="test"))
    found = {s.name: s for s in lab_status(paths) or []}
    assert [s.name for s in specs()] == list(found)  # every host, in the lab's order
    for name in ("podman", "podman-nosec", "gvisor"):
        assert found[name].state is LabHostState.DOWN
        assert "not in the running lab" in found[name].reason
    assert found["gvisor"].virt_class == "application-kernel"


def test_down_refuses_the_state_of_another_instance(tmp_path: Path) -> None:
    """Another instance's lab in the directory is not taken down by mistake."""
    paths = LabPaths.of(Instance("tt2"), tmp_path)
    paths.state_file.write_text(json.dumps(state_of(Instance(), 2)))
    with pytest.raises(LabError, match="lab instance 'default', not 'tt2'"):
        lifecycle.down(paths)
    assert paths.state_file.exists()


def test_a_malformed_state_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for text in ("[]", '{"format_version": 3}', '{"format_version": 3, "tag": 1, "created": "x"}'):
        path.write_text(text)
        with pytest.raises(LabError, match="unreadable lab state") as caught:
            StateFile.load(path)
        assert "\n" not in str(caught.value)


def test_a_kvm_served_by_pvm_is_left_out_naming_pvm(tmp_path: Path) -> None:
    """The reason says PVM where kvm_pvm serves /dev/kvm (this machine), and nothing where
    kvm_intel or kvm_amd does, or no PVM at all (module directories as /sys/module has)."""
    from runners.lab.guests import pvm_serves_kvm

    modules, cmdline = tmp_path / "module", tmp_path / "cmdline"
    (modules / "kvm").mkdir(parents=True)
    cmdline.write_text("console=ttyS0 nested_pvm=1 quiet\n")
    assert pvm_serves_kvm(modules, cmdline) is None
    (modules / "kvm_pvm").mkdir()
    reason = pvm_serves_kvm(modules, cmdline) or ""
    assert "served by PVM (module kvm_pvm loaded, nested_pvm=1 on the kernel" in reason
    assert "built for it" in reason and "\n" not in reason
    (modules / "kvm_intel").mkdir()
    assert pvm_serves_kvm(modules, cmdline) is None
    if Path("/sys/module/kvm_pvm").exists() and not Path("/sys/module/kvm_intel").exists():
        assert "PVM" in (pvm_serves_kvm() or ""), "this machine's own /dev/kvm is PVM's"
