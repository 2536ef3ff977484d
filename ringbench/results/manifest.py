"""``manifest.json``: the typed record of a run, its hosts and their benchmarks.

:class:`Manifest`, :class:`HostEntry` and :class:`BenchEntry` are frozen;
``to_json`` writes the shape below and ``from_json`` reads it back, checking
every field it finds (a field that is missing takes its default: manifests
of runs that stopped early, or written by hand for a test, lack some)::

    {"format_version": 1, "tool_version": "0.1.0", "run_id": "...", "status": "complete",
     "created": "...", "updated": "...", "elapsed_s": 12.3,
     "config": {...}, "params": {"bench": {"key": 1}}, "benchmarks": ["syscall-null", ...],
     "build": {"sha256": "...", ...}, "command": [...],
     "inventory": {"path": "...", "text": "..."} | null, "resumed_by": [[...], ...],
     "hosts": {"NAME": {"status": "complete", "reason": "", "started": "...",
                        "finished": "...", "suite": "NAME.json", "counts": {...},
                        "warnings": [...], "deploy": {"path": "...", "uploaded": true},
                        "timings": {"probe_s": 1.2}, "virt_class": "...",
                        "benchmarks": {"syscall-null": {"status": "success", "reason": "",
                                                        "processes": 5, "duration_s": 1.0}}}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ringbench import __version__
from ringbench.results.format import READABLE, RESULT_FORMAT


class RunStatus(Enum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class HostStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (HostStatus.PENDING, HostStatus.RUNNING)


class BenchStatus(Enum):
    SUCCESS = "success"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


def _want(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:  # noqa: ANN401
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ValueError(f"'{key}' is {type(value).__name__}, not {_names(kind)}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in _kinds(kind))


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _want(data, key, list, [])
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"'{key}' holds something that is not a string")
    return tuple(items)


def _enum(kind: type[Enum], value: object, key: str) -> Any:  # noqa: ANN401 - the enum member
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"'{key}' is {value!r}, not one of {choices}") from None


@dataclass(frozen=True, slots=True)
class BenchEntry:
    """What became of one benchmark on one host."""

    status: BenchStatus
    reason: str = ""
    processes: int = 0
    duration_s: float = 0.0

    @property
    def finished(self) -> bool:
        """Nothing left to measure: measured whole, or the host cannot run it."""
        return self.status in (BenchStatus.SUCCESS, BenchStatus.UNSUPPORTED)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "processes": self.processes,
            "duration_s": round(self.duration_s, 3),
        }

    @classmethod
    def from_json(cls, data: object) -> BenchEntry:
        if not isinstance(data, Mapping):
            raise ValueError("a benchmark entry is not an object")
        return cls(
            status=_enum(BenchStatus, data.get("status"), "status"),
            reason=_want(data, "reason", str, ""),
            processes=_want(data, "processes", int, 0),
            duration_s=float(_want(data, "duration_s", (int, float), 0.0)),
        )


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One host of a run: how it went, what was deployed, how long each step took."""

    status: HostStatus = HostStatus.PENDING
    reason: str = ""
    started: str | None = None
    finished: str | None = None
    suite: str | None = None
    warnings: tuple[str, ...] = ()
    deploy_path: str | None = None
    uploaded: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds, by step
    virt_class: str = ""
    benchmarks: Mapping[str, BenchEntry] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in BenchStatus}
        for entry in self.benchmarks.values():
            counts[entry.status.value] += 1
        return counts

    def finished_benchmarks(self) -> frozenset[str]:
        return frozenset(name for name, e in self.benchmarks.items() if e.finished)

    def to_json(self) -> dict[str, Any]:
        deploy = {"path": self.deploy_path, "uploaded": self.uploaded} if self.deploy_path else {}
        return {
            "status": self.status.value,
            "reason": self.reason,
            "started": self.started,
            "finished": self.finished,
            "suite": self.suite,
            "counts": self.counts(),
            "warnings": list(self.warnings),
            "deploy": deploy,
            "timings": dict(self.timings),
            "virt_class": self.virt_class,
            "benchmarks": {name: e.to_json() for name, e in self.benchmarks.items()},
        }

    @classmethod
    def from_json(cls, data: object) -> HostEntry:
        if not isinstance(data, Mapping):
            raise ValueError("a host entry is not an object")
        deploy = _want(data, "deploy", dict, {})
        timings = _want(data, "timings", dict, {})
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in timings.values()
        ):
            raise ValueError("'timings' holds something that is not a number")
        benchmarks = _want(data, "benchmarks", dict, {})
        return cls(
            status=_enum(HostStatus, data.get("status", "pending"), "status"),
            reason=_want(data, "reason", str, ""),
            started=_want(data, "started", str, None),
            finished=_want(data, "finished", str, None),
            suite=_want(data, "suite", str, None),
            warnings=_strings(data, "warnings"),
            deploy_path=_want(deploy, "path", str, None),
            uploaded=_want(deploy, "uploaded", bool, False),
            timings={str(k): float(v) for k, v in timings.items()},
            virt_class=_want(data, "virt_class", str, ""),
            benchmarks={str(k): BenchEntry.from_json(v) for k, v in benchmarks.items()},
        )


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    """Where the run's inventory was read from; ``text`` is what it held (None: unreadable)."""

    path: str
    text: str | None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "text": self.text}

    @classmethod
    def from_json(cls, data: object) -> InventorySnapshot | None:
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValueError("'inventory' is not an object")
        return cls(_want(data, "path", str, ""), _want(data, "text", str, None))


@dataclass(frozen=True, slots=True)
class Manifest:
    """One run: its plan, its build, how each host went."""

    run_id: str
    status: RunStatus = RunStatus.RUNNING
    created: str = ""
    updated: str = ""
    elapsed_s: float = 0.0
    config: Mapping[str, Any] = field(default_factory=dict)  # runners.execute.RunConfig
    params: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    benchmarks: tuple[str, ...] = ()
    build: Mapping[str, Any] = field(default_factory=dict)  # suites.build.BuildInfo
    hosts: Mapping[str, HostEntry] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    inventory: InventorySnapshot | None = None
    resumed_by: tuple[tuple[str, ...], ...] = ()
    tool_version: str = __version__

    @property
    def binary_sha256(self) -> str:
        return str(self.build.get("sha256", ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": RESULT_FORMAT,
            "tool_version": self.tool_version,
            "run_id": self.run_id,
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "elapsed_s": round(self.elapsed_s, 3),
            "config": dict(self.config),
            "params": {b: dict(p) for b, p in self.params.items()},
            "benchmarks": list(self.benchmarks),
            "build": dict(self.build),
            "hosts": {name: h.to_json() for name, h in self.hosts.items()},
            "command": list(self.command),
            "inventory": self.inventory.to_json() if self.inventory else None,
            "resumed_by": [list(c) for c in self.resumed_by],
        }

    @classmethod
    def from_json(cls, data: object, run_id: str) -> Manifest:
        """Read a manifest; raises ValueError saying what is wrong (the caller adds the path)."""
        if not isinstance(data, Mapping):
            raise ValueError("not a JSON object")
        if data.get("format_version") not in READABLE:
            raise ValueError(
                f"format {data.get('format_version')!r}, this ringbench reads "
                f"{', '.join(map(str, sorted(READABLE)))}"
            )
        params = _want(data, "params", dict, {})
        if not all(
            isinstance(p, dict) and all(isinstance(v, int) for v in p.values())
            for p in params.values()
        ):
            raise ValueError("'params' is not {benchmark: {key: integer}}")
        hosts = _want(data, "hosts", dict, {})
        resumed = _want(data, "resumed_by", list, [])
        if not all(isinstance(c, list) and all(isinstance(w, str) for w in c) for c in resumed):
            raise ValueError("'resumed_by' is not a list of command lines")
        try:
            host_entries = {str(k): HostEntry.from_json(v) for k, v in hosts.items()}
        except ValueError as exc:
            raise ValueError(f"hosts: {exc}") from None
        return cls(
            run_id=_want(data, "run_id", str, run_id) or run_id,
            status=_enum(RunStatus, data.get("status", "running"), "status"),
            created=_want(data, "created", str, ""),
            updated=_want(data, "updated", str, ""),
            elapsed_s=float(_want(data, "elapsed_s", (int, float), 0.0)),
            config=_want(data, "config", dict, {}),
            params={str(b): {str(k): v for k, v in p.items()} for b, p in params.items()},
            benchmarks=_strings(data, "benchmarks"),
            build=_want(data, "build", dict, {}),
            hosts=host_entries,
            command=_strings(data, "command"),
            inventory=InventorySnapshot.from_json(data.get("inventory")),
            resumed_by=tuple(tuple(c) for c in resumed),
            tool_version=_want(data, "tool_version", str, ""),
        )
