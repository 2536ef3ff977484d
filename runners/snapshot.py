"""What a run's manifest records of its inventory: the file, its hash, what was used of each host.

Never the inventory's text: beside ringbench's variables it may hold other
tools' (``db_password: ...``, ``!vault`` blobs), and a manifest is a file
anyone who reads the results reads. The hash says whether the file changed
since the run; the host fields say what the run was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ringbench.results import InventorySnapshot
from runners.inventory import Host, Inventory


def host_record(host: Host) -> dict[str, Any]:
    """The fields of ``host`` the run used (:attr:`InventorySnapshot.HOST_FIELDS`)."""
    return {
        "connection": host.connection,
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "key_file": host.key_file,  # the path only: the key stays where it is
        "proxy_jump": host.proxy_jump,
        "virt_class": host.virt_class,
        "machine": host.machine,
        "baseline": host.baseline,
        "hypervisor": host.hypervisor,
        "placement": host.placement,
        "harness_cpu": host.harness_cpu,
        "controller_cpus": host.controller_cpus,
        "disk": host.disk,
    }


def inventory_snapshot(inventory: Inventory, hosts: Sequence[Host]) -> InventorySnapshot:
    """The snapshot of ``inventory`` for a run of ``hosts``."""
    return InventorySnapshot(
        path=str(inventory.path),
        sha256=inventory.sha256,
        hosts={host.name: host_record(host) for host in hosts},
        sources=tuple(str(s) for s in inventory.sources or (inventory.path,)),
    )
