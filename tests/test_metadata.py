"""Host-fact parsers, on captured real files, and the collectors on this machine."""

from __future__ import annotations

from pathlib import Path

from runners.hostfacts import (
    HostReader,
    collect_host_metadata,
    parse_batch,
    parse_cpuinfo,
    parse_mitigations,
)
from runners.transport import LocalConnection

DATA = Path(__file__).parent / "data"


def test_cpuinfo_of_a_kvm_guest() -> None:
    facts = parse_cpuinfo((DATA / "cpuinfo-epyc-kvm-guest.txt").read_text())
    assert facts["cpu_model_name"] == "AMD EPYC"
    assert facts["cpu_vendor"] == "AuthenticAMD"
    assert facts["cpu_count"] == 2
    assert facts["cpu_hypervisor_flag"] == "yes"


def test_cpuinfo_of_user_mode_linux() -> None:
    text = "processor\t: 0\nvendor_id\t: User Mode Linux\nmodel name\t: UML\nmode\t\t: skas\n"
    facts = parse_cpuinfo(text)
    assert facts["cpu_vendor"] == "User Mode Linux" and facts["cpu_count"] == 1
    assert "cpu_hypervisor_flag" not in facts


def test_mitigations_keep_only_what_costs() -> None:
    rows = (DATA / "vulnerabilities-epyc-kvm-guest.tsv").read_text().splitlines()
    files = dict(row.split("\t", 1) for row in rows)
    line = parse_mitigations(files)
    assert "meltdown" not in line, "a CPU that is not affected costs nothing"
    assert "spectre_v2=Retpolines" in line
    assert "spec_store_bypass=vulnerable" in line
    assert parse_mitigations({"meltdown": "Not affected"}) == "none"


def test_collectors_on_this_machine() -> None:
    facts = collect_host_metadata(LocalConnection())
    for key in (
        "hostname",
        "kernel",
        "arch",
        "cpu_model_name",
        "cpu_count",
        "clocksource",
        "mem_total_kib",
    ):
        assert key in facts, key
    assert all(value != "" for value in facts.values())


def test_batched_reads_are_exact_and_never_interpreted(tmp_path: Path) -> None:
    """One round trip reads many paths; odd names are data, never shell code."""
    plain = tmp_path / "plain.txt"
    plain.write_text("line one\nline two\n")
    bare = tmp_path / "no newline"
    bare.write_text("no trailing newline")
    evil = tmp_path / "$(touch pwned);`touch pwned2`"
    evil.write_text("harmless\n")
    empty = tmp_path / "empty"
    empty.write_text("")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("")
    reader = HostReader(LocalConnection())
    paths = [str(p) for p in (plain, bare, evil, empty, tmp_path / "dir", tmp_path / "missing")]
    reader.prefetch(paths)
    assert reader.read(str(plain)) == "line one\nline two\n"
    assert reader.read(str(bare)) == "no trailing newline"
    assert reader.read(str(evil)) == "harmless\n"
    assert reader.read(str(empty)) == ""
    assert reader.listdir(str(tmp_path / "dir")) == ["a"]
    assert reader.read(str(tmp_path / "missing")) is None
    assert not reader.exists(str(tmp_path / "missing")) and reader.exists(str(evil))
    assert not list(Path.cwd().glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_parse_batch_splits_only_on_its_own_boundary() -> None:
    b = "ringbench-0123456789abcdef"
    out = f"\n{b} /a\nf\nringbench-fedcba9876543210 /x: another run's boundary\n\n{b} /b\nn\n"
    assert parse_batch(out, b) == {
        "/a": ("f", "ringbench-fedcba9876543210 /x: another run's boundary\n"),
        "/b": ("n", ""),
    }
