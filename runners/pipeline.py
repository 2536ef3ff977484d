"""One run, as a short pipeline per host: connect, deploy, probe, measure, store.

Machines run in parallel, the hosts of one machine one after another
(:mod:`runners.plan`). After every benchmark the host's pyperf suite and the
manifest are rewritten atomically, so an interruption or a failing host never
loses what was measured. A host that fails (unreachable, refused, timed out,
killed) is marked failed with its reason and the others go on.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyperf

from runners.classify import Classification, classify, compare_declared
from runners.deploy import DeployError, deploy
from runners.errors import UserError
from runners.execute import BenchOutcome, BenchRun, RunConfig, Status
from runners.inventory import Host
from runners.metadata import FACT_PATHS, HostReader, Metadata, collect_host_metadata
from runners.plan import RunPlan, by_machine, connect
from runners.probe import EVIDENCE_PATHS, collect_evidence, probe_document
from runners.ssh import TransportError
from runners.store import RESULT_FORMAT, RunDir, status_counts, utc_now
from runners.transport import CommandError, Connection
from suites.build import BuildInfo

CHECK_TIMEOUT_S = 60.0
MAX_PARALLEL_MACHINES = 32
POLL_S = 0.2


class Reporter(Protocol):
    """What the pipeline tells its caller as it goes (the CLI shows it)."""

    def host_started(self, host: str, benchmarks: int, processes: int) -> None: ...

    def process_done(self, host: str, bench: str, index: int) -> None: ...

    def bench_done(self, host: str, outcome: BenchOutcome) -> None: ...

    def host_done(self, host: str, outcome: HostOutcome) -> None: ...

    def warn(self, host: str, message: str) -> None: ...


@dataclass
class HostOutcome:
    host: str
    status: str = "pending"
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    suite: str | None = None
    outcomes: list[BenchOutcome] = field(default_factory=list)
    kept: dict[str, Any] = field(default_factory=dict)  # benchmarks of an earlier attempt
    warnings: list[str] = field(default_factory=list)
    deploy: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds, by step
    virt_class: str = ""  # as stored in the results: declared, else detected
    baseline: str | None = None

    def to_json(self) -> dict[str, Any]:
        benchmarks = dict(self.kept)
        for o in self.outcomes:
            benchmarks[o.bench.name] = {
                "status": o.status.value,
                "reason": o.reason,
                "processes": len(o.processes),
                "duration_s": round(o.duration_s, 3),
            }
        counts = status_counts(self.outcomes)
        for entry in self.kept.values():
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        return {
            "status": self.status,
            "reason": self.reason,
            "started": self.started,
            "finished": self.finished,
            "suite": self.suite,
            "counts": counts,
            "warnings": self.warnings,
            "deploy": self.deploy,
            "timings": self.timings,
            "benchmarks": benchmarks,
        }


class RunInterrupted(Exception):
    """The user interrupted the run; what was measured is in ``run_dir``."""

    def __init__(self, run_dir: RunDir) -> None:
        super().__init__(
            f"interrupted; the results measured so far are in {run_dir.path} "
            f"(continue with --resume {run_dir.run_id})"
        )
        self.run_dir = run_dir


def check_workdir(conn: Connection, workdir: str) -> None:
    """The harness creates and removes files in ``workdir``: make sure it can."""
    # One round trip; the directory is an argument of the fixed script, never its text.
    script = 'f=$(mktemp -p "$1" ringbench-check.XXXXXX) && rm -f -- "$f"'
    probe = conn.run(["sh", "-c", script, "sh", workdir], timeout_s=CHECK_TIMEOUT_S, check=False)
    if not probe.ok:
        raise UserError(
            f"{conn.host}: cannot create files in {workdir}: choose a writable directory with --dir"
        )


@dataclass(frozen=True, slots=True)
class ProbedHost:
    """What the probe found on a host, and how it compares with the inventory."""

    facts: Metadata
    classification: Classification
    warning: str | None
    document: dict[str, Any]


def probe_host(conn: Connection, host: Host, harness: str | None) -> ProbedHost:
    """Facts, virtualization layers with their evidence, and the declared class checked."""
    reader = HostReader(conn)
    reader.prefetch((*FACT_PATHS, *EVIDENCE_PATHS))
    facts = collect_host_metadata(conn, reader)
    evidence = collect_evidence(conn, harness, reader)
    found = classify(evidence)
    warning = compare_declared(found, host.virt_class)
    document = probe_document(dict(facts), evidence, found)
    document.update(
        {"virt_class_declared": host.virt_class, "hypervisor": host.hypervisor, "warning": warning}
    )
    return ProbedHost(facts, found, warning, document)


def host_metadata(host: Host, probed: ProbedHost, build: BuildInfo, config: RunConfig) -> Metadata:
    """The metadata every pyperf run of this host carries.

    ``virt_class`` is the inventory's declaration when there is one (a
    hypervisor's type, or a container the probe cannot confirm, is only known
    to the inventory), else what the probe found; both are recorded.
    """
    found = probed.classification
    meta: Metadata = {
        "ringbench_format": RESULT_FORMAT,
        "host": host.name,
        "virt_class": host.virt_class or found.virt_class,
        "virt_class_detected": found.virt_class,
        "virt_class_declared": host.virt_class or "undeclared",
        "virt_layers": found.technologies(),
        "machine": host.machine,
        "baseline": host.baseline or host.name,
        "binary_sha256": build.sha256,
        "source_sha256": build.source_sha256,
        "compiler": build.compiler,
        "processes": config.processes,
    }
    if host.hypervisor:
        meta["hypervisor"] = host.hypervisor
    if probed.warning:
        meta["virt_class_warning"] = " ".join(probed.warning.split())
    for key, value in probed.facts.items():
        meta.setdefault(key, value)
    return meta


class Run:
    """Carry out a :class:`RunPlan` into a run directory."""

    def __init__(
        self,
        plan: RunPlan,
        run_dir: RunDir,
        build: BuildInfo,
        reporter: Reporter,
        manifest_extra: dict[str, Any],
        *,
        previous: dict[str, Any] | None = None,
        kept_suites: dict[str, list[pyperf.Benchmark]] | None = None,
    ) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.build = build
        self.reporter = reporter
        self.extra = manifest_extra
        self.kept_suites = kept_suites or {}
        previous = previous or {}
        self.created = str(previous.get("created") or utc_now())
        self.hosts = {h.name: HostOutcome(h.name) for h in plan.hosts}
        # On --resume, hosts with nothing left to measure keep their entries as they were.
        self.finished_hosts = {
            name: entry
            for name, entry in previous.get("hosts", {}).items()
            if name not in self.hosts
        }
        for name, state in self.hosts.items():
            old = previous.get("hosts", {}).get(name, {}).get("benchmarks", {})
            state.kept = {k: v for k, v in old.items() if k in plan.done.get(name, ())}
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def manifest(self, status: str) -> None:
        with self.lock:
            self.run_dir.write_manifest(
                {
                    "run_id": self.run_dir.run_id,
                    "status": status,
                    "created": self.created,
                    "updated": utc_now(),
                    "elapsed_s": round(time.monotonic() - self.started, 3),
                    "config": dataclasses.asdict(self.plan.config),
                    "params": self.plan.params,
                    "benchmarks": [b.name for b in self.plan.benchmarks],
                    "build": self.build.to_json(),
                    "hosts": {
                        **self.finished_hosts,
                        **{name: h.to_json() for name, h in self.hosts.items()},
                    },
                    **self.extra,
                }
            )

    def execute(self) -> dict[str, HostOutcome]:
        self.manifest("running")
        groups = by_machine(self.plan.hosts)
        try:
            if len(groups) == 1:
                self.run_machine(groups[0])
            else:
                self.run_parallel(groups)
        except KeyboardInterrupt:
            self.stop.set()
            for outcome in self.hosts.values():
                if outcome.status in ("running", "pending"):
                    outcome.status = "interrupted"
                    outcome.finished = utc_now()
            self.manifest("interrupted")
            raise RunInterrupted(self.run_dir) from None
        failed = any(h.status == "failed" for h in self.hosts.values()) or any(
            entry.get("status") == "failed" for entry in self.finished_hosts.values()
        )
        self.manifest("failed" if failed else "complete")
        return self.hosts

    def run_parallel(self, groups: list[list[Host]]) -> None:
        workers = min(len(groups), MAX_PARALLEL_MACHINES)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="machine")
        try:
            futures = [pool.submit(self.run_machine, group) for group in groups]
            pending = set(futures)
            while pending:  # short waits, so that Ctrl-C is seen at once
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
        finally:
            self.stop.set()  # machines still running stop after their current process
            pool.shutdown(wait=True, cancel_futures=True)

    def run_machine(self, hosts: list[Host]) -> None:
        for host in hosts:
            if self.stop.is_set():
                return
            self.run_host(host)

    def fail(self, state: HostOutcome, reason: str) -> None:
        state.status, state.reason, state.finished = "failed", reason, utc_now()
        self.manifest("running")
        self.reporter.host_done(state.host, state)

    def run_host(self, host: Host) -> None:
        state = self.hosts[host.name]
        state.status, state.started = "running", utc_now()
        config = self.plan.config
        benchmarks = self.plan.remaining(host.name)
        self.reporter.host_started(host.name, len(benchmarks), config.processes)
        conn = connect(host, self.plan.connect)
        clock = time.monotonic()
        try:
            self.measure_host(host, conn, state, benchmarks)
        except (UserError, DeployError, TransportError, CommandError, OSError) as exc:
            self.fail(state, str(exc))
        finally:
            conn.close()
            state.timings["total_s"] = round(time.monotonic() - clock, 3)

    def measure_host(
        self, host: Host, conn: Connection, state: HostOutcome, benchmarks: list[Any]
    ) -> None:
        config = self.plan.config
        clock = time.monotonic()
        binary = deploy(conn, self.build)  # connects, on first use
        check_workdir(conn, config.workdir)
        state.deploy = {"path": binary.path, "uploaded": binary.uploaded}
        state.timings["connect_deploy_s"] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()
        found = probe_host(conn, host, binary.path)
        state.timings["probe_s"] = round(time.monotonic() - clock, 3)
        self.run_dir.write_probe(host.name, found.document)
        if found.warning:
            state.warnings.append(found.warning)
            self.reporter.warn(host.name, found.warning)
        common = host_metadata(host, found, self.build, config)
        state.virt_class = str(common["virt_class"])
        state.baseline = host.baseline
        kept = self.kept_suites.get(host.name, [])
        state.timings["measure_s"] = 0.0
        # Round robin: process 1 of every benchmark, then process 2 of every benchmark...
        # A host's slow phase (seconds long on shared and nested hosts) then lands on one
        # process of many benchmarks, which the median of process medians absorbs, instead
        # of on every process of one benchmark, which no statistic can tell from a change.
        runs = [
            BenchRun(conn, binary.path, bench, config, self.plan.params.get(bench.name))
            for bench in benchmarks
        ]
        try:
            while any(r.pending for r in runs) and not self.stop.is_set():
                for run in runs:
                    if self.stop.is_set() or not run.pending:
                        continue
                    run.step()
                    if run.status is Status.SUCCESS:
                        self.reporter.process_done(host.name, run.bench.name, len(run.done))
                    if not run.pending:
                        self.finish_bench(host.name, state, run.outcome(), common, kept)
        except KeyboardInterrupt:
            self.keep_begun(host.name, state, runs, common, kept, "interrupted")
            raise
        except TransportError:
            self.keep_begun(host.name, state, runs, common, kept, "host lost")
            raise
        if self.stop.is_set():
            self.keep_begun(host.name, state, runs, common, kept, "stopped")
            return
        measured = [o for o in state.outcomes if o.status is Status.SUCCESS] or kept
        state.status = "complete" if measured else "failed"
        if not measured:
            state.reason = "no benchmark could be measured"
        state.finished = utc_now()
        self.reporter.host_done(host.name, state)

    def keep_begun(
        self,
        host: str,
        state: HostOutcome,
        runs: list[BenchRun],
        common: Metadata,
        kept: list[Any],
        why: str,
    ) -> None:
        """On a stop: store the processes of the benchmarks begun and not finished."""
        for run in runs:
            if run.pending and run.done:
                self.finish_bench(host, state, run.interrupted(why), common, kept)

    def finish_bench(
        self,
        host: str,
        state: HostOutcome,
        outcome: BenchOutcome,
        common: Metadata,
        kept: list[Any],
    ) -> None:
        """A benchmark's last process is done: store it, warn about the clock, report."""
        state.outcomes.append(outcome)
        skews = [p.clock_skew_s for p in outcome.processes if not p.clock_ok]
        if skews and not any(w.startswith("clock") for w in state.warnings):
            warning = (
                f"clock: the host's clock lay {max(skews):.2f} s outside the "
                f"controller's window around a process ({outcome.bench.name}); "
                "see clock_skew_s in the results"
            )
            state.warnings.append(warning)
            self.reporter.warn(host, warning)
        state.timings["measure_s"] = round(state.timings["measure_s"] + outcome.duration_s, 3)
        suite = self.run_dir.write_suite(host, state.outcomes, common, kept)
        state.suite = suite.name if suite else state.suite
        self.manifest("running")
        self.reporter.bench_done(host, outcome)


def inventory_snapshot(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"inventory": None}
    try:
        return {"inventory": {"path": str(path), "text": path.read_text(encoding="utf-8")}}
    except OSError:
        return {"inventory": {"path": str(path), "text": None}}
