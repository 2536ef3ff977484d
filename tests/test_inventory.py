"""The Ansible-style inventory: typed hosts, one-line errors with file and line."""

from __future__ import annotations

import gc
import hashlib
import subprocess
from pathlib import Path

import pytest

from ringbench.errors import HostError, UserError
from runners.inventory import Host, checks, load_inventory, parse_proxy_jump
from runners.inventory.resolve import resolve
from runners.inventory.sources import read_sources
from runners.plan import ConnectOptions, connect, plan_hosts

LAB = """\
all:
  vars:
    ansible_user: bench
    machine: box1
  hosts:
    native:
      ansible_connection: local
      virt_class: hardware-assisted
  children:
    guests:
      vars:
        baseline: native
        ansible_port: 2222
      hosts:
        tcg:
          ansible_host: 127.0.0.1
          virt_class: binary-translation
          hypervisor: QEMU TCG, type 2
        uml:
          ansible_host: 10.77.0.2
          ansible_port: 22
          some_other_tool_var: kept out
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def test_vars_are_inherited_group_to_host(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, LAB))
    native, tcg, uml = inv.get("native"), inv.get("tcg"), inv.get("uml")
    assert native.is_local and native.baseline is None and native.machine == "box1"
    assert tcg.connection == "ssh" and tcg.port == 2222 and tcg.user == "bench"
    assert tcg.baseline == "native" and tcg.hypervisor == "QEMU TCG, type 2"
    assert uml.port == 22, "host vars win over group vars"
    assert uml.groups == ("guests",)
    assert [h.name for h in inv.select(["guests"])] == ["tcg", "uml"]
    assert [h.name for h in plan_hosts(inv.select(["t*", "native"]))] == ["native", "tcg"]


def test_repository_inventory_is_valid(tmp_path: Path) -> None:
    """The inventory as shipped measures this machine in place. The one in the work tree
    may be the lab's by now (``nox -s bench`` writes it): it must still be valid."""
    root = Path(__file__).parent.parent
    shown = subprocess.run(
        ["git", "-C", str(root), "show", "HEAD:inventory.yaml"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    shipped = root / "inventory.yaml"  # outside a git checkout, the file is as shipped
    if shown.returncode == 0:
        shipped = tmp_path / "inventory.yaml"
        shipped.write_text(shown.stdout)
    assert all(h.is_local for h in load_inventory(shipped).hosts)
    assert load_inventory(root / "inventory.yaml").hosts


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("all:\n  hosts:\n    a:\n      virt_class: containr\n", 4, "did you mean 'container'"),
        ("all:\n  hosts:\n    a:\n      ansible_port: twenty\n", 4, "must be an integer"),
        ("all:\n  hosts:\n    a:\n      ansible_port: 70000\n", 4, "out of range"),
        ("all:\n  hosts:\n    a:\n      baseline: b\n", 4, "unknown baseline 'b'"),
        ("all:\n  hosts:\n    a:\n      baseline: b\n    b:\n      baseline: a\n", 4, "cycle"),
        (
            "all:\n  hosts:\n    a:\n      baseline: b\n      machine: m1\n    b:\n"
            "      machine: m2\n",
            4,
            "same hardware",
        ),
        ("all:\n  hosts:\n    a: [\n", 4, "YAML syntax error"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_inventory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message and "\n" not in message


def test_empty_directory_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r":1: the inventory has no hosts"):
        load_inventory(write(tmp_path, ""))
    with pytest.raises(UserError, match=r"missing.yaml: no such inventory file or directory"):
        load_inventory(tmp_path / "missing.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"empty:1: the inventory has no hosts"):
        load_inventory(empty)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("all:\n  hosts:\n    a:\n      virt_clas: container\n", 4, "did you mean 'virt_class'"),
        ("all:\n  hosts:\n    a: {}\n    a: {}\n", 4, "appears twice"),
        ("all:\n  hots:\n    a: {}\n  hosts:\n    b: {}\n", 2, "did you mean 'hosts'"),
    ],
)
def test_what_ansible_takes_or_skips_is_a_warning(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    """Ansible reads these inventories (taking any variable name, the last of a key
    written twice, skipping a key it does not know): ringbench too, saying so once."""
    path = write(tmp_path, text)
    inv = load_inventory(path)
    found = [w for w in inv.warnings if words in w]
    assert len(found) == 1 and found[0].startswith(f"{path}:{line}: "), inv.warnings
    assert all(h.usable for h in inv.hosts)


MIXED = """all:
  vars: {ansible_user: bench}
  hosts:
    linux1: {ansible_host: 192.0.2.1}
    win1: {ansible_host: 192.0.2.2, ansible_connection: winrm}
    switch1: {ansible_connection: ansible.netcommon.network_cli}
    pw1: {ansible_host: 192.0.2.4, ansible_password: hunter2}
    become1: {ansible_host: 192.0.2.5, ansible_become_password: hunter2}
    vault1:
      ansible_host: !vault |
        $ANSIBLE_VAULT;1.1;AES256
        6231336539
    tmpl1: {ansible_host: "{{ missing_prefix }}.5"}
    guest1: {ansible_host: 192.0.2.6, baseline: win1, machine: m}
    "bad name": {}
"""


def test_hosts_ringbench_cannot_use_are_listed_and_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    inv = load_inventory(path)
    why = {h.name: h.unusable for h in inv.hosts}
    assert why["linux1"] is None and why["become1"] is None, "become passwords are never read"
    assert "connects with 'winrm'" in (why["win1"] or "")
    assert "network_cli" in (why["switch1"] or "")
    assert "logs in with a password (ansible_password" in (why["pw1"] or "")
    assert "vault-encrypted" in (why["vault1"] or "")
    assert "'missing_prefix' is undefined" in (why["tmpl1"] or "")
    assert "its baseline 'win1' is left out" in (why["guest1"] or "")
    assert "rename the host" in (why["bad name"] or "")
    assert all("hunter2" not in (w or "") for w in why.values())
    assert [h.name for h in inv.select()] == ["linux1", "become1"]
    assert [h.name for h in inv.select(["*1"])] == ["linux1", "become1"]
    with pytest.raises(UserError) as info:
        inv.select(["win1"])
    assert str(info.value).startswith(f"{path}:5: host 'win1' cannot be run on: it connects")
    assert inv.get("win1").connection == "winrm" and inv.get("win1").address == "192.0.2.2"


def test_a_localhost_written_without_a_connection_is_reached_over_ssh(tmp_path: Path) -> None:
    """As Ansible: only its implicit localhost (not written in the inventory) is local."""
    inv = load_inventory(write(tmp_path, "all:\n  hosts:\n    localhost: {}\n"))
    assert inv.get("localhost").connection == "ssh" and inv.implicit_localhost is None
    inv = load_inventory(write(tmp_path, "all:\n  vars: {machine: box}\n  hosts:\n    web: {}\n"))
    implicit = inv.implicit_localhost
    assert implicit is not None and implicit.is_local and implicit.machine == "box"
    assert [h.name for h in inv.select()] == ["web"], "the implicit localhost is not in all"
    assert [h.name for h in inv.select(["localhost"])] == ["localhost"]


def test_templates_in_connection_values_are_rendered_with_the_host_vars(tmp_path: Path) -> None:
    inv = load_inventory(
        write(
            tmp_path,
            "all:\n  vars:\n    net: 10.1.0\n    base_port: 2200\n    ansible_port: "
            '"{{ base_port + index }}"\n    ansible_host: "{{ net }}.{{ index + 10 }}"\n'
            "    ansible_user: \"{{ inventory_hostname_short }}-{{ group_names | join('-') }}\"\n"
            "  children:\n    web:\n      hosts:\n        w1.example.com: {index: 1}\n",
        )
    )
    w1 = inv.get("w1.example.com")
    assert (w1.address, w1.port, w1.user) == ("10.1.0.11", 2201, "w1-web")


ANSIBLE = """\
# An inventory written for Ansible, used as it is.
webservers:
  hosts:
    web1.example.com:
      ansible_ssh_host: 192.0.2.10
      ansible_ssh_user: deploy
      ansible_ssh_port: "2200"
      ansible_become: true
      ansible_become_user: root
      nginx_workers: 4
      app: {name: shop, replicas: [1, 2], env: {DEBUG: false}}
  vars:
    ansible_python_interpreter: /usr/bin/python3
    ansible_private_key_file: keys/lab_ed25519
    ansible_ssh_common_args: >-
      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
      -o ProxyJump=jump@bastion.example.com:2222
    ntp_servers: [0.pool.ntp.org, 1.pool.ntp.org]
dbservers:
  hosts:
    db1.example.com: {ansible_host: 192.0.2.20, machine: rack1}
    web1.example.com:
  vars:
    ansible_user: postgres
"""


def test_an_ansible_inventory_works_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "lab_ed25519").write_text("not a real key\n")
    (tmp_path / "keys" / "lab_ed25519").chmod(0o600)
    inv = load_inventory(write(tmp_path, ANSIBLE))
    web, db = inv.get("web1.example.com"), inv.get("db1.example.com")
    assert (web.address, web.user, web.port) == ("192.0.2.10", "deploy", 2200)
    assert web.key_file == str(tmp_path / "keys" / "lab_ed25519")
    assert web.proxy_jump == "jump@bastion.example.com:2222"
    assert web.ssh_common_args is not None and "StrictHostKeyChecking=no" in web.ssh_common_args
    assert web.groups == ("dbservers", "webservers"), "a host may sit in two groups"
    assert web.line == 4, "a host's line is where it first appears"
    assert (db.address, db.user, db.port, db.machine) == ("192.0.2.20", "postgres", 22, "rack1")
    assert db.proxy_jump is None and db.key_file is None and db.connection == "ssh"
    assert web.machine == "web1.example.com", "no machine and no baseline: its own machine"


NESTED = """\
all:
  vars: {ansible_user: a, hypervisor: from-all, machine: m}
  hosts:
    native: {ansible_connection: local}
  children:
    lab:
      vars: {ansible_user: lab, hypervisor: from-lab}
      children:
        kvm:
          vars: {hypervisor: KVM, baseline: native}
          hosts:
            vm1: {}
            vm2: {ansible_user: own}
        zz_late:
          vars: {ansible_port: 2201}
          hosts:
            vm2: {}
        aa_early:
          vars: {ansible_port: 2200, ansible_user: early}
          hosts:
            vm2: {}
"""


def test_group_vars_follow_ansible_precedence(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, NESTED))
    vm1, vm2 = inv.get("vm1"), inv.get("vm2")
    assert (vm1.user, vm1.hypervisor, vm1.baseline, vm1.machine) == ("lab", "KVM", "native", "m")
    assert vm1.groups == ("lab", "kvm")
    assert vm2.port == 2201, "same depth: groups apply by name, the last one wins"
    assert vm2.user == "own", "the host's own variables win over every group"
    assert vm2.groups == ("lab", "aa_early", "kvm", "zz_late")
    assert [h.name for h in inv.select(["lab"])] == ["vm1", "vm2"]


def test_top_level_groups_without_all_anchors_and_merge_keys(tmp_path: Path) -> None:
    inv = load_inventory(
        write(
            tmp_path,
            """\
guests:
  hosts:
    vm1: &common {ansible_user: bench, ansible_port: 2222, machine: box}
    vm2:
      <<: *common
      ansible_port: 2223
    vm3:
      <<: [{ansible_user: first}, *common]
natives:
  hosts:
    box: {ansible_connection: local}
""",
        )
    )
    assert [(h.name, h.user, h.port, h.groups) for h in inv.hosts] == [
        ("vm1", "bench", 2222, ("guests",)),
        ("vm2", "bench", 2223, ("guests",)),
        ("vm3", "first", 2222, ("guests",)),
        ("box", None, 22, ("natives",)),
    ]
    assert inv.get("box").is_local and inv.get("box").machine == "box"


@pytest.mark.parametrize(
    ("args", "jump"),
    [
        ("-o ProxyJump=user@bastion:2222", "user@bastion:2222"),
        ("-o ProxyJump user@bastion", "user@bastion"),
        ("-o 'ProxyJump user@bastion'", "user@bastion"),
        ("-oProxyJump=bastion", "bastion"),
        ("-J jump1,admin@jump2:2200", "jump1,admin@jump2:2200"),
        ("-Jbastion", "bastion"),
        ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -J b1 -J b2", "b1"),
        ("-o proxyjump=[2001:db8::1]:22", "[2001:db8::1]:22"),
        ("-o ProxyJump=none", "none"),
        ("-o ProxyCommand=none -o ServerAliveInterval=30", None),
        ("", None),
    ],
)
def test_proxy_jump_forms(args: str, jump: str | None) -> None:
    assert parse_proxy_jump(args) == jump


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("-o ProxyCommand='ssh -W %h:%p bastion'", "ProxyCommand is not supported"),
        ("-J", "is not [USER@]HOST[:PORT]"),
        ("-J ssh://bastion:22", "is not [USER@]HOST[:PORT]"),
        ("-J bastion:99999", "is not [USER@]HOST[:PORT]"),
        ("-o 'ProxyJump=b", "close the quotes"),
    ],
)
def test_proxy_jump_errors(args: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[")):
        parse_proxy_jump(args)


def test_key_files_resolve_and_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "id_lab").write_text("key\n")
    (tmp_path / "id_lab").chmod(0o600)
    inv = load_inventory(
        write(tmp_path, "all:\n  hosts:\n    a:\n      ansible_ssh_private_key_file: ~/id_lab\n")
    )
    assert inv.get("a").key_file == str(tmp_path / "id_lab")
    local = "all:\n  hosts:\n    a:\n      ansible_connection: local\n"
    inv = load_inventory(write(tmp_path, local + "      ansible_private_key_file: nope\n"))
    assert inv.get("a").is_local, "a local host never reads its key"
    (tmp_path / "keydir").mkdir()
    inv = load_inventory(
        write(tmp_path, "all:\n  hosts:\n    a:\n      ansible_ssh_private_key_file: keydir\n")
    )
    assert inv.get("a").usable, "a key file is only needed when the host is connected to"
    assert [w for w in inv.warnings if "host 'a': key file" in w and "keydir is not" in w]
    with pytest.raises(HostError, match=r"^a: key file .*keydir is not a file"):
        connect(inv.get("a"), ConnectOptions())


LOGIN_PASSWORDS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_paramiko_pass",
)
BECOME_PASSWORDS = (
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
    "ansible_su_password",
)


@pytest.mark.parametrize("key", LOGIN_PASSWORDS)
def test_a_host_that_logs_in_with_a_password_is_left_out_naming_the_variable(
    tmp_path: Path, key: str
) -> None:
    text = (
        "all:\n  children:\n    guests:\n      vars:\n"
        f"        {key}: hunter2\n      hosts:\n        vm1: {{}}\n"
        "  hosts:\n    other: {ansible_host: 192.0.2.9}\n"
    )
    path = write(tmp_path, text)
    inv = load_inventory(path)
    reason = inv.get("vm1").unusable or ""
    assert reason.startswith(f"it logs in with a password ({key}, {path}:5)"), reason
    assert "ssh-agent" in reason and "hunter2" not in reason and "\n" not in reason
    assert [h.name for h in inv.select()] == ["other"], "the rest of the file works"


@pytest.mark.parametrize("key", BECOME_PASSWORDS)
def test_become_passwords_are_never_read(tmp_path: Path, key: str) -> None:
    inv = load_inventory(write(tmp_path, f"all:\n  hosts:\n    a:\n      {key}: hunter2\n"))
    assert inv.get("a").usable


def test_ansible_settings_that_are_not_passwords_still_pass(tmp_path: Path) -> None:
    inv = load_inventory(
        write(
            tmp_path,
            "all:\n  hosts:\n    a:\n      ansible_connection: local\n"
            "      ansible_become: true\n      ansible_become_user: root\n"
            "      ansible_ssh_pipelining: true\n",
        )
    )
    assert inv.get("a").is_local


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_others_can_read_is_refused_as_openssh_refuses_it(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "id_lab"
    key.write_text("key\n")
    key.chmod(mode)
    path = write(tmp_path, "all:\n  hosts:\n    a:\n      ansible_ssh_private_key_file: id_lab\n")
    inv = load_inventory(path)
    said = (
        f"permissions 0{mode:03o} for {key} are too open (others can read "
        f"the private key; ssh refuses it): chmod 600 {key}"
    )
    assert f"{path}:4: host 'a': {said}" in inv.warnings
    with pytest.raises(HostError) as info:
        connect(inv.get("a"), ConnectOptions())
    assert str(info.value) == f"a: {said}"
    key.chmod(0o600)
    assert load_inventory(path).get("a").key_file == str(key)
    key.chmod(0o400)
    assert load_inventory(path).get("a").key_file == str(key)


@pytest.mark.parametrize(
    ("hosts", "left_out", "words"),
    [
        (("h1", "H1"), "H1", "its name differs only in case from host 'h1' (PATH:3)"),
        (("a", "Web", "b", "wEB"), "wEB", "its name differs only in case from host 'Web' (PATH:4)"),
        (("x" * 200, "ok"), "x" * 200, "is 200 characters long, more than 128: rename the host"),
    ],
)
def test_host_names_whose_files_collide_are_left_out(
    tmp_path: Path, hosts: tuple[str, ...], left_out: str, words: str
) -> None:
    text = "all:\n  hosts:\n" + "".join(f"    {h}: {{ansible_connection: local}}\n" for h in hosts)
    path = write(tmp_path, text)
    inv = load_inventory(path)
    reason = inv.get(left_out).unusable or ""
    assert words.replace("PATH", str(path)) in reason and "\n" not in reason, reason
    assert [h.name for h in inv.usable] == [h for h in hosts if h != left_out]


def test_host_names_that_were_run_files_are_names_like_others(tmp_path: Path) -> None:
    """Each host's files sit in hosts/ and probes/: 'manifest' or 'web.probe' reach no
    file of the run's own, nor another host's."""
    names = ("web", "web.probe", "manifest", "run")
    text = "all:\n  hosts:\n" + "".join(f"    {h}: {{ansible_connection: local}}\n" for h in names)
    assert [h.name for h in load_inventory(write(tmp_path, text)).hosts] == list(names)


class CountingHosts(dict[str, Host]):
    """A plain dict that counts the lookups made in it (how often a chain is walked)."""

    lookups = 0

    def __getitem__(self, key: str) -> Host:
        self.lookups += 1
        return super().__getitem__(key)


def _chain(count: int, *, reverse: bool) -> str:
    hosts = [f"    h{i}: {{baseline: h{i - 1}}}\n" for i in range(1, count)]
    hosts = [*(reversed(hosts) if reverse else hosts), "    h0: {machine: box}\n"]
    return "all:\n  hosts:\n" + "".join(hosts)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_thousand_hosts_chained_by_baseline_are_walked_once(
    tmp_path: Path, reverse: bool
) -> None:
    count = 1100
    path = write(tmp_path, _chain(count, reverse=reverse))
    inv = load_inventory(path)
    assert len(inv.hosts) == count and {h.machine for h in inv.hosts} == {"box"}
    assert [h.name for h in plan_hosts(inv.hosts)][:2] == ["h0", "h1"]
    resolved = resolve(read_sources([path])[0])
    built = CountingHosts({h.name: h for h in inv.hosts})
    checks.check_baselines(resolved, built)
    assert built.lookups <= 2 * count, "each host's baseline is looked up a bounded number of times"
    built.lookups = 0
    checks.resolve_machines(built)
    assert built.lookups <= count


def test_a_long_ring_of_baselines_is_one_line_naming_the_hosts(tmp_path: Path) -> None:
    count = 1100
    ring = "".join(f"    h{i}: {{baseline: h{(i + 1) % count}}}\n" for i in range(count))
    path = write(tmp_path, "all:\n  vars: {machine: box}\n  hosts:\n" + ring)
    with pytest.raises(UserError) as info:
        load_inventory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: host 'h0': baselines form a cycle: h0 -> h1 -> h2")
    assert message.count(" -> ") == count and "h1099 -> h0:" in message


def test_a_cycle_behind_a_tail_names_the_ring_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "all:\n  vars: {machine: box}\n  hosts:\n    tail: {baseline: a}\n"
        "    a: {baseline: b}\n    b: {baseline: a}\n",
    )
    with pytest.raises(UserError, match=r":5: host 'a': baselines form a cycle: a -> b -> a: "):
        load_inventory(path)


def test_the_inventory_records_the_hash_of_what_it_read(tmp_path: Path) -> None:
    path = write(tmp_path, LAB)
    assert load_inventory(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    """load_inventory pauses the cyclic collector while it builds (hundreds of thousands
    of objects, none garbage) and gives it back as it found it, also on an error."""
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        load_inventory(write(tmp_path, LAB))
        assert gc.isenabled() is enabled
        with pytest.raises(UserError):
            load_inventory(write(tmp_path, "all:\n  hosts:\n    a: [\n"))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_ssh_plugins_later_variable_wins_as_in_ansible(tmp_path: Path) -> None:
    """ansible_ssh_host over ansible_host, ansible_ssh_port over ansible_port,
    ansible_ssh_user over ansible_user, ansible_ssh_private_key_file over
    ansible_private_key_file: the order of the ssh plugin's option variables."""
    inv = load_inventory(
        write(
            tmp_path,
            "all:\n  hosts:\n    a:\n      ansible_host: 10.0.0.1\n"
            "      ansible_ssh_host: 10.0.0.2\n"
            "      ansible_port: 2201\n      ansible_ssh_port: 2202\n      ansible_user: u1\n"
            "      ansible_ssh_user: u2\n      ansible_private_key_file: k1\n"
            "      ansible_ssh_private_key_file: k2\n      ansible_connection: ~\n",
        )
    )
    a = inv.get("a")
    assert (a.address, a.port, a.user, a.key_file) == ("10.0.0.2", 2202, "u2", str(tmp_path / "k2"))
    assert a.connection == "ssh", "a null ansible_connection is unset: ssh"
