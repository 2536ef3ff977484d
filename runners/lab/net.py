"""The lab's network: namespaces of its own, joined to the host by veth pairs it owns.

Nothing here touches the machine's own interfaces or sends a packet off the
machine: every address lives on a veth end, a tap inside a lab namespace, or
a guest behind one, in subnets of the instance's own 10.x.0.0/16
(:mod:`runners.lab.instance`) that the lab checks are unused before it takes
them: by the machine, and by any other instance of the lab.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from runners.lab.instance import Instance
from runners.lab.procs import LabError, run_cmd

IP_TIMEOUT_S = 15.0
LAB_LINK = re.compile(r"rb[a-z0-9]{0,5}-[a-z]+-[a-z]+")  # a link of some instance of the lab


@dataclass(frozen=True, slots=True)
class Link:
    """A namespace joined to the host: ``host_ip`` on ``host_if``, ``ns_ip`` inside."""

    netns: str
    host_if: str
    ns_if: str
    host_ip: str  # with prefix, e.g. 10.213.1.1/30
    ns_ip: str

    @property
    def ns_address(self) -> str:
        return self.ns_ip.split("/")[0]


def link_for(instance: Instance, role: str, index: int) -> Link:
    """The namespace and veth pair of one lab host; ``index`` picks its /30."""
    return Link(
        netns=instance.netns(role),
        host_if=instance.link(role, "h"),
        ns_if=instance.link(role, "g"),
        host_ip=instance.address(index, 1, 30),
        ns_ip=instance.address(index, 2, 30),
    )


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    prefix = ["ip", "netns", "exec", netns, "ip"] if netns else ["ip"]
    return run_cmd([*prefix, *args], timeout_s=IP_TIMEOUT_S, check=check).stdout


def list_netns() -> list[str]:
    out = run_cmd(["ip", "-json", "netns", "list"], timeout_s=IP_TIMEOUT_S).stdout
    return [str(n["name"]) for n in json.loads(out or "[]")]


def link_exists(name: str) -> bool:
    return (
        run_cmd(["ip", "link", "show", "dev", name], timeout_s=IP_TIMEOUT_S, check=False).returncode
        == 0
    )


def delete_link(name: str) -> None:
    ip("link", "del", "dev", name)


def delete_netns(name: str) -> None:
    ip("netns", "del", name)


def check_free(subnet: str, instance: Instance) -> None:
    """Refuse a subnet that the machine already routes (the lab would shadow it), another
    instance's included; routes on ``instance``'s own links do not count."""
    wanted = ipaddress.ip_network(subnet, strict=False)
    for route in json.loads(ip("-json", "route", "show", "table", "all") or "[]"):
        dst = route.get("dst", "")
        if dst in ("default", "") or instance.owns_link(str(route.get("dev", ""))):
            continue
        try:
            other = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if other.version == 4 and other.prefixlen > 0 and wanted.overlaps(other):
            dev = str(route.get("dev"))[:20]
            whose = " (another ringbench lab instance's)" if LAB_LINK.fullmatch(dev) else ""
            raise LabError(
                f"lab instance {instance.name}: its subnet {wanted} overlaps {other} (dev "
                f"{dev}{whose}) on this machine: the lab will not use it; choose another "
                "instance name (each has its own 10.x.0.0/16)"
            )


def create_netns(name: str) -> None:
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def create_veth(link: Link) -> None:
    """The veth pair: one end on the host, the other moved into the namespace."""
    ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.ns_if, "netns", link.netns)
    ip("addr", "add", link.host_ip, "dev", link.host_if)
    ip("link", "set", link.host_if, "up")
    ip("addr", "add", link.ns_ip, "dev", link.ns_if, netns=link.netns)
    ip("link", "set", link.ns_if, "up", netns=link.netns)


def create_tap(netns: str, tap: str, address: str) -> None:
    """A tap device inside ``netns`` with ``address`` on the namespace side."""
    ip("tuntap", "add", "dev", tap, "mode", "tap", netns=netns)
    ip("addr", "add", address, "dev", tap, netns=netns)
    ip("link", "set", tap, "up", netns=netns)


def enable_forwarding(netns: str) -> None:
    run_cmd(
        ["ip", "netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
        timeout_s=IP_TIMEOUT_S,
    )


def route_via(subnet: str, link: Link) -> None:
    """On the host: ``subnet`` (behind the namespace) through the veth; goes with the veth."""
    ip("route", "replace", subnet, "via", link.ns_address, "dev", link.host_if)
