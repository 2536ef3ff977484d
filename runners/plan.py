"""What a run will do: which hosts, in which order, how to reach them.

Hosts that share a physical machine run one after another (they would
disturb each other's figures); machines run in parallel. Within a machine a
baseline runs before the hosts measured against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ringbench.errors import HostError, UserError
from runners.execute import RunConfig
from runners.inventory import Host, key_problem
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
    """A connection to ``host`` (opened lazily for SSH); a key file ssh would not use
    is this host's failure (the inventory only warned of it)."""
    if host.is_local:
        return LocalConnection(host.name)
    problem = key_problem(Path(host.key_file)) if host.key_file else None
    if problem:
        raise HostError(problem, host=host.name)
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
    """Order hosts so that each baseline runs before the hosts measured against it.

    Each host's chain of baselines is walked once, without recursion (an inventory of
    a thousand hosts chained by ``baseline`` plans in linear time); a baseline that is
    not among ``hosts`` is not followed. A cycle is refused (:class:`UserError`).
    """
    by_name = {h.name: h for h in hosts}
    placed: set[str] = set()
    ordered: list[Host] = []
    for host in hosts:
        chain: list[Host] = []  # host, its baseline, that one's baseline... not yet placed
        in_chain: set[str] = set()
        cursor: Host | None = host
        while cursor is not None and cursor.name not in placed:
            if cursor.name in in_chain:
                names = " -> ".join([*(h.name for h in chain), cursor.name])
                raise UserError(
                    f"baselines form a cycle: {names}: a baseline host has no baseline of its own"
                )
            chain.append(cursor)
            in_chain.add(cursor.name)
            base = cursor.baseline
            cursor = by_name[base] if base and base != cursor.name and base in by_name else None
        for one in reversed(chain):
            placed.add(one.name)
            ordered.append(one)
    return tuple(ordered)


def by_machine(hosts: Sequence[Host]) -> list[list[Host]]:
    """Hosts grouped by machine, each group in baseline order, groups in first-seen order."""
    groups: dict[str, list[Host]] = {}
    for host in plan_hosts(hosts):
        groups.setdefault(host.machine, []).append(host)
    return list(groups.values())
