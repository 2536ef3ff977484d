"""No secret of the inventory reaches a run's files; the manifest keeps what ringbench used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ringbench.results import InventorySnapshot, Manifest
from runners.cli import main
from suites.build import BuildInfo

QUICK = ["--processes", "1", "--values", "2", "--warmups", "1", "--min-time", "0.005"]
VAULT = "62313365396662343061393464336163383764373764613633653634306231386433626436623361"
SECRETS = ("hunter2", "s3cr3t", VAULT, "$ANSIBLE_VAULT")

INVENTORY = f"""\
all:
  vars:
    db_password: hunter2
    vault_api_key: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      {VAULT}
  hosts:
    here:
      ansible_connection: local
      virt_class: hardware-assisted
      api_token: s3cr3t
    other:
      ansible_host: 192.0.2.7
      ansible_user: bench
      hypervisor: "KVM, type 1"
"""

SNAPSHOT_FIELDS = {
    "connection",
    "address",
    "port",
    "user",
    "key_file",
    "proxy_jump",
    "virt_class",
    "machine",
    "baseline",
    "hypervisor",
    "placement",
    "harness_cpu",
    "controller_cpus",
    "disk",
}


def test_a_run_stores_no_secret_of_the_inventory(
    harness: BuildInfo, tmp_path: Path, workdir: Path
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    results = tmp_path / "results"
    argv = ["run", "--inventory", str(inventory), "--hosts", "here", "--bench", "syscall-null"]
    assert main([*argv, *QUICK, "--results", str(results), "--dir", str(workdir)]) == 0
    files = [p for p in results.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files) and any(
        p.name == "here.json" for p in files
    )
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} is in {path}"
    (manifest_path,) = results.rglob("manifest.json")
    recorded = json.loads(manifest_path.read_text())["inventory"]
    assert recorded["path"] == str(inventory)
    assert recorded["sha256"] == hashlib.sha256(inventory.read_bytes()).hexdigest()
    assert list(recorded["hosts"]) == ["here"], "only the hosts of the run"
    here = recorded["hosts"]["here"]
    assert set(here) == SNAPSHOT_FIELDS
    assert here["connection"] == "local" and here["virt_class"] == "hardware-assisted"
    assert here["machine"] == "here" and here["controller_cpus"] == []


def test_an_old_manifest_with_the_inventory_text_is_read_without_it() -> None:
    old = {
        "format_version": 1,
        "run_id": "20261124T184500Z-1a2b3c",
        "status": "complete",
        "inventory": {"path": "inventory.yaml", "text": INVENTORY},
    }
    manifest = Manifest.from_json(old, "20261124T184500Z-1a2b3c")
    assert manifest.inventory == InventorySnapshot("inventory.yaml", None, {})
    written = json.dumps(manifest.to_json())
    assert all(secret not in written for secret in SECRETS)
    assert "text" not in manifest.to_json()["inventory"]


def test_a_snapshot_keeps_only_the_fields_ringbench_used() -> None:
    data = {
        "path": "lab.yaml",
        "sha256": "ab" * 32,
        "hosts": {
            "vm": {"address": "10.0.0.2", "port": 2222, "controller_cpus": [0, 1], "api": "x"}
        },
    }
    snapshot = InventorySnapshot.from_json(data)
    assert snapshot is not None
    assert snapshot.to_json() == {
        "path": "lab.yaml",
        "sha256": "ab" * 32,
        "hosts": {"vm": {"address": "10.0.0.2", "port": 2222, "controller_cpus": [0, 1]}},
        "sources": ["lab.yaml"],  # an older manifest's one path: its only source
    }
    several = InventorySnapshot.from_json({**data, "sources": ["a.ini", "group_dir"]})
    assert several is not None and several.sources == ("a.ini", "group_dir")


@pytest.mark.parametrize(
    "bad", [{"port": "22"}, {"port": True}, {"controller_cpus": ["0"]}, {"user": 3}, "vm"]
)
def test_a_snapshot_with_a_wrong_type_is_refused_saying_where(bad: object) -> None:
    with pytest.raises(ValueError, match="inventory host 'vm'"):
        InventorySnapshot.from_json({"path": "p", "hosts": {"vm": bad}})
