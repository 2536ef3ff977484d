"""Where a run's files live: run ids, ``results/<run-id>/`` and a results root of many runs.

::

    results/                     a results root (the store): one directory per run
      index.json                 the history's index (analysis.history)
      <run-id>/                  run ids sort by time: 20261124T184500Z-1a2b3c
        manifest.json            the run (ringbench.results.manifest)
        <host>.json              the host's pyperf BenchmarkSuite
        <host>.probe.json        the host's facts, layers and evidence
        analysis/                what ``ringbench overhead`` writes

A directory is a run when it holds ``manifest.json``; a results root lists
its runs by their run-id names. Every write is atomic.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyperf

from ringbench.errors import UserError
from ringbench.files import atomic_write, atomic_write_json
from ringbench.results.format import RESULT_FORMAT
from ringbench.results.manifest import Manifest

RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
MANIFEST = "manifest.json"
PROBE_SUFFIX = ".probe.json"
SUITE_SUFFIX = ".json"
ANALYSIS = "analysis"


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: ``20261124T184500Z-1a2b3c``."""
    now = now or datetime.now(tz=UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def is_run_id(name: str) -> bool:
    return RUN_ID_RE.match(name) is not None


def run_id_time(run_id: str) -> str:
    """When a run id was made (ISO 8601, UTC); "" when ``run_id`` is not one."""
    if not is_run_id(run_id):
        return ""
    stamp = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return stamp.isoformat(timespec="seconds")


def utc_now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def is_suite_file(path: Path) -> bool:
    """A host's pyperf suite: ``<host>.json``, not the manifest nor a probe document."""
    name = path.name
    return name.endswith(SUITE_SUFFIX) and name != MANIFEST and not name.endswith(PROBE_SUFFIX)


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def log_path(self) -> Path:
        """The run's log: what went wrong where, with tracebacks the terminal is spared."""
        return self.path / "run.log"

    @property
    def lock_path(self) -> Path:
        """Held (:func:`ringbench.files.locked`) by the process that writes the run."""
        return self.path / ".lock"

    @property
    def analysis_dir(self) -> Path:
        return self.path / ANALYSIS

    def is_run(self) -> bool:
        return self.manifest_path.is_file()

    def suite_path(self, host: str) -> Path:
        return self.path / f"{host}{SUITE_SUFFIX}"

    def probe_path(self, host: str) -> Path:
        return self.path / f"{host}{PROBE_SUFFIX}"

    def suite_files(self) -> list[Path]:
        return sorted(p for p in self.path.glob(f"*{SUITE_SUFFIX}") if is_suite_file(p))

    def probe_files(self) -> list[Path]:
        return sorted(self.path.glob(f"*{PROBE_SUFFIX}"))

    def write_suite(self, host: str, benchmarks: Iterable[pyperf.Benchmark]) -> Path | None:
        """(Re)write the host's pyperf suite; None when there is no benchmark to write."""
        chosen = list(benchmarks)
        if not chosen:
            return None
        suite = pyperf.BenchmarkSuite(chosen)
        path = self.suite_path(host)
        atomic_write(path, lambda fp: suite.dump(fp, compact=False))
        return path

    def load_suite(self, host: str) -> pyperf.BenchmarkSuite | None:
        path = self.suite_path(host)
        if not path.exists():
            return None
        try:
            return pyperf.BenchmarkSuite.load(str(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: cannot be read as a pyperf suite: {exc}") from exc

    def write_probe(self, host: str, document: dict[str, Any]) -> Path:
        """``<host>.probe.json``: the probe's facts, layers, evidence and disagreements."""
        path = self.probe_path(host)
        atomic_write_json(path, {**document, "host": host, "collected": utc_now()})
        return path

    def read_manifest(self) -> Manifest:
        """The run's manifest; :class:`UserError` naming the file when it cannot be used."""
        path = self.manifest_path
        try:
            data = json.loads(path.read_bytes())
            return Manifest.from_json(data, self.run_id)
        except FileNotFoundError:
            raise UserError(f"{path}: missing (a run still starting, or not a run)") from None
        except (OSError, json.JSONDecodeError, RecursionError) as exc:
            raise UserError(f"{path} cannot be read ({exc})") from None
        except ValueError as exc:
            raise UserError(
                f"{path}: not a ringbench manifest of format {RESULT_FORMAT} ({exc})"
            ) from None

    def write_manifest(self, manifest: Manifest) -> Path:
        atomic_write_json(self.manifest_path, manifest.to_json())
        return self.manifest_path


class ResultStore:
    """A results root: creates run directories and finds them by id, path or ``latest``."""

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
        """The run directories of the root, by run id (so by time)."""
        if not self.root.is_dir():
            return []
        return [RunDir(p) for p in sorted(self.root.iterdir()) if is_run_id(p.name) and p.is_dir()]

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


def suite_files(path: Path) -> Iterator[Path]:
    """The suite files under ``path``: a suite file itself, a run directory, or a results
    root (every run in it); :class:`UserError` when it is none of these."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory or results file")
    run = RunDir(path)
    if run.is_run():
        yield from run.suite_files()
        return
    runs = [r for r in ResultStore(path).runs() if r.is_run()]
    if not runs:
        raise UserError(f"{path}: neither a run directory (no {MANIFEST}) nor a results root")
    for r in runs:
        yield from r.suite_files()


def probe_files(path: Path) -> Iterator[Path]:
    """The probe documents beside the suites that :func:`suite_files` finds."""
    for suite in suite_files(path.parent if path.is_file() else path):
        probe = suite.with_name(suite.name.removesuffix(SUITE_SUFFIX) + PROBE_SUFFIX)
        if probe.is_file():
            yield probe
