"""The user's inventory, read as Ansible reads it (:mod:`.hosts` builds the hosts)."""

from runners.inventory.hosts import (
    CONNECTIONS,
    VIRT_CLASSES,
    Host,
    Inventory,
    key_problem,
    load_inventory,
    parse_cpus,
    parse_proxy_jump,
)

__all__ = [
    "CONNECTIONS",
    "VIRT_CLASSES",
    "Host",
    "Inventory",
    "key_problem",
    "load_inventory",
    "parse_cpus",
    "parse_proxy_jump",
]
