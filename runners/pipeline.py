"""One run, as a short pipeline: plan, deploy, probe, measure, store.

Hosts run one after another (hosts that share a machine must never disturb
each other's figures; parallelism across machines arrives with the SSH
runners). After every benchmark the host's pyperf suite and the manifest are
rewritten atomically, so an interruption or a failing host never loses what
was already measured.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runners.errors import UserError
from runners.execute import BenchOutcome, RunConfig, Status, run_benchmark
from runners.inventory import Host
from runners.metadata import Metadata, collect_host_metadata
from runners.store import RESULT_FORMAT, RunDir, status_counts, utc_now
from runners.transport import CommandError, Connection, LocalConnection
from suites.build import BuildInfo
from suites.catalog import Benchmark

CHECK_TIMEOUT_S = 60.0


class Reporter(Protocol):
    """What the pipeline tells its caller as it goes (the CLI shows it)."""

    def host_started(self, host: str, benchmarks: int, processes: int) -> None: ...

    def process_done(self, host: str, bench: str, index: int) -> None: ...

    def bench_done(self, host: str, outcome: BenchOutcome) -> None: ...

    def host_done(self, host: str, outcome: HostOutcome) -> None: ...


@dataclass(frozen=True, slots=True)
class RunPlan:
    hosts: tuple[Host, ...]
    benchmarks: tuple[Benchmark, ...]
    config: RunConfig
    params: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class HostOutcome:
    host: str
    status: str = "pending"
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    suite: str | None = None
    outcomes: list[BenchOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "started": self.started,
            "finished": self.finished,
            "suite": self.suite,
            "counts": status_counts(self.outcomes),
            "benchmarks": {
                o.bench.name: {
                    "status": o.status.value,
                    "reason": o.reason,
                    "processes": len(o.processes),
                    "duration_s": round(o.duration_s, 3),
                }
                for o in self.outcomes
            },
        }


class RunInterrupted(Exception):
    """The user interrupted the run; what was measured is in ``run_dir``."""

    def __init__(self, run_dir: RunDir) -> None:
        super().__init__(f"interrupted; the results measured so far are in {run_dir.path}")
        self.run_dir = run_dir


def connect(host: Host) -> Connection:
    if host.is_local:
        return LocalConnection(host.name)
    raise UserError(
        f"host '{host.name}' is reached over SSH, which this version cannot do yet: "
        "select local hosts with --hosts or use --local"
    )


def verify_binary(conn: Connection, path: str, sha256: str) -> None:
    """Check on the host itself that the binary is the one built."""
    result = conn.run(["sha256sum", "--", path], timeout_s=CHECK_TIMEOUT_S)
    found = result.stdout.split()[0] if result.stdout.split() else "nothing"
    if found != sha256:
        raise UserError(f"{conn.host}: {path} has sha256 {found[:12]}, expected {sha256[:12]}")


def check_workdir(conn: Connection, workdir: str) -> None:
    """The harness creates and removes files in ``workdir``: make sure it can."""
    probe = conn.run(
        ["mktemp", "-p", workdir, "ringbench-check.XXXXXX"], timeout_s=CHECK_TIMEOUT_S, check=False
    )
    if not probe.ok:
        raise UserError(
            f"{conn.host}: cannot create files in {workdir}: choose a writable directory with --dir"
        )
    conn.run(["rm", "-f", "--", probe.stdout.strip()], timeout_s=CHECK_TIMEOUT_S)


def host_metadata(host: Host, facts: Metadata, build: BuildInfo, config: RunConfig) -> Metadata:
    """The metadata every pyperf run of this host carries."""
    meta: Metadata = {
        "ringbench_format": RESULT_FORMAT,
        "host": host.name,
        "virt_class": host.virt_class or "undeclared",
        "machine": host.machine,
        "baseline": host.baseline or host.name,
        "binary_sha256": build.sha256,
        "source_sha256": build.source_sha256,
        "compiler": build.compiler,
        "processes": config.processes,
    }
    if host.hypervisor:
        meta["hypervisor"] = host.hypervisor
    for key, value in facts.items():
        meta.setdefault(key, value)
    return meta


class Run:
    """Carry out a :class:`RunPlan` into a run directory."""

    def __init__(self, plan: RunPlan, run_dir: RunDir, build: BuildInfo,
                 reporter: Reporter, manifest_extra: dict[str, Any]) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.build = build
        self.reporter = reporter
        self.extra = manifest_extra
        self.created = utc_now()
        self.hosts = {h.name: HostOutcome(h.name) for h in plan.hosts}
        self.started = time.monotonic()

    def manifest(self, status: str) -> None:
        self.run_dir.write_manifest({
            "run_id": self.run_dir.run_id,
            "status": status,
            "created": self.created,
            "updated": utc_now(),
            "elapsed_s": round(time.monotonic() - self.started, 3),
            "config": dataclasses.asdict(self.plan.config),
            "params": self.plan.params,
            "benchmarks": [b.name for b in self.plan.benchmarks],
            "build": self.build.to_json(),
            "hosts": {name: h.to_json() for name, h in self.hosts.items()},
            **self.extra,
        })

    def execute(self) -> dict[str, HostOutcome]:
        self.manifest("running")
        try:
            for host in self.plan.hosts:
                self.run_host(host)
        except KeyboardInterrupt:
            for outcome in self.hosts.values():
                if outcome.status == "running":
                    outcome.status = "interrupted"
                    outcome.finished = utc_now()
            self.manifest("interrupted")
            raise RunInterrupted(self.run_dir) from None
        failed = any(h.status == "failed" for h in self.hosts.values())
        self.manifest("failed" if failed else "complete")
        return self.hosts

    def run_host(self, host: Host) -> None:
        state = self.hosts[host.name]
        state.status, state.started = "running", utc_now()
        config = self.plan.config
        self.reporter.host_started(host.name, len(self.plan.benchmarks), config.processes)
        try:
            conn = connect(host)
            verify_binary(conn, str(self.build.path), self.build.sha256)
            check_workdir(conn, config.workdir)
            facts = collect_host_metadata(conn)
            self.run_dir.write_probe(host.name, facts)
        except (UserError, CommandError, OSError) as exc:
            state.status, state.reason, state.finished = "failed", str(exc), utc_now()
            self.manifest("running")
            self.reporter.host_done(host.name, state)
            return
        common = host_metadata(host, facts, self.build, config)
        for bench in self.plan.benchmarks:

            def tick(index: int, bench_name: str = bench.name) -> None:
                self.reporter.process_done(host.name, bench_name, index)

            outcome = run_benchmark(
                conn, str(self.build.path), bench, config,
                params=self.plan.params.get(bench.name), on_process=tick,
            )
            state.outcomes.append(outcome)
            suite = self.run_dir.write_suite(host.name, state.outcomes, common)
            state.suite = suite.name if suite else None
            self.manifest("running")
            self.reporter.bench_done(host.name, outcome)
        conn.close()
        measured = [o for o in state.outcomes if o.status is Status.SUCCESS]
        state.status = "complete" if measured else "failed"
        if not measured:
            state.reason = "no benchmark could be measured"
        state.finished = utc_now()
        self.reporter.host_done(host.name, state)


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


def inventory_snapshot(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"inventory": None}
    try:
        return {"inventory": {"path": str(path), "text": path.read_text(encoding="utf-8")}}
    except OSError:
        return {"inventory": {"path": str(path), "text": None}}
