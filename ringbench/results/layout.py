"""Where a run's files live: run ids, ``results/<run-id>/`` and a results root of many runs.

::

    results/                     a results root (the store): one directory per run
      index.json                 the history's index (analysis.history)
      <run-id>/                  run ids sort by time: 20261124T184500Z-1a2b3c
        manifest.json            the run (ringbench.results.manifest)
        run.log, .lock           what went wrong where; held by the writer
        hosts/<host>.json        the host's pyperf BenchmarkSuite
        probes/<host>.json       the host's facts, layers and evidence
        analysis/                what ``ringbench overhead`` writes

A directory is a run when it holds ``manifest.json``; a results root lists
its runs by their run-id names. Every write is atomic.

A host's name becomes a file name only in ``hosts/`` and ``probes/``, where
no name can reach the run's own files, and only after
:func:`host_file_problem` found nothing wrong with it (letters, digits,
``.``, ``_``, ``-``; no leading dot; bounded), so that no name can leave
the directory either; two names that differ only by case
(:func:`host_file_key`) are one file on a case-insensitive disk, and
refused. The inventory refuses such names before a run starts.

Runs of results format 1 kept their files at the run's root
(``<host>.json``, ``<host>.probe.json``); they are read where a run has no
file of the host in ``hosts/`` or ``probes/`` (a format 1 run resumed by
this version has both), and, when the manifest names its hosts, only for
those hosts, so that a stray ``.json`` beside them is not taken for a suite.
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
from ringbench.results.manifest import Manifest
from ringbench.results.text import one_line

RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
MANIFEST = "manifest.json"
HOSTS = "hosts"  # <run>/hosts/<host>.json: the pyperf suites
PROBES = "probes"  # <run>/probes/<host>.json: the probe documents
SUFFIX = ".json"
ANALYSIS = "analysis"
WORKLOADS = "workloads"  # <run>/workloads/<host>.json: the real workloads' timed runs
# Format 1 (read only): <run>/<host>.json and <run>/<host>.probe.json
LEGACY_PROBE_SUFFIX = ".probe.json"
SUITE_SUFFIX = SUFFIX
PROBE_SUFFIX = LEGACY_PROBE_SUFFIX

HOST_NAME_MAX = 128  # characters; with ".json" and a temporary file's affixes, far below 255
_HOST_CHARS = re.compile(r"[A-Za-z0-9._-]*")
MANIFEST_MAX_BYTES = 64 * 2**20  # read for its host names only: the whole file is parsed


def host_file_problem(name: str) -> str | None:
    """None when ``name`` can be a host's file name (``hosts/<name>.json``); else what is
    wrong with it, one phrase (the caller names the host and where it came from).

    Allowed: 1 to :data:`HOST_NAME_MAX` ASCII letters, digits, ``.``, ``_`` and ``-``,
    the first a letter, a digit or ``_`` (no hidden file, no option-like name, never
    ``.`` or ``..``). Two names are one file when their :func:`host_file_key` is equal.
    """
    if not isinstance(name, str) or not name:
        return "is empty"
    if len(name) > HOST_NAME_MAX:
        return f"is {len(name)} characters long, more than {HOST_NAME_MAX}"
    match = _HOST_CHARS.match(name)
    end = match.end() if match else 0
    if end < len(name):
        return (
            f"holds {name[end]!r}: a host name may hold only ASCII letters, digits, "
            "'.', '_' and '-' (give the address in ansible_host)"
        )
    if name[0] in ".-":
        return f"starts with {name[0]!r}: start it with a letter, a digit or '_'"
    return None


def host_file_key(name: str) -> str:
    """What two host names must not share: on a case-insensitive disk ``h1`` and ``H1``
    are one file, so ``name.casefold()``."""
    return name.casefold()


def host_file_clashes(names: Iterable[str]) -> list[tuple[str, ...]]:
    """The groups of ``names`` that would be one file (:func:`host_file_key`), each in the
    order given; empty when every name has a file of its own."""
    groups: dict[str, list[str]] = {}
    for name in names:
        group = groups.setdefault(host_file_key(name), [])
        if name not in group:
            group.append(name)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def checked_host(name: str) -> str:
    """``name`` when it can be a file name; :class:`UserError` saying why not."""
    problem = host_file_problem(name)
    if problem is not None:
        raise UserError(
            f"host {name!r:.{HOST_NAME_MAX + 8}}: {problem}: rename it in the inventory"
        )
    return name


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
    try:
        stamp = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:  # the shape of an id, not a time (month 13)
        return ""
    return stamp.isoformat(timespec="seconds")


def utc_now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _legacy_host(path: Path) -> str | None:
    """The host of a format 1 file at a run's root (``web.json``, ``web.probe.json``)."""
    name = path.name
    if name == MANIFEST or name.startswith(".") or not name.endswith(SUFFIX):
        return None
    if name.endswith(LEGACY_PROBE_SUFFIX):
        return name.removesuffix(LEGACY_PROBE_SUFFIX) or None
    return name.removesuffix(SUFFIX) or None


def is_suite_file(path: Path) -> bool:
    """A host's pyperf suite: ``hosts/<host>.json``, or a format 1 ``<host>.json`` at a
    run's root (not the manifest nor a probe document)."""
    if path.parent.name == HOSTS:
        return path.suffix == SUFFIX and host_file_problem(path.stem) is None
    return _legacy_host(path) is not None and not path.name.endswith(LEGACY_PROBE_SUFFIX)


def run_of(path: Path) -> Path:
    """The run directory a suite or probe file belongs to: ``<run>`` of
    ``<run>/hosts/<host>.json``, ``<run>/probes/<host>.json`` and of a format 1
    ``<run>/<host>.json``."""
    parent = path.parent
    if parent.name in (HOSTS, PROBES) and (parent.parent / MANIFEST).is_file():
        return parent.parent
    return parent


def host_of(path: Path) -> str:
    """The host a suite or probe file is of, from its name."""
    if path.parent.name in (HOSTS, PROBES) and run_of(path) != path.parent:
        return path.name.removesuffix(SUFFIX)
    return _legacy_host(path) or path.stem


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

    @property
    def hosts_dir(self) -> Path:
        return self.path / HOSTS

    @property
    def probes_dir(self) -> Path:
        return self.path / PROBES

    @property
    def workloads_dir(self) -> Path:
        """``workloads/``: per host, the real workloads' timed runs (a pyperf suite,
        ``<host>.json``) and their counts (``<host>.counts.json``), ``ringbench workload``."""
        return self.path / WORKLOADS

    def write_workloads(self, host: str, benchmarks: Iterable[pyperf.Benchmark]) -> Path | None:
        """(Re)write the host's workload suite (``workloads/<host>.json``); None when empty."""
        chosen = list(benchmarks)
        if not chosen:
            return None
        self.workloads_dir.mkdir(exist_ok=True)
        path = self._writable(self.workloads_dir, host)
        suite = pyperf.BenchmarkSuite(chosen)
        atomic_write(path, lambda fp: suite.dump(fp, compact=False))
        return path

    def workload_suites(self) -> dict[str, Path]:
        """host -> its workload suite, for the hosts that have one."""
        if not self.workloads_dir.is_dir():
            return {}
        return {
            p.name.removesuffix(SUFFIX): p
            for p in sorted(self.workloads_dir.iterdir())
            if p.name.endswith(SUFFIX) and not p.name.endswith(".counts" + SUFFIX)
        }

    def is_run(self) -> bool:
        return self.manifest_path.is_file()

    def suite_path(self, host: str) -> Path:
        """Where the host's suite is read: ``hosts/<host>.json``, or the format 1 file of a
        run written before (when it has only that); :class:`UserError` for a name that
        cannot be a file name (:func:`host_file_problem`)."""
        path = self.hosts_dir / f"{checked_host(host)}{SUFFIX}"
        legacy = self.path / f"{host}{SUFFIX}"
        if not path.exists() and host in self._legacy_hosts(suites=True):
            return legacy
        return path

    def probe_path(self, host: str) -> Path:
        """Where the host's probe document is read (``probes/<host>.json``, else format 1)."""
        path = self.probes_dir / f"{checked_host(host)}{SUFFIX}"
        legacy = self.path / f"{host}{LEGACY_PROBE_SUFFIX}"
        if not path.exists() and host in self._legacy_hosts(suites=False):
            return legacy
        return path

    def _manifest_hosts(self) -> tuple[set[str] | None, object]:
        """The host names the manifest lists (None when it cannot say: unreadable, none)
        and its format version (None when unknown)."""
        try:
            if self.manifest_path.stat().st_size > MANIFEST_MAX_BYTES:
                return None, None
            data = json.loads(self.manifest_path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None, None
        if not isinstance(data, dict):
            return None, None
        hosts = data.get("hosts")
        if not isinstance(hosts, dict) or not hosts:
            return None, data.get("format_version")
        return {h for h in hosts if isinstance(h, str)}, data.get("format_version")

    def _legacy_hosts(self, *, suites: bool) -> dict[str, Path]:
        """The format 1 files at the run's root, by host: suites or probe documents; only
        the manifest's hosts when it lists them; none in a run of format 2 that does not
        (its root holds no host's file)."""
        try:
            entries = list(self.path.iterdir())
        except OSError:
            return {}
        found: dict[str, Path] = {}
        for p in entries:
            host = _legacy_host(p)
            if host is None or p.name.endswith(LEGACY_PROBE_SUFFIX) == suites:
                continue
            if p.is_file():
                found[host] = p
        if not found:
            return found
        listed, version = self._manifest_hosts()
        if listed is not None:
            return {h: p for h, p in found.items() if h in listed}
        if version != 1 and (self.hosts_dir.is_dir() or self.probes_dir.is_dir()):
            return {}
        return found

    def _files(self, directory: Path, *, suites: bool) -> list[Path]:
        current: dict[str, Path] = {}
        if directory.is_dir():
            for p in directory.iterdir():
                host = p.name.removesuffix(SUFFIX)
                if p.name.endswith(SUFFIX) and host_file_problem(host) is None and p.is_file():
                    current[host] = p
        legacy = self._legacy_hosts(suites=suites)
        return sorted([*current.values(), *(p for h, p in legacy.items() if h not in current)])

    def suite_files(self) -> list[Path]:
        """Every host's suite file (``hosts/``, and format 1 files of hosts not there)."""
        return self._files(self.hosts_dir, suites=True)

    def probe_files(self) -> list[Path]:
        """Every host's probe document (``probes/``, and format 1 documents not there)."""
        return self._files(self.probes_dir, suites=False)

    def _refuse_clash(self, directory: Path, host: str) -> None:
        """:class:`UserError` when another host's file in ``directory`` differs from this
        one's only by case (one file on a case-insensitive disk)."""
        if not directory.is_dir():
            return
        key = host_file_key(host)
        for p in directory.iterdir():
            other = p.name.removesuffix(SUFFIX)
            if p.name.endswith(SUFFIX) and other != host and host_file_key(other) == key:
                raise UserError(
                    f"hosts {other!r} and {host!r} differ only by case: on a case-insensitive "
                    f"disk they are one file in {directory}; rename one in the inventory"
                )

    def _writable(self, directory: Path, host: str) -> Path:
        checked_host(host)
        self._refuse_clash(directory, host)
        return directory / f"{host}{SUFFIX}"

    def write_suite(self, host: str, benchmarks: Iterable[pyperf.Benchmark]) -> Path | None:
        """(Re)write the host's pyperf suite (``hosts/<host>.json``); None when there is no
        benchmark to write."""
        chosen = list(benchmarks)
        if not chosen:
            return None
        path = self._writable(self.hosts_dir, host)
        suite = pyperf.BenchmarkSuite(chosen)
        atomic_write(path, lambda fp: suite.dump(fp, compact=False))
        return path

    def load_suite(self, host: str) -> pyperf.BenchmarkSuite | None:
        path = self.suite_path(host)
        if not path.exists():
            return None
        try:
            return pyperf.BenchmarkSuite.load(str(path))
        except Exception as exc:  # whatever the file holds: one line
            raise UserError(f"{path}: cannot be read as a pyperf suite: {one_line(exc)}") from None

    def write_probe(self, host: str, document: dict[str, Any]) -> Path:
        """``probes/<host>.json``: the probe's facts, layers, evidence and disagreements."""
        path = self._writable(self.probes_dir, host)
        atomic_write_json(path, {**document, "host": host, "collected": utc_now()})
        return path

    def read_manifest(self) -> Manifest:
        """The run's manifest; :class:`UserError` naming the file when it cannot be used."""
        return Manifest.read(self.manifest_path, self.run_id)

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
    """The probe documents of the hosts whose suites :func:`suite_files` finds."""
    for suite in suite_files(path):
        run = RunDir(run_of(suite))
        host = host_of(suite)
        if host_file_problem(host) is None:
            probe = run.probe_path(host)
        else:  # a format 1 name that this version would refuse: its file as it was
            probe = run.path / f"{host}{LEGACY_PROBE_SUFFIX}"
        if probe.is_file():
            yield probe
