"""The user's inventory, read as Ansible reads it (:mod:`.load` builds the hosts)."""

from runners.inventory.host import CONNECTIONS, VIRT_CLASSES, Host, Inventory
from runners.inventory.load import load_inventory
from runners.inventory.values import key_problem, parse_cpus, parse_proxy_jump

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
