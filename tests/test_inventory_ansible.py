"""Real inventories resolve as ansible-core resolves them.

``tests/data/ansible-corpus/NN-name/`` holds inventories taken from public
repositories (Ansible's own tests and documentation, kubespray, kolla-ansible,
openshift-ansible, ceph-ansible, Ansible for DevOps, trellis, homelabs...), each
with its files under their repository paths and ``SOURCE.json`` saying where
they come from (repository, commit, paths) and which path is the source.

For every case, ansible-core itself (``tests/ansible_oracle.py``, in a child
process) and ``load_inventory`` read the same source; they must agree on the
set of hosts and, for each host, on its groups (``group_names``), the
connection and, over ssh, the address, port, user and key file.
``KNOWN_DIFFERENCES`` lists the cases that cannot agree, each with its
reason; the test holds that they still differ (so the table stays true), and
that at least 95% of the corpus agrees. Host order is not compared:
ansible-core walks nested groups through sets, so its order of hosts in
groups below the first level changes from one run to the next.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ringbench.errors import UserError
from runners.inventory import Host, load_inventory
from tests.ansible_oracle import OracleError, ansible_resolve, ansible_resolve_many

CORPUS = Path(__file__).parent / "data" / "ansible-corpus"
CASES = sorted(d.name for d in CORPUS.iterdir() if d.is_dir())
AGREEMENT = 0.95

# case -> why ringbench cannot resolve it as ansible-core does.
KNOWN_DIFFERENCES: dict[str, str] = {}

# ansible_connection -> what ringbench calls it (other plugins keep their name).
SSH_FAMILY = {
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
}
LOCAL = {"local", "ansible.builtin.local"}

needs_ansible = pytest.mark.skipif(
    importlib.util.find_spec("ansible") is None,
    reason="ansible-core is not installed (a test dependency: pip install ansible-core)",
)


def source_of(case: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((CORPUS / case / "SOURCE.json").read_text())
    return meta


def inventory_path(case: str) -> Path:
    return CORPUS / case / str(source_of(case)["inventory"])


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What ansible-core resolves for every case: one child process for the corpus."""
    tmp = tmp_path_factory.mktemp("ansible-oracle")
    results = ansible_resolve_many([[inventory_path(case)] for case in CASES], tmp)
    return dict(zip(CASES, results, strict=True))


def expected_connection(connection: str) -> str:
    if connection in SSH_FAMILY:
        return "ssh"
    if connection in LOCAL:
        return "local"
    return connection


def expected_key_file(written: str, inventory_dir: Path) -> str:
    """The key file ringbench should resolve ``written`` to: ``~`` expanded, a relative
    path taken from the inventory's directory (ansible-core takes it from its cwd)."""
    path = Path(written).expanduser()
    return os.path.normpath(path if path.is_absolute() else inventory_dir / path)


def host_differences(ours: Host, theirs: Mapping[str, Any], inventory_dir: Path) -> list[str]:
    """What ringbench resolves differently from ansible-core for one host."""
    name = ours.name
    if any(str(v).startswith("<error:") for v in theirs.values()):
        # ansible-core cannot render this host's connection values: nor can ringbench run on it
        if ours.usable:
            bad = next(v for v in theirs.values() if str(v).startswith("<error:"))
            return [f"{name}: ansible-core fails on it ({bad}), ringbench takes it as usable"]
        return []
    diffs = []
    if sorted(ours.groups) != theirs["groups"]:
        diffs.append(f"{name}: groups {sorted(ours.groups)}, ansible-core {theirs['groups']}")
    connection = expected_connection(str(theirs["connection"]))
    if ours.connection != connection:
        return [*diffs, f"{name}: connection {ours.connection!r}, ansible-core {connection!r}"]
    if connection not in ("ssh", "local") and ours.usable:
        diffs.append(f"{name}: connection {connection!r} taken as usable")
    if connection != "ssh":
        return diffs
    port = 22 if theirs["port"] is None else theirs["port"]
    key = theirs["key_file"]
    want = {
        "address": theirs["address"],
        "port": port,
        "user": theirs["user"],
        "key_file": None if key is None else expected_key_file(str(key), inventory_dir),
    }
    got = {
        "address": ours.address,
        "port": ours.port,
        "user": ours.user,
        "key_file": None if ours.key_file is None else os.path.normpath(ours.key_file),
    }
    for field, value in want.items():
        if got[field] != value:
            diffs.append(f"{name}: {field} {got[field]!r}, ansible-core {value!r}")
    return diffs


def differences(case: str, theirs: Mapping[str, Any]) -> list[str]:
    """Every way ringbench's resolution of ``case`` differs from ansible-core's (none: agree)."""
    if "error" in theirs:
        return [f"ansible-core cannot read it: {theirs['error']}"]
    path = inventory_path(case)
    try:
        inventory = load_inventory([path])
    except UserError as exc:
        return [f"ringbench refuses it: {exc}"]
    ours = {h.name: h for h in inventory.hosts}
    hosts: Mapping[str, Mapping[str, Any]] = theirs["hosts"]
    diffs = []
    if missing := [n for n in hosts if n not in ours]:
        diffs.append(f"hosts only ansible-core has: {', '.join(missing)}")
    if extra := [n for n in ours if n not in hosts]:
        diffs.append(f"hosts only ringbench has: {', '.join(extra)}")
    inventory_dir = path if path.is_dir() else path.parent
    for name in hosts:
        if name in ours:
            diffs += host_differences(ours[name], hosts[name], inventory_dir)
    return diffs


@pytest.fixture(scope="session")
def comparison(oracle: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {case: differences(case, oracle[case]) for case in CASES}


@needs_ansible
@pytest.mark.parametrize("case", CASES)
def test_case_resolves_as_ansible_core(case: str, comparison: dict[str, list[str]]) -> None:
    diffs = comparison[case]
    if case in KNOWN_DIFFERENCES:
        assert diffs, (
            f"{case} now resolves as ansible-core does: remove it from KNOWN_DIFFERENCES "
            f"({KNOWN_DIFFERENCES[case]})"
        )
    else:
        assert not diffs, f"{case} ({source_of(case)['repo']}):\n" + "\n".join(diffs[:20])


@needs_ansible
def test_at_least_95_percent_of_the_corpus_agrees(comparison: dict[str, list[str]]) -> None:
    agree = [case for case, diffs in comparison.items() if not diffs]
    summary = "\n".join(f"{case}: {diffs[0]}" for case, diffs in comparison.items() if diffs)
    assert len(agree) >= AGREEMENT * len(CASES), (
        f"{len(agree)} of {len(CASES)} agree (need {AGREEMENT:.0%}):\n{summary}"
    )
    assert set(KNOWN_DIFFERENCES) <= set(CASES), "KNOWN_DIFFERENCES names a case not in the corpus"


@needs_ansible
def test_ansible_core_reads_every_case(oracle: dict[str, dict[str, Any]]) -> None:
    """The corpus is right: ansible-core parses every case whole and finds hosts in it."""
    for case, result in oracle.items():
        assert "error" not in result, f"{case}: {result['error']}"
        assert result["hosts"], f"{case}: ansible-core finds no host"
        unparsed = [w for w in result["warnings"] if "Unable to parse" in w or "Failed to" in w]
        assert not unparsed, f"{case}: {unparsed}"


@needs_ansible
def test_the_oracle_resolves_as_ansible_documents(tmp_path: Path) -> None:
    """The oracle itself: ansible-core's documented rules come out of it (ssh_host over
    host, a port as text, ranges, an undefined template, another connection plugin)."""
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts").write_text(
        "[web]\n"
        "www[01:03:2].example.com ansible_port=0022\n"
        "db ansible_host=10.0.0.1 ansible_ssh_host=10.0.0.2 ansible_user='{{ who }}'\n"
        "broken ansible_host='{{ nowhere }}'\n"
        "win ansible_connection=winrm\n"
        "[web:vars]\n"
        "who=deploy\n"
    )
    hosts = ansible_resolve([tmp_path / "inv" / "hosts"], tmp_path / "oracle")
    assert list(hosts) == ["www01.example.com", "www03.example.com", "db", "broken", "win"]
    assert hosts["www01.example.com"]["port"] == 22
    assert hosts["db"]["address"] == "10.0.0.2"
    assert hosts["db"]["user"] == "deploy"
    assert hosts["db"]["port"] is None
    assert str(hosts["broken"]["address"]).startswith("<error: 'nowhere' is undefined")
    assert hosts["win"]["connection"] == "winrm"
    with pytest.raises(OracleError, match="No inventory was parsed"):
        ansible_resolve([tmp_path / "missing"], tmp_path / "oracle")


def test_every_case_says_where_it_comes_from() -> None:
    """SOURCE.json names the repository, the commit and every file the case holds."""
    assert len(CASES) >= 40
    for case in CASES:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", case), case
        meta = source_of(case)
        assert set(meta) == {"repo", "commit", "paths", "inventory", "note"}, case
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", meta["repo"]), case
        assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"]), case
        assert meta["note"], case
        listed = {re.sub(r" \(from .*\)$", "", p) for p in meta["paths"]}
        held = {
            str(p.relative_to(CORPUS / case))
            for p in (CORPUS / case).rglob("*")
            if p.is_file() and p.name != "SOURCE.json"
        }
        assert listed == held, f"{case}: SOURCE.json paths and the files held differ"
        assert inventory_path(case).exists(), case


def test_the_corpus_is_a_mix_like_real_use() -> None:
    """INI and YAML files, directories, and inventories with group_vars/host_vars."""
    kinds = {"ini": 0, "yaml": 0, "directory": 0, "vars files": 0}
    for case in CASES:
        path = inventory_path(case)
        if path.is_dir():
            kinds["directory"] += 1
        elif path.suffix in (".yml", ".yaml", ".json"):
            kinds["yaml"] += 1
        else:
            kinds["ini"] += 1
        paths = source_of(case)["paths"]
        if any("group_vars/" in p or "host_vars/" in p for p in paths):
            kinds["vars files"] += 1
    assert kinds["ini"] >= 20 and kinds["yaml"] >= 12, kinds
    assert kinds["directory"] + kinds["vars files"] >= 6, kinds
