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
    assert "2 host(s) on 1 machine(s), 2 usable: valid" in capfd.readouterr().out
    assert main(["inventory", "show", "--inventory", str(inv)]) == 0
    out = capfd.readouterr().out
    assert "bench@10.0.0.2:22" in out and "binary-translation" in out and "QEMU TCG" in out


# A mixed fleet: two hosts ringbench runs on, a Windows host, a host that logs in with a
# password, a key file that is not on this machine.
MIXED = """\
all:
  hosts:
    native:
      ansible_connection: local
    guest:
      ansible_host: 10.0.0.2
      ansible_user: bench
      ansible_ssh_private_key_file: /nonexistent/ringbench-test-key
      baseline: native
      machine: native
      virt_class: hardware-assisted
    win1:
      ansible_connection: winrm
      ansible_host: 10.0.0.9
    pw1:
      ansible_password: hunter2
  children:
    guests:
      hosts:
        guest:
"""


def test_check_lists_what_is_left_out_and_passes_a_mixed_fleet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "fleet.yaml"
    inv.write_text(MIXED)
    assert main(["inventory", "check", str(inv)]) == 0
    captured = capfd.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0] == f"{inv}: 4 host(s) on 3 machine(s), 2 usable: valid", lines
    assert len(lines) == 4, "one line for the inventory, the warning, each host left out"
    (warning,) = [line for line in lines if line.startswith("warning: ")]
    assert f"{inv}:8:" in warning and "'guest'" in warning and "does not exist" in warning
    win = next(line for line in lines if "'win1'" in line)
    assert win.startswith(f"host 'win1' ({inv}:12): left out: ") and "winrm" in win
    pw = next(line for line in lines if "'pw1'" in line)
    assert pw.startswith(f"host 'pw1' ({inv}:15): left out: ") and "ansible_password" in pw
    assert "hunter2" not in captured.out + captured.err and captured.err == ""


def test_check_fails_when_no_host_is_usable(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "windows.yaml"
    inv.write_text("all:\n  hosts:\n    win1:\n      ansible_connection: winrm\n")
    assert main(["inventory", "check", str(inv)]) == 1
    lines = capfd.readouterr().out.strip().splitlines()
    assert lines[0] == f"{inv}: 1 host(s) on 1 machine(s), 0 usable: no host ringbench can run on"
    assert lines[1].startswith(f"host 'win1' ({inv}:3): left out: ")


def test_show_lists_every_host_usable_or_not_with_its_groups(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    inv = tmp_path / "fleet.yaml"
    inv.write_text(MIXED)
    assert main(["inventory", "show", str(inv)]) == 0
    out = capfd.readouterr().out
    header = next(line for line in out.splitlines() if "address" in line)
    assert "usable" in header and "groups" in header
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert {"native", "guest", "win1", "pw1"} <= set(rows)
    assert "│ yes " in rows["guest"] and "guests" in rows["guest"]
    assert "winrm" in rows["win1"] and "ungrouped" in rows["win1"]
    assert "password" in out and "hunter2" not in out
    assert f"warning: {inv}:8:" in out, "the warnings follow the table"
    assert main(["inventory", "show", str(inv), "--hosts", "guest*"]) == 0
    names = {
        line.split("│")[1].strip() for line in capfd.readouterr().out.splitlines() if "│" in line
    }
    assert "guest" in names and "win1" not in names and "native" not in names


def test_show_json_is_the_resolved_inventory(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "fleet.yaml"
    odd = '    odd:\n      ansible_connection: local\n      hypervisor: "[/red]\\e[2J"\n'
    inv.write_text(MIXED.replace("  children:\n", odd + "  children:\n"))
    assert main(["inventory", "show", "--json", str(inv)]) == 0
    captured = capfd.readouterr()
    assert "\x1b" not in captured.out, "JSON escapes what the inventory holds"
    document = json.loads(captured.out)
    assert document["format"] == 1 and document["sources"] == [str(inv)]
    assert list(document["hosts"]) == sorted(document["hosts"]), "sort_keys"
    assert set(document["hosts"]) == {"native", "guest", "win1", "pw1", "odd"}
    assert document["hosts"]["odd"]["vars"]["hypervisor"] == "[/red]\x1b[2J"
    guest = document["hosts"]["guest"]
    assert guest == {
        "address": "10.0.0.2",
        "port": 22,
        "user": "bench",
        "connection": "ssh",
        "key_file": "/nonexistent/ringbench-test-key",
        "groups": ["guests"],
        "usable": True,
        "reason": None,
        "source": f"{inv}:5",
        "vars": {"baseline": "native", "machine": "native", "virt_class": "hardware-assisted"},
    }
    native = document["hosts"]["native"]
    assert native["connection"] == "local" and native["usable"] is True
    win = document["hosts"]["win1"]
    assert win["usable"] is False and win["connection"] == "winrm" and "winrm" in win["reason"]
    assert win["address"] == "10.0.0.9" and win["source"] == f"{inv}:12"
    pw = document["hosts"]["pw1"]
    assert pw["usable"] is False and "ansible_password" in pw["reason"]
    assert "hunter2" not in captured.out
    (warning,) = document["warnings"]
    assert warning.startswith(f"{inv}:8: ") and "does not exist" in warning


def test_sources_merge_in_order_positional_or_repeated(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several sources are merged in the order given, the later one's host variables
    winning (Ansible's several -i); positional and --inventory, not both; none: the
    inventory.yaml of the current directory."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("all:\n  hosts:\n    h:\n      ansible_host: 10.0.0.1\n    one: {}\n")
    second.write_text("all:\n  hosts:\n    h:\n      ansible_host: 10.0.0.2\n    two: {}\n")

    def shown(*argv: str) -> dict[str, dict[str, object]]:
        assert main(["inventory", "show", "--json", *argv]) == 0
        document = json.loads(capfd.readouterr().out)
        assert document["sources"] == [a for a in argv if a != "--inventory"]
        return dict(document["hosts"])

    hosts = shown(str(first), str(second))
    assert set(hosts) == {"h", "one", "two"} and hosts["h"]["address"] == "10.0.0.2"
    assert shown(str(second), str(first))["h"]["address"] == "10.0.0.1"
    hosts = shown("--inventory", str(first), "--inventory", str(second))
    assert hosts["h"]["address"] == "10.0.0.2"
    assert main(["inventory", "check", str(first), str(second)]) == 0
    assert f"{first}, {second}: 3 host(s)" in capfd.readouterr().out
    assert main(["inventory", "check", str(first), "--inventory", str(second)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [
        "ringbench: error: inventory check: give the sources as arguments or with "
        "--inventory, not both"
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.yaml").write_text(first.read_text())
    assert main(["inventory", "check"]) == 0
    assert "inventory.yaml: 2 host(s)" in capfd.readouterr().out


def test_check_takes_no_json_and_show_no_unknown_pattern(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "fleet.yaml"
    inv.write_text(MIXED)
    assert main(["inventory", "check", "--json", str(inv)]) == 2
    assert "--json" in capfd.readouterr().err
    assert main(["inventory", "show", str(inv), "--hosts", "nope*"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no host matches nope*" in err[0]


def test_inventory_check_reports_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A wrong value is an error in one line; a misspelt key (any variable is allowed in
    an Ansible inventory) a warning line that says what was meant."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text("all:\n  hosts:\n    a:\n      virt_class: containr\n")
    assert main(["inventory", "check", "--inventory", str(inv)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{inv}:4:" in err[0] and "did you mean 'container'" in err[0]
    inv.write_text("all:\n  hosts:\n    a:\n      virt_clas: container\n")
    assert main(["inventory", "check", "--inventory", str(inv)]) == 0
    (warning,) = [line for line in capfd.readouterr().out.splitlines() if "warning" in line]
    assert warning.startswith(f"warning: {inv}:4:") and "did you mean 'virt_class'" in warning


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
    ("hosts", "name", "words"),
    [
        (
            "    h1: {ansible_connection: local}\n    H1: {ansible_connection: local}\n",
            "H1",
            ":4: host 'H1' ",
        ),
        (
            "    here: {ansible_connection: local, ansible_password: hunter2}\n"
            "    there: {ansible_connection: local}\n",
            "here",
            ":3: host 'here' ",
        ),
    ],
)
def test_a_host_left_out_is_listed_and_refused_when_named_in_one_line(
    harness: BuildInfo,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    hosts: str,
    name: str,
    words: str,
) -> None:
    """Names that would share a result file, a login password: the host is left out, the
    rest of the inventory works; naming it in a run is an error that says why."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text("all:\n  hosts:\n" + hosts)
    assert main(["inventory", "check", "--inventory", str(inv)]) == 0
    out = capfd.readouterr().out
    assert ", 1 usable: valid" in out and f"host '{name}' ({inv}" in out and "left out" in out
    results = tmp_path / "results"
    argv = ["run", "--inventory", str(inv), "--hosts", name, "--bench", "syscall-null"]
    assert main([*argv, "--results", str(results)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{inv}{words}" in err[0], err
    assert "hunter2" not in err[0] and "hunter2" not in out
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
