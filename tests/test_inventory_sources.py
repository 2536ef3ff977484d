"""Inventory sources (directories, several sources, group_vars/ and host_vars/,
``--list`` JSON, scripts and plugin configurations) held against ansible-core itself.

ansible-core runs in a child process (:func:`ansible_vars`): its InventoryManager and
VariableManager on the same sources, isolated (``ANSIBLE_CONFIG`` an empty file,
``HOME``, ``ANSIBLE_HOME`` and its temporary directory under ``tmp_path``), and each
host's variables (``get_vars(include_hostvars=False)``, Ansible's magic variables
left out) are compared with what :func:`read_sources` and :func:`resolve` give.
The dynamic sources run the real ``ansible-inventory`` of the test environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ringbench.errors import UserError
from runners.inventory import dynamic, listjson, vars_files
from runners.inventory.dynamic import resolve_dynamic
from runners.inventory.listjson import looks_like_list_json, read_list_json
from runners.inventory.model import InventoryData, Tagged, Unsafe
from runners.inventory.resolve import resolve
from runners.inventory.sources import read_sources
from runners.inventory.vars_files import VAULT_FILE_KEY, load_vars_files
from tests.ansible_oracle import isolated_env

VENV_BIN = Path(sys.executable).parent
VAULT_TEXT = "$ANSIBLE_VAULT;1.1;AES256\n3132333435363738393031323334353637383930\n"

ORACLE = r"""
import json, sys
from ansible import constants as C
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.vars.manager import VariableManager

MAGIC = set(C.INTERNAL_STATIC_VARS) | {
    "ansible_facts", "ansible_version", "ansible_playbook_python", "ansible_config_file",
    "playbook_dir", "omit",
}
init_plugin_loader([])
loader = DataLoader()
inventory = InventoryManager(loader=loader, sources=sys.argv[1:])
manager = VariableManager(loader=loader, inventory=inventory)
hosts = {}
for name, host in inventory.hosts.items():
    variables = manager.get_vars(host=host, include_hostvars=False)
    hosts[name] = {
        "groups": sorted(variables["group_names"]),
        "vars": {k: v for k, v in variables.items() if k not in MAGIC},
    }
json.dump(
    {"hosts": hosts, "order": list(inventory.hosts)},
    sys.stdout,
    default=lambda o: "<" + type(o).__name__ + ">",
)
"""


@pytest.fixture(autouse=True)
def ansible_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ansible-core (in-process children and ``ansible-inventory``) kept off the user's
    home and configuration; the environment's ``ansible-inventory`` on PATH."""
    env = isolated_env(tmp_path / "ansible")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return Path(env["HOME"])


def ansible_vars(sources: list[Path], cwd: Path) -> dict[str, Any]:
    """What ansible-core resolves: ``{"hosts": {NAME: {"groups", "vars"}}, "order"}``."""
    proc = subprocess.run(
        [sys.executable, "-c", ORACLE, *(str(s.absolute()) for s in sources)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ANSIBLE_DEPRECATION_WARNINGS": "False"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _plain(value: object) -> object:
    """A resolved value as the oracle prints it (a vault value is a marker there)."""
    if isinstance(value, Tagged):
        return "<EncryptedString>" if value.tag == "!vault" else f"<{value.tag}>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Unsafe):
        return str(value)
    return value


def ringbench_vars(data: InventoryData) -> dict[str, Any]:
    """The same shape as :func:`ansible_vars`, from ringbench's reading."""
    resolved = resolve(data)
    hosts = {
        name: {
            "groups": sorted(host.groups),
            "vars": {
                k: _plain(v.value)
                for k, v in host.vars.items()
                if k not in ("inventory_file", "inventory_dir")
            },
        }
        for name, host in resolved.hosts.items()
    }
    return {"hosts": hosts, "order": list(data.hosts)}


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


# -- group_vars/ and host_vars/ -------------------------------------------------------


def test_vars_files_take_the_first_form_that_exists_and_walk_directories_sorted(
    tmp_path: Path,
) -> None:
    write(tmp_path / "group_vars" / "web", "form: bare\n")
    write(tmp_path / "group_vars" / "web.yml", "form: yml\nnot_read: 1\n")
    write(tmp_path / "group_vars" / "all" / "b.yml", "order: b\nb: 1\n")
    write(tmp_path / "group_vars" / "all" / "a.yaml", "order: a\na: 1\n")
    write(tmp_path / "group_vars" / "all" / "c" / "d.json", '{"order": "c/d", "big": 1e3}')
    write(tmp_path / "group_vars" / "all" / ".hidden.yml", "order: hidden\n")
    write(tmp_path / "group_vars" / "all" / "e.yml~", "order: backup\n")
    write(tmp_path / "group_vars" / "all" / "f.txt", "order: txt\n")
    write(tmp_path / "group_vars" / "all" / "empty.yml", "# nothing\n")
    write(tmp_path / "group_vars" / "other.yml", "{{ not even yaml\n")  # no such group
    write(tmp_path / "host_vars" / "w1.yml", "who: w1\n")
    found = load_vars_files(tmp_path, ["all", "web", "db"], ["w1", "w2"])
    assert found.basedir == tmp_path
    assert [{k: v.value for k, v in layer.items()} for layer in found.groups["all"]] == [
        {"order": "a", "a": 1},
        {"order": "b", "b": 1},
        {"order": "c/d", "big": 1000.0},  # JSON first, as Ansible's loader: 1e3 a float
        {},
    ]
    assert [{k: v.value for k, v in layer.items()} for layer in found.groups["web"]] == [
        {"form": "bare"}
    ]
    assert "db" not in found.groups and "w2" not in found.hosts
    assert found.hosts["w1"][0]["who"].origin.line == 1
    assert str(found.groups["all"][1]["b"].origin) == f"{tmp_path}/group_vars/all/b.yml:2"


def test_vars_files_resolve_as_ansible_resolves_them(tmp_path: Path) -> None:
    write(tmp_path / "group_vars" / "web", "form: bare\n")
    write(tmp_path / "group_vars" / "web.yml", "form: yml\nnot_read: 1\n")
    write(tmp_path / "group_vars" / "all" / "b.yml", "order: b\nb: 1\n")
    write(tmp_path / "group_vars" / "all" / "a.yaml", "order: a\na: 1\nform: all\n")
    write(tmp_path / "group_vars" / "all" / "c" / "d.json", '{"order": "c/d", "big": 1e3}')
    write(tmp_path / "host_vars" / "w1" / "main.yml", "who: w1\norder: host\n")
    listed = {
        "_meta": {"hostvars": {"w1": {"who": "inventory", "form": "host"}}},
        "web": {"hosts": ["w1", "w2"], "vars": {"form": "inventory"}},
    }
    script = write(tmp_path / "inv.py", _script(listed), 0o755)
    data = InventoryData()
    data.sources.append(script)
    value, _ = resolve_dynamic(script)
    read_list_json(data, script, value)
    data.reconcile()
    data.vars_files.append(load_vars_files(tmp_path, data.groups, data.hosts))
    theirs = ansible_vars([script], tmp_path)
    assert ringbench_vars(data) == theirs
    assert theirs["hosts"]["w1"]["vars"]["order"] == "host"
    assert theirs["hosts"]["w2"]["vars"]["form"] == "bare"


def test_a_variables_file_that_is_a_list_is_one_line_naming_it(tmp_path: Path) -> None:
    bad = write(tmp_path / "group_vars" / "all.yml", "# vars\n- a\n- b\n")
    with pytest.raises(UserError) as caught:
        load_vars_files(tmp_path, ["all"], [])
    message = str(caught.value)
    assert message.startswith(f"{bad}:2: a variables file must be a mapping")
    assert "\n" not in message
    write(tmp_path / "group_vars" / "all.yml", "[]\n")  # empty: no variables, as Ansible
    assert load_vars_files(tmp_path, ["all"], []).groups["all"] == [{}]


def test_a_vault_encrypted_variables_file_is_a_marker_not_its_text(tmp_path: Path) -> None:
    secret = write(tmp_path / "host_vars" / "w1.yml", VAULT_TEXT)
    found = load_vars_files(tmp_path, [], ["w1"])
    (layer,) = found.hosts["w1"]
    assert list(layer) == [VAULT_FILE_KEY]
    assert layer[VAULT_FILE_KEY].value == Tagged("!vault-file")
    assert str(layer[VAULT_FILE_KEY].origin) == f"{secret}:1"


def test_vars_files_are_bounded_and_a_stray_group_vars_file_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in "abcd":
        write(tmp_path / "group_vars" / "all" / f"{name}.yml", f"{name}: 1\n")
    monkeypatch.setattr(vars_files, "MAX_FILES", 3)
    with pytest.raises(UserError, match="over 3 variables files"):
        load_vars_files(tmp_path, ["all"], [])
    other = tmp_path / "other"
    write(other / "host_vars", "not: a directory\n")
    warnings: list[str] = []
    assert load_vars_files(other, [], ["w1"], warnings=warnings).hosts == {}
    assert warnings == [f"{other}/host_vars: is not a directory: skipped, as Ansible skips it"]


# -- the JSON of ansible-inventory --list ---------------------------------------------

LISTED = {
    "_meta": {
        "hostvars": {
            "w1": {
                "ansible_host": "10.0.0.1",
                "raw": {"__ansible_unsafe": "{{ not_templated }}"},
                "secret": {"__ansible_vault": "3132"},
            },
            "ghost": {"ansible_host": "10.9.9.9"},
        }
    },
    "all": {"children": ["ungrouped", "web", "db"], "vars": {"ansible_user": "ops"}},
    "web": {"hosts": ["w1", "w2"], "vars": {"http_port": 80}, "children": ["db"]},
    "db": ["d1", "w1"],
    "odd": {"ansible_host": "10.0.0.9"},
}


def _script(listed: object) -> str:
    return (
        "#!/bin/sh\n"
        'if [ "$1" = "--list" ]; then\n'
        f"cat <<'EOF'\n{json.dumps(listed)}\nEOF\n"
        "else echo '{}'; fi\n"
    )


def test_list_json_is_read_as_ansibles_script_plugin_reads_it(tmp_path: Path) -> None:
    assert looks_like_list_json(LISTED)
    assert not looks_like_list_json({"all": {"hosts": {"a": None}}})
    path = tmp_path / "listed.json"
    data = InventoryData()
    read_list_json(data, path, json.loads(json.dumps(LISTED), object_hook=listjson._markers))
    data.reconcile()
    assert list(data.hosts) == ["w1", "w2", "d1", "odd"]
    assert data.hosts["w1"].vars["raw"].value == Unsafe("{{ not_templated }}")
    assert isinstance(data.hosts["w1"].vars["raw"].value, Unsafe)
    assert data.hosts["w1"].vars["secret"].value == Tagged("!vault")
    assert data.groups["odd"].vars["ansible_host"].value == "10.0.0.9"
    assert list(data.groups["web"].children) == ["db"]
    assert any("'ghost'" in w and "in no group" in w for w in data.warnings)
    assert any("'odd'" in w and "its own sole host" in w for w in data.warnings)
    script = write(tmp_path / "inv.sh", _script(LISTED), 0o755)
    theirs = ansible_vars([script], tmp_path)
    ours = ringbench_vars(data)
    assert ours["hosts"] == theirs["hosts"]


def test_list_json_without_meta_is_read_with_a_warning() -> None:
    data = InventoryData()
    read_list_json(data, Path("inv.json"), {"web": {"hosts": ["w1"]}})
    assert list(data.hosts) == ["w1"]
    assert data.warnings == [
        "inv.json: no '_meta.hostvars': Ansible would run the inventory script with "
        "--host for each host, ringbench runs nothing: its hosts get only their "
        "groups' variables"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "the inventory JSON must be a mapping of groups, not a list"),
        ({"_meta": {}}, "'_meta.hostvars' must be a mapping of HOST: {variables}, not null"),
        ({"_meta": {"hostvars": {}, "profile": "tagless"}}, "not an inventory profile"),
        ({"web": {"hosts": "w1"}}, "the hosts of group 'web' must be a list of names"),
        ({"web": {"hosts": [1]}}, "a host of group 'web' is the number 1, not a name"),
        ({"web": {"vars": ["a"]}}, "the vars of group 'web' must be a mapping, not a list"),
        ({"web": {"children": "db"}}, "the children of group 'web' must be a list"),
        ({"a": {"children": ["b"]}, "b": {"children": ["a"]}}, "would contain itself"),
        ({"_meta": {"hostvars": {"w": []}}, "g": ["w"]}, "variables of host 'w'"),
    ],
)
def test_bad_list_json_is_one_line_naming_the_file(value: object, message: str) -> None:
    with pytest.raises(UserError) as caught:
        read_list_json(InventoryData(), Path("out.json"), value)
    assert str(caught.value).startswith("out.json")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# -- dynamic sources through ansible-inventory -----------------------------------------


def test_a_script_is_resolved_by_ansible_inventory(tmp_path: Path) -> None:
    script = write(tmp_path / "inv.sh", _script(LISTED), 0o755)
    value, output = resolve_dynamic(script)
    assert listjson.decode_json(output.decode()) == value
    data = InventoryData()
    read_list_json(data, script, value)
    data.reconcile()
    assert ringbench_vars(data)["hosts"] == ansible_vars([script], tmp_path)["hosts"]
    assert str(data.hosts["w1"].origin) == str(script)


def test_a_plugin_configuration_is_resolved_by_ansible_inventory(tmp_path: Path) -> None:
    config = write(
        tmp_path / "fleet.yml",
        "plugin: ansible.builtin.generator\n"
        "hosts:\n"
        "  name: '{{ role }}-{{ n }}'\n"
        "  parents:\n"
        "    - name: '{{ role }}'\n"
        "      vars: {tier: '{{ role }}'}\n"
        "layers:\n"
        "  role: [web, db]\n"
        "  n: ['1', '2']\n",
    )
    value, _ = resolve_dynamic(config, plugin="ansible.builtin.generator")
    data = InventoryData()
    read_list_json(data, config, value)
    data.reconcile()
    ours, theirs = ringbench_vars(data), ansible_vars([config], tmp_path)
    assert sorted(ours["hosts"]) == ["db-1", "db-2", "web-1", "web-2"]
    assert ours["hosts"] == theirs["hosts"]
    assert ours["hosts"]["web-1"]["vars"] == {"tier": "web"}


def test_without_ansible_inventory_a_dynamic_source_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    config = write(tmp_path / "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\n")
    with pytest.raises(UserError) as caught:
        resolve_dynamic(config, plugin="amazon.aws.aws_ec2")
    assert str(caught.value) == (
        f"{config}: an inventory plugin configuration ('plugin: amazon.aws.aws_ec2'): "
        "ringbench resolves it with 'ansible-inventory --list', which is not installed "
        "here: install ansible-core (pip install ansible-core) or give the output of "
        f"'ansible-inventory --list -i {config}' as the inventory"
    )
    script = write(tmp_path / "inv.sh", _script({}), 0o755)
    with pytest.raises(UserError, match=r"an executable inventory script: .* not installed"):
        resolve_dynamic(script)


def test_a_failing_script_is_one_line_with_its_stderr(tmp_path: Path) -> None:
    script = write(
        tmp_path / "inv.sh", "#!/bin/sh\necho 'no credentials for the API' >&2\nexit 3\n", 0o755
    )
    with pytest.raises(UserError) as caught:
        resolve_dynamic(script)
    message = str(caught.value)
    assert message.startswith(f"{script}: an executable inventory script: ")
    assert "failed (exit 1)" in message
    assert "non-zero exit code 3" in message
    assert "the script's stderr: no credentials for the API" in message
    assert "\n" not in message


def test_a_script_that_hangs_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = write(
        tmp_path / "inv.sh", f"#!/bin/sh\necho $$ > {pid_file}\nsleep 60\necho '{{}}'\n", 0o755
    )
    started = time.monotonic()
    with pytest.raises(UserError, match=r"did not finish in 4 s: check that the source"):
        resolve_dynamic(script, timeout_s=4)
    assert time.monotonic() - started < 15
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _fake_ansible_inventory(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "fake-bin"
    write(bin_dir / "ansible-inventory", f"#!/bin/sh\n{body}\n", 0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_ansible_inventory_is_run_with_an_argv_list_in_the_sources_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "record"
    _fake_ansible_inventory(
        tmp_path,
        f'printf "%s\\n" "$@" > {record}; pwd >> {record}; '
        f'echo "vars=[$ANSIBLE_VARS_ENABLED] failed=$ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED" '
        f'>> {record}; read line; echo \'{{"web": ["a b"]}}\'',
        monkeypatch,
    )
    source = write(tmp_path / "dir with space" / "it's.sh", "#!/bin/sh\n", 0o755)
    earlier = write(tmp_path / "static.ini", "a\n")
    value, _ = resolve_dynamic(source, plugin="constructed", before=[earlier])
    assert value == {"web": ["a b"]}
    assert record.read_text().splitlines() == [
        "--list",
        "--export",
        "-i",
        str(earlier),
        "-i",
        str(source),
        str(source.parent),
        "vars=[] failed=True",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'Traceback ... not json'", "did not print an inventory as JSON ('Traceback"),
        ("echo '[1, 2]'", "did not print an inventory as JSON"),
        (
            "while :; do echo '{\"a\": 1}'; done",
            "printed over 1 MiB: ringbench reads at most that much",
        ),
        (
            "printf '[WARNING]: x\\n\\033[31m[ERROR]: bad \\001 thing\\n' >&2; exit 2",
            "failed (exit 2): \\x1b[31m[ERROR]: bad \\x01 thing: fix the source",
        ),
    ],
)
def test_what_ansible_inventory_prints_is_bounded_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    _fake_ansible_inventory(tmp_path, body, monkeypatch)
    monkeypatch.setattr(dynamic, "MAX_STDOUT", 2**20)
    source = write(tmp_path / "inv.sh", "#!/bin/sh\n", 0o755)
    with pytest.raises(UserError) as caught:
        resolve_dynamic(source, timeout_s=30)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{source}: ")
    assert "\n" not in str(caught.value)


# -- sources: files, directories, several of them ---------------------------------------


def test_a_directory_is_read_as_ansible_reads_it(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    write(
        inv / "01-static.ini",
        "[web]\nw1 ansible_host=10.0.0.1\nw2\n[db]\nd1\n"
        "[web:vars]\nport=81\nweb_only='yes'\n[edge:children]\nweb\n[edge]\ne[1:2]\n",
    )
    write(
        inv / "02-cloud.yml",
        "all:\n"
        "  vars: {tier: all}\n"
        "  children:\n"
        "    db:\n"
        "      hosts:\n"
        "        d2: {ansible_host: 10.0.0.3}\n"
        "      vars: {tier: db}\n"
        "    prod:\n"
        "      children:\n"
        "        web:\n"
        "          vars: {tier: web}\n"
        "        db:\n",
    )
    write(inv / "sub" / "03-more", "loners:\n  hosts:\n    l1:\n      who: l1\n")
    write(inv / "sub" / "group_vars" / "loners.yml", "not_read: 1\n")  # not a source's
    write(inv / "04.ini", "w3 who=w3\n")  # .ini is read in a directory
    for ignored in ("README.md", "ansible.cfg", ".hidden", "hosts.retry", "notes.txt", "x~"):
        write(inv / ignored, "{{ not: [an inventory\n")
    write(inv / "group_vars" / "all.yml", "from_all_file: 1\ntier: all-file\n")
    write(inv / "group_vars" / "web" / "a.yml", "tier: web-a\nport: 80\n")
    write(inv / "group_vars" / "web" / "b.yml", "port: 8080\n")
    write(inv / "group_vars" / "prod.yml", "tier: prod-file\n")
    write(inv / "host_vars" / "w1.yml", "ansible_host: 10.0.0.11\n")
    data, _ = read_sources([inv])
    assert data.sources == [inv]
    assert data.warnings == []
    ours, theirs = ringbench_vars(data), ansible_vars([inv], tmp_path)
    assert ours == theirs
    assert theirs["order"] == ["w1", "w2", "d1", "e1", "e2", "d2", "w3", "l1"]
    assert theirs["hosts"]["w1"]["vars"]["ansible_host"] == "10.0.0.11"
    assert theirs["hosts"]["w2"]["vars"]["port"] == 8080
    assert theirs["hosts"]["l1"]["vars"] == {"who": "l1", "from_all_file": 1, "tier": "all-file"}


def test_several_sources_merge_in_order_and_one_given_twice_is_read_once(
    tmp_path: Path,
) -> None:
    first = write(tmp_path / "a" / "hosts.yml", "web:\n  hosts:\n    h: {x: 1, y: 1}\n")
    second = write(tmp_path / "b" / "hosts", "[db]\nh x=2\nd\n")
    write(tmp_path / "b" / "group_vars" / "web.yml", "z: b\n")
    write(tmp_path / "a" / "host_vars" / "h.yml", "y: host_vars\n")
    data, sha = read_sources([first, second, first, tmp_path / "a" / ".." / "a" / "hosts.yml"])
    assert data.sources == [first, second]
    assert len(data.vars_files) == 2
    assert ringbench_vars(data) == ansible_vars([first, second], tmp_path)
    assert ringbench_vars(data)["hosts"]["h"]["vars"] == {"x": 2, "y": "host_vars", "z": "b"}
    _, only_sha = read_sources([second])
    assert only_sha == hashlib.sha256(second.read_bytes()).hexdigest()
    assert sha != only_sha


def test_a_file_of_a_directory_that_does_not_parse_is_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    inv = tmp_path / "inventory"
    good = write(inv / "hosts.yml", "web:\n  hosts:\n    w1:\n")
    makefile = write(inv / "Makefile", "all:\n\tansible-playbook site.yml\n")
    broken = write(inv / "broken.yaml", "web:\n  hosts: [w2\n")
    data, _ = read_sources([inv])
    assert list(data.hosts) == ["w1"] == ansible_vars([inv], tmp_path)["order"]
    assert len(data.warnings) == 2
    assert data.warnings[0].startswith(f"{makefile}:1: ")
    assert data.warnings[1].startswith(f"{broken}:3: YAML syntax error")
    assert all("skipped, as Ansible skips a file it cannot parse" in w for w in data.warnings)
    with pytest.raises(UserError, match=r"^.*broken\.yaml:3: YAML syntax error"):
        read_sources([broken])  # given directly: an error
    assert read_sources([good])[0].warnings == []


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("hosts.yml", "- a\n- b\n", "hosts.yml:1: a YAML inventory is a mapping of groups"),
        (
            "cloud.json",
            '{"plugin": "amazon.aws.aws_ec2"}',
            "cloud.json:1: a plugin configuration ('plugin: amazon.aws.aws_ec2') is read by "
            "Ansible only from a file named *.yml or *.yaml: rename it",
        ),
        ("hosts", VAULT_TEXT, "hosts:1: is encrypted with ansible-vault"),
        (
            "ec2.py",
            "#!/usr/bin/env python3\nimport json\nprint(json.dumps({}))\n",
            "ec2.py:1: starts with '#!' but is not executable: Ansible runs an inventory "
            "script only when it is executable: chmod +x it",
        ),
    ],
)
def test_a_file_that_is_no_inventory_is_one_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(UserError) as caught:
        read_sources([path])
    assert str(caught.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        read_sources([tmp_path / "nope"])
    assert str(caught.value) == (
        f"{tmp_path / 'nope'}: no such inventory file or directory: check the path"
    )
    with pytest.raises(UserError, match="a host list 'a,b,' is not read"):
        read_sources([Path("h1,h2,")])


def test_a_static_list_json_file_is_read_with_its_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "inventory.json", json.dumps(LISTED, indent=2) + "\n")
    data, _ = read_sources([path])
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if '"w2"' in text)
    assert str(data.hosts["w2"].origin) == f"{path}:{line}"
    assert data.hosts["w1"].vars["ansible_host"].origin.line > 1
    script = write(tmp_path / "inv.sh", _script(LISTED), 0o755)
    assert ringbench_vars(data)["hosts"] == ansible_vars([script], tmp_path)["hosts"]


def test_a_script_and_a_plugin_configuration_in_a_directory(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    write(inv / "01-cloud.sh", _script(LISTED), 0o755)
    write(inv / "02-static.yml", "web:\n  hosts:\n    w1: {arch: arm}\n    w9: {arch: x86}\n")
    write(
        inv / "03-constructed.yml",
        "plugin: ansible.builtin.constructed\n"
        "strict: true\n"
        "compose:\n  label: arch | default('none') + '-' + inventory_hostname\n"
        "groups:\n  arm: arch | default('') == 'arm'\n",
    )
    write(inv / "group_vars" / "arm.yml", "from_arm_file: yes\n")
    data, _ = read_sources([inv])
    ours, theirs = ringbench_vars(data), ansible_vars([inv], tmp_path)
    assert ours["hosts"] == theirs["hosts"]
    assert sorted(ours["order"]) == sorted(theirs["order"])
    assert theirs["hosts"]["w1"]["groups"] == ["arm", "db", "web"]
    assert theirs["hosts"]["w1"]["vars"]["label"] == "arm-w1"
    assert theirs["hosts"]["w1"]["vars"]["from_arm_file"] is True


def test_an_executable_file_the_system_cannot_run_is_read_as_static(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "hosts.yml", "web:\n  hosts:\n    w1:\n", 0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no ansible-inventory needed
    data, _ = read_sources([path])
    assert list(data.hosts) == ["w1"]
    assert str(data.hosts["w1"].origin) == f"{path}:3"


def test_a_toml_inventory_is_resolved_by_ansible_inventory(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hosts.toml",
        '[web]\nhosts = { w1 = { ansible_host = "10.0.0.1" }, w2 = {} }\nvars = { port = 8080 }\n',
    )
    data, _ = read_sources([path])
    ours, theirs = ringbench_vars(data), ansible_vars([path], tmp_path)
    assert ours["hosts"] == theirs["hosts"]
    assert ours["hosts"]["w1"]["vars"] == {"ansible_host": "10.0.0.1", "port": 8080}
