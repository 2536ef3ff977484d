"""`ringbench inventory check|show` and `ringbench probe` through the real command line."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from ringbench.results import RunDir
from runners.classify import classify
from runners.cli import main
from runners.cli.hosts import probe_table
from runners.evidence import Evidence
from runners.plan import LOCAL_HOST
from runners.probe import ProbedHost
from suites.build import BuildInfo
from tests.sshd import ClientKey, Sshd


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
    written = RunDir(out_dir).probe_path("remote")
    assert json.loads(written.read_text())["host"] == "remote"
    assert main(["probe", "--local"]) == 0
    assert "KVM" in capfd.readouterr().out


def test_markup_and_control_characters_of_the_inventory_are_shown_as_text(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "all:\n  hosts:\n    native:\n      ansible_connection: local\n"
        '      hypervisor: "[/red][bold]KVM\\e[2J\\e]0;owned\\a"\n'
    )
    assert main(["inventory", "show", "--inventory", str(inv)]) == 0
    out = capfd.readouterr().out
    assert "[/red][bold]KVM\\x1b[2J\\x1b]0;owned\\x07" in out
    assert "\x1b" not in out and "\x07" not in out
    inv.write_text("all:\n  hosts:\n    native:\n      virt_class: '[/red]'\n")
    assert main(["inventory", "check", "--inventory", str(inv)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "virt_class '[/red]'" in err[0]


@pytest.mark.parametrize(
    ("hosts", "words"),
    [
        (
            "    h1: {ansible_connection: local}\n    H1: {ansible_connection: local}\n",
            ":4: host 'H1' and host 'h1' (line 3) differ only in case",
        ),
        (
            "    here: {ansible_connection: local, ansible_become_pass: hunter2}\n",
            ":3: 'ansible_become_pass' in host 'here': ringbench never uses passwords",
        ),
    ],
)
def test_check_and_run_refuse_names_and_passwords_in_one_line(
    harness: BuildInfo, tmp_path: Path, capfd: pytest.CaptureFixture[str], hosts: str, words: str
) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("all:\n  hosts:\n" + hosts)
    results = tmp_path / "results"
    for argv in (
        ["inventory", "check", "--inventory", str(inv)],
        ["run", "--inventory", str(inv), "--bench", "syscall-null", "--results", str(results)],
    ):
        assert main(argv) == 2
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{inv}{words}" in err[0], err
        assert "hunter2" not in err[0]
    assert not results.exists() or not any(results.iterdir()), "a refused run leaves no run"


# A real sshd's ForceCommand: every command runs as asked, but the host's answer to
# systemd-detect-virt --container is Rich markup and terminal escapes.
MARKUP_HOST = r"""
import os, subprocess, sys
original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
if original in ("internal-sftp", "sftp", "/usr/lib/openssh/sftp-server"):
    os.execv("/usr/lib/openssh/sftp-server", ["sftp-server"])
if "systemd-detect-virt" in original:
    done = subprocess.run(["sh", "-c", original], capture_output=True, text=True)
    vm = (done.stdout.splitlines() or ["1 "])[0]
    sys.stdout.write(vm + "\n0 [/red][bold]pod\x1b[2J\u009b31m\n")
    sys.exit(0)
os.execv("/bin/sh", ["sh", "-c", original])
"""


@pytest.fixture
def markup_host(tmp_path: Path, client_key: ClientKey, ssh_env: Path) -> Iterator[Sshd]:
    root = tmp_path / "sshd-markup"
    root.mkdir()
    (root / "host.py").write_text(MARKUP_HOST)
    server = Sshd(root, client_key, force_command=f"{sys.executable} {root / 'host.py'}").start()
    with (ssh_env / "known_hosts").open("a") as fp:
        fp.write(server.known_hosts_line() + "\n")
    yield server
    server.stop()


def test_probe_shows_markup_a_host_sends_as_text(
    harness: BuildInfo,
    markup_host: Sshd,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        f"all:\n  hosts:\n    remote:\n      ansible_host: 127.0.0.1\n"
        f"      ansible_port: {markup_host.port}\n      ansible_user: {markup_host.user}\n"
        f"      ansible_ssh_private_key_file: {markup_host.client.private}\n"
    )
    code = main(["probe", "--inventory", str(inv)])
    out = capfd.readouterr().out
    assert code == 0, out
    assert "systemd-detect-virt --container says '[/red][bold]pod" in out, "shown as sent"
    assert "\x1b" not in out and "\x9b" not in out


def test_the_probe_table_shows_host_text_as_it_is() -> None:
    """What a host said goes into the table unchanged by the classification (the layer's
    technology is the host's own word): the table alone makes it plain and printable."""
    said = "[/red][bold]pod\x1b[2J\x9b31m"
    evidence = Evidence(
        detect_virt_vm="none",
        detect_virt_container=said,
        pid1_cgroup="0::/docker/0123abcd",
        pid1_comm="sh",
        pid2_comm="",
    )
    found = ProbedHost({}, classify(evidence), "[/red]warned\x1b]0;title\x07", {})
    host = LOCAL_HOST
    table = probe_table([(host, found), (host, "[/red]failed\x1b[2J: no route")])
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None).print(table)
    out = buffer.getvalue()
    assert found.classification.technologies().startswith(said), "the host's text, raw"
    assert "[/red][bold]pod\\x1b[2J\\x9b31m" in out
    assert "[/red]warned\\x1b]0;title\\x07" in out
    assert "[/red]failed\\x1b[2J: no route" in out
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
