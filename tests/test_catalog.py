"""The catalog comes from the harness's own table."""

from __future__ import annotations

import json

import pytest

from ringbench.errors import ProtocolError, UserError
from suites.catalog import Catalog, Sampling, parse_catalog

REQUIRED = {
    "syscall": {
        "syscall-null",
        "syscall-read",
        "syscall-clock-vdso",
        "syscall-clock-kernel",
        "syscall-open-close",
        "syscall-stat",
    },
    "trap": {"trap-cpuid", "trap-rdtsc", "trap-rdtscp", "trap-signal", "trap-ud2"},
    "fault": {"fault-anon", "fault-file", "fault-cow", "fault-mprotect"},
    "sched": {"sched-pipe-1cpu", "sched-pipe-2cpu", "sched-futex", "sched-yield"},
    "process": {"proc-fork", "proc-exec", "proc-thread"},
    "io": {"io-pread", "io-write-sync", "io-direct-read"},
    "net": {"net-tcp-rr", "net-udp-rr"},
    "memory": {"mem-chase-4k", "mem-chase-huge", "mem-copy"},
    "cpu": {"cpu-user"},
}
MECHANISMS = {
    "ring-transition",
    "vm-exit",
    "exception",
    "mmu",
    "scheduling",
    "process-creation",
    "device-emulation",
    "network-stack",
    "memory-access",
    "user-code",
}


def test_catalog_holds_every_required_benchmark(catalog: Catalog) -> None:
    for family, names in REQUIRED.items():
        found = {b.name for b in catalog.benchmarks if b.family == family}
        assert names <= found, f"{family}: missing {names - found}"


def test_every_entry_is_described(catalog: Catalog) -> None:
    for bench in catalog.benchmarks:
        assert bench.mechanism in MECHANISMS, bench
        assert bench.unit.startswith("s/") and bench.operation
        assert len(bench.description) > 10
        assert bench.supported or bench.reason, f"{bench.name}: unsupported without a reason"


def test_cpuid_exposes_vm_exits_and_null_syscall_ring_transitions(catalog: Catalog) -> None:
    assert catalog.get("trap-cpuid").mechanism == "vm-exit"
    assert catalog.get("syscall-null").mechanism == "ring-transition"
    assert catalog.get("io-direct-read").mechanism == "device-emulation"
    assert catalog.get("mem-chase-4k").mechanism == "mmu"


def test_select_by_name_and_family(catalog: Catalog) -> None:
    chosen = catalog.select(["trap-cpuid"], ["net"])
    assert [b.name for b in chosen] == ["trap-cpuid", "net-tcp-rr", "net-udp-rr"]
    assert len(catalog.select()) == len(catalog.benchmarks)


def test_unknown_names_suggest_the_closest(catalog: Catalog) -> None:
    with pytest.raises(UserError, match="did you mean 'syscall-null'"):
        catalog.select(["syscall-nul"])
    with pytest.raises(UserError, match=r"unknown family 'netw'.*did you mean 'net'"):
        catalog.select(families=["netw"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"format": 2, "benchmarks": []}', "format 2"),
        ('{"format": 1, "version": "1", "arch": "x", "benchmarks": [{"name": 3}]}', "'name'"),
    ],
)
def test_bad_catalogs_are_protocol_errors(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_catalog(text)


def test_catalog_rejects_a_unit_that_is_not_seconds(catalog: Catalog) -> None:
    entry = {
        "name": "x",
        "family": "f",
        "mechanism": "m",
        "unit": "ops/s",
        "description": "d",
        "params": [],
        "supported": True,
        "reason": "",
        "sampling": {"values": 1, "processes": 1},
    }
    text = json.dumps({"format": 1, "version": "1", "arch": "x86_64", "benchmarks": [entry]})
    with pytest.raises(ProtocolError, match="not seconds per operation"):
        parse_catalog(text)


def test_some_figures_ask_for_more_sampling_than_the_rest(catalog: Catalog) -> None:
    """mem-copy's noise comes in bursts longer than a default process, and the cheap
    figures a run's calibration is judged on need more processes to hold: the harness's
    table asks the runner for them."""
    more = {b.name: b.sampling for b in catalog.benchmarks if b.sampling != Sampling()}
    assert more == {
        "mem-copy": Sampling(values=4, processes=2),
        "syscall-null": Sampling(processes=2),
        "syscall-read": Sampling(processes=2),
        "trap-rdtsc": Sampling(processes=2),
    }


@pytest.mark.parametrize(
    "sampling", [{"values": 0, "processes": 1}, {"values": 1, "processes": 10**6}, {"values": 2}]
)
def test_a_sampling_factor_out_of_range_is_a_protocol_error(sampling: dict[str, int]) -> None:
    entry = {
        "name": "x",
        "family": "f",
        "mechanism": "m",
        "unit": "s/call",
        "description": "d",
        "params": [],
        "supported": True,
        "reason": "",
        "sampling": sampling,
    }
    text = json.dumps({"format": 1, "version": "1", "arch": "x86_64", "benchmarks": [entry]})
    with pytest.raises(ProtocolError, match="sampling"):
        parse_catalog(text)
