"""The results directory: ``results/<run-id>/`` with one pyperf suite per host.

Layout (DESIGN.md): ``<host>.json`` is a pyperf ``BenchmarkSuite`` that
``python -m pyperf stats`` and ``compare_to`` read unchanged, one pyperf run
per harness process; ``<host>.probe.json`` holds the host's facts;
``manifest.json`` the run's plan, timings and per-host status. Every file is
written atomically and carries a format version.

Format history:
- 1: first version.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyperf

from runners import __version__
from runners.errors import UserError
from runners.execute import BenchOutcome, Status, TimedProcess
from runners.files import atomic_write, atomic_write_json
from runners.metadata import Metadata

RESULT_FORMAT = 1
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: ``20261124T184500Z-1a2b3c``."""
    now = now or datetime.now(tz=UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _run_metadata(
    outcome: BenchOutcome, proc: TimedProcess, first: bool, common: Metadata
) -> Metadata:
    bench, result = outcome.bench, proc.result
    cal = result.calibration
    meta: Metadata = dict(common)
    meta.update(
        {
            "name": bench.name,
            "unit": "second",
            "loops": result.loops,
            "family": bench.family,
            "mechanism": bench.mechanism,
            "operation": bench.operation,
            "description": bench.description,
            "pid": result.pid,
            "date": datetime.fromtimestamp(result.start_realtime_ns / 1e9, tz=UTC).isoformat(
                sep=" ", timespec="seconds"
            ),
            "duration": max(result.wall_s, 0.0),
            "min_time": cal.min_time_s,
            "timer_s": cal.timer_s,
            "loop_overhead_s": cal.loop_s,
            "overhead_fraction": cal.overhead_fraction,
            "overhead_subtracted": "yes" if cal.subtracted else "no",
            "clock_skew_s": round(proc.clock_skew_s, 6),
            "clock_check": "ok" if proc.clock_ok else "OFF: host clock disagrees with controller",
        }
    )
    if result.cpu >= 0:
        meta["cpu_affinity"] = str(result.cpu)
    if first and cal.calibrated:
        meta["calibrate_loops"] = cal.loops
    if result.steal_ticks is not None:
        meta["steal_ticks"] = result.steal_ticks
    for key in ("minflt", "majflt", "nvcsw", "nivcsw"):
        if key in result.rusage:
            meta[f"rusage_{key}"] = int(result.rusage[key])
    for key, value in result.params.items():
        meta[f"param_{key}"] = value
    return meta


def to_pyperf_benchmark(outcome: BenchOutcome, common: Metadata) -> pyperf.Benchmark:
    """One pyperf benchmark: one run per harness process, values in seconds per operation."""
    if not outcome.processes:
        raise ValueError(f"{outcome.bench.name}: no process to store")
    runs = []
    for i, proc in enumerate(outcome.processes):
        result = proc.result
        runs.append(
            pyperf.Run(
                [v.value_s for v in result.values],
                warmups=[(w.loops, w.value_s) for w in result.warmups] or None,
                metadata=_run_metadata(outcome, proc, i == 0, common),
                collect_metadata=False,
            )
        )
    return pyperf.Benchmark(runs)


class RunDir:
    """One run's directory; every write is atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    def suite_path(self, host: str) -> Path:
        return self.path / f"{host}.json"

    def write_suite(
        self,
        host: str,
        outcomes: list[BenchOutcome],
        common: Metadata,
        kept: list[pyperf.Benchmark] | None = None,
    ) -> Path | None:
        """(Re)write the host's pyperf suite: ``kept`` benchmarks of an earlier attempt,
        then every benchmark measured so far."""
        benchmarks = list(kept or [])
        benchmarks += [to_pyperf_benchmark(o, common) for o in outcomes if o.processes]
        if not benchmarks:
            return None
        suite = pyperf.BenchmarkSuite(benchmarks)
        path = self.suite_path(host)
        atomic_write(path, lambda fp: suite.dump(fp, compact=False))
        return path

    def load_suite(self, host: str) -> pyperf.BenchmarkSuite | None:
        path = self.suite_path(host)
        if not path.exists():
            return None
        try:
            return pyperf.BenchmarkSuite.load(str(path))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot be read as a pyperf suite: {exc}") from exc

    def read_manifest(self) -> dict[str, Any]:
        path = self.path / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot be read: {exc}") from exc
        if not isinstance(data, dict) or data.get("format_version") != RESULT_FORMAT:
            raise UserError(f"{path}: not a ringbench manifest of format {RESULT_FORMAT}")
        return data

    def write_probe(self, host: str, document: dict[str, Any]) -> Path:
        """``<host>.probe.json``: the probe's facts, layers, evidence and disagreements."""
        path = self.path / f"{host}.probe.json"
        atomic_write_json(path, {**document, "host": host, "collected": utc_now()})
        return path

    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        path = self.path / "manifest.json"
        atomic_write_json(
            path, {"format_version": RESULT_FORMAT, "tool_version": __version__, **manifest}
        )
        return path


class ResultStore:
    """The results root: creates run directories and finds them by id, path or 'latest'."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, run_id: str | None = None) -> RunDir:
        run_id = run_id or new_run_id()
        path = self.root / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise UserError(f"run directory {path} already exists") from exc
        except OSError as exc:
            raise UserError(
                f"cannot create results directory {path}: {exc.strerror}; "
                "choose another with --results DIR"
            ) from exc
        return RunDir(path)

    def runs(self) -> list[RunDir]:
        if not self.root.is_dir():
            return []
        return [RunDir(p) for p in sorted(self.root.iterdir()) if RUN_ID_RE.match(p.name)]

    def resolve(self, name: str = "latest") -> RunDir:
        """A run by its id, its path, or ``latest``."""
        if name == "latest":
            runs = self.runs()
            if not runs:
                raise UserError(f"no runs in {self.root}: run 'ringbench run' first")
            return runs[-1]
        path = Path(name)
        if path.is_dir():
            return RunDir(path)
        if (self.root / name).is_dir():
            return RunDir(self.root / name)
        raise UserError(f"no run '{name}' (neither a directory nor a run id in {self.root})")


def status_counts(outcomes: list[BenchOutcome]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for outcome in outcomes:
        counts[outcome.status.value] += 1
    return counts
