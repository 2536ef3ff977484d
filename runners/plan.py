"""What a run will do: which hosts, in which order, how to reach them.

Hosts that share a physical machine run one after another (they would
disturb each other's figures); machines run in parallel. Within a machine a
baseline runs before the hosts measured against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runners.execute import RunConfig
from runners.inventory import Host
from runners.ssh import SSHConnection, resolve_target
from runners.transport import Connection, LocalConnection
from suites.catalog import Benchmark

# The host of `--local`: this machine, measured in place, with no inventory.
LOCAL_HOST = Host(
    name="localhost",
    connection="local",
    address="localhost",
    user=None,
    port=22,
    key_file=None,
    ssh_common_args=None,
    proxy_jump=None,
    virt_class=None,
    machine="localhost",
    baseline=None,
    hypervisor=None,
    groups=(),
    line=0,
)


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How hosts are reached: host-key policy and the project's known_hosts file."""

    accept_new_host_keys: bool = False
    known_hosts: Path | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    hosts: tuple[Host, ...]
    benchmarks: tuple[Benchmark, ...]
    config: RunConfig
    params: dict[str, dict[str, int]] = field(default_factory=dict)
    connect: ConnectOptions = ConnectOptions()
    # On --resume: per host, the benchmarks already measured (kept as they are).
    done: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def host_names(self) -> frozenset[str]:
        return frozenset(h.name for h in self.hosts)

    def remaining(self, host: str) -> list[Benchmark]:
        skip = self.done.get(host, frozenset())
        return [b for b in self.benchmarks if b.name not in skip]


def connect(host: Host, options: ConnectOptions) -> Connection:
    """A connection to ``host`` (opened lazily for SSH)."""
    if host.is_local:
        return LocalConnection(host.name)
    target = resolve_target(
        host.name,
        host.address,
        user=host.user,
        port=host.port if host.port != 22 else None,
        key_file=host.key_file,
        proxy_jump=host.proxy_jump,
        known_hosts=options.known_hosts,
        accept_new=options.accept_new_host_keys,
    )
    return SSHConnection(target)


def plan_hosts(hosts: Sequence[Host]) -> tuple[Host, ...]:
    """Order hosts so that each baseline runs before the hosts measured against it."""
    ordered: list[Host] = []
    by_name = {h.name: h for h in hosts}

    def visit(host: Host) -> None:
        if host in ordered:
            return
        if host.baseline and host.baseline in by_name and host.baseline != host.name:
            visit(by_name[host.baseline])
        ordered.append(host)

    for host in hosts:
        visit(host)
    return tuple(ordered)


def by_machine(hosts: Sequence[Host]) -> list[list[Host]]:
    """Hosts grouped by machine, each group in baseline order, groups in first-seen order."""
    groups: dict[str, list[Host]] = {}
    for host in plan_hosts(hosts):
        groups.setdefault(host.machine, []).append(host)
    return list(groups.values())
