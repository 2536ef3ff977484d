"""`ringbench inventory check|show` and `ringbench probe` through the real command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runners.cli import main
from suites.build import BuildInfo
from tests.sshd import Sshd


def test_inventory_check_and_show(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the table's cells stay whole
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "all:\n  hosts:\n    native:\n      ansible_connection: local\n"
        "    guest:\n      ansible_host: 10.0.0.2\n      ansible_user: bench\n"
        "      baseline: native\n      machine: native\n"
        "      virt_class: binary-translation\n      hypervisor: QEMU TCG, type 2\n"
    )
    assert main(["inventory", "check", "--inventory", str(inv)]) == 0
    assert "2 host(s) on 1 machine(s): valid" in capfd.readouterr().out
    assert main(["inventory", "show", "--inventory", str(inv)]) == 0
    out = capfd.readouterr().out
    assert "bench@10.0.0.2:22" in out and "binary-translation" in out and "QEMU TCG" in out


def test_inventory_check_reports_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("all:\n  hosts:\n    a:\n      virt_clas: container\n")
    assert main(["inventory", "check", "--inventory", str(inv)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{inv}:4:" in err[0] and "did you mean 'virt_class'" in err[0]


def test_probe_over_ssh_and_local(
    harness: BuildInfo,
    sshd_factory: Callable[..., Sshd],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server = sshd_factory()
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        f"all:\n  hosts:\n    remote:\n      ansible_host: 127.0.0.1\n"
        f"      ansible_port: {server.port}\n      ansible_user: {server.user}\n"
        f"      ansible_ssh_private_key_file: {server.client.private}\n"
        f"      virt_class: container\n"
    )
    out_dir = tmp_path / "probes"
    assert main(["probe", "--inventory", str(inv), "--json", "--out", str(out_dir)]) == 0
    documents = json.loads(capfd.readouterr().out)
    doc = documents["remote"]
    assert doc["format_version"] == 1 and doc["virt_class_declared"] == "container"
    assert doc["virt_class"] == "hardware-assisted", "this machine is a KVM guest"
    assert "container" in doc["warning"], "the unconfirmed declaration is reported"
    assert json.loads((out_dir / "remote.probe.json").read_text())["host"] == "remote"
    assert main(["probe", "--local"]) == 0
    assert "KVM" in capfd.readouterr().out
