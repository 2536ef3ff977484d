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
                        "finished": "...", "suite": "hosts/NAME.json", "counts": {...},
                        "warnings": [...], "deploy": {"path": "...", "uploaded": true},
                        "timings": {"probe_s": 1.2}, "virt_class": "...",
                        "benchmarks": {"syscall-null": {"status": "success", "reason": "",
                                                        "processes": 5, "duration_s": 1.0}}}}}

Whatever a manifest holds is data: :meth:`Manifest.read` refuses a file larger
than :data:`MANIFEST_MAX_BYTES`, and ``from_json`` a string longer than
:data:`FIELD_MAX`, an integer beyond 64 bits, a number that is not finite or a
time out of range, nesting deeper than :data:`DEPTH_MAX` in ``config`` and
``build``; reasons and warnings (text a host sent) are cut to :data:`TEXT_MAX`
characters. The directory names the run: a ``run_id`` inside that differs is
not believed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import orjson

from ringbench import __version__
from ringbench.errors import UserError
from ringbench.results.format import READABLE, RESULT_FORMAT
from ringbench.results.text import cut, one_line

MANIFEST_MAX_BYTES = 64 * 2**20  # a run of a thousand hosts writes well under 10 MiB
FIELD_MAX = 2**16  # characters of a string field (a path, a word of a command line)
TEXT_MAX = 4096  # characters of a reason or a warning as read back (longer ones are cut)
INT_MAX = 2**63 - 1  # what a 64-bit counter holds
SECONDS_MAX = 1e9  # a duration in seconds: 31 years
DEPTH_MAX = 8  # nesting of config and build


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


def _want(
    data: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,  # noqa: ANN401 - the field's default, of its type
    limit: int | None = FIELD_MAX,
) -> Any:  # noqa: ANN401 - the field, of type ``kind``
    """``data[key]`` when it is of type ``kind`` and in range (:func:`_bounded`)."""
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ValueError(f"'{key}' is {type(value).__name__}, not {_names(kind)}")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        _bounded(value, key, limit)
    return value


def _bounded(value: str | float, key: str, limit: int | None = FIELD_MAX) -> None:
    """ValueError when a string is longer than ``limit``, an integer beyond 64 bits or a
    float not finite."""
    if isinstance(value, str):
        if limit is not None and len(value) > limit:
            raise ValueError(f"'{key}' is {len(value)} characters long, more than {limit}")
    elif isinstance(value, int):
        if abs(value) > INT_MAX:
            raise ValueError(f"'{key}' is an integer beyond 64 bits")
    elif not math.isfinite(value):
        raise ValueError(f"'{key}' is {value!r}, not a finite number")


def _text(data: Mapping[str, Any], key: str) -> str:
    """A reason: text a host may have sent, cut to :data:`TEXT_MAX` characters."""
    return cut(str(_want(data, key, str, "", limit=None)), TEXT_MAX)


def _seconds(data: Mapping[str, Any], key: str) -> float:
    """A duration: a number of seconds, 0 to :data:`SECONDS_MAX`."""
    value = float(_want(data, key, (int, float), 0.0))
    if not 0 <= value <= SECONDS_MAX:
        raise ValueError(f"'{key}' is {value:g} s, not 0 to {SECONDS_MAX:g}")
    return value


def _count(data: Mapping[str, Any], key: str) -> int:
    value: int = _want(data, key, int, 0)
    if value < 0:
        raise ValueError(f"'{key}' is {value}, not a count")
    return value


def _json_value(value: object, key: str, depth: int = 0) -> None:
    """ValueError when a JSON value (``config``, ``build``) nests deeper than
    :data:`DEPTH_MAX` or holds a value out of range (:func:`_bounded`)."""
    if depth > DEPTH_MAX:
        raise ValueError(f"'{key}' nests deeper than {DEPTH_MAX}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _bounded(str(k), key)
            _json_value(v, f"{key}.{one_line(k, 40)}", depth + 1)
    elif isinstance(value, list):
        for v in value:
            _json_value(v, key, depth + 1)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        _bounded(value, key)
    elif value is not None and not isinstance(value, bool):
        raise ValueError(f"'{key}' holds a {type(value).__name__}")


def _names_of(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An object whose keys are names (hosts, benchmarks): each key bounded."""
    items: Mapping[str, Any] = _want(data, key, dict, {})
    for name in items:
        _bounded(str(name), f"a name in '{key}'", TEXT_MAX)
    return items


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in _kinds(kind))


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _want(data, key, list, [])
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"'{key}' holds something that is not a string")
    for item in items:
        _bounded(item, key)
    return tuple(items)


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """Warnings: strings a host may have sent, each cut to :data:`TEXT_MAX` characters."""
    items = _want(data, key, list, [])
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"'{key}' holds something that is not a string")
    return tuple(cut(i, TEXT_MAX) for i in items)


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
            reason=_text(data, "reason"),
            processes=_count(data, "processes"),
            duration_s=_seconds(data, "duration_s"),
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
        timings = {str(k): _seconds(timings, k) for k in timings}
        benchmarks = _names_of(data, "benchmarks")
        return cls(
            status=_enum(HostStatus, data.get("status", "pending"), "status"),
            reason=_text(data, "reason"),
            started=_want(data, "started", str, None),
            finished=_want(data, "finished", str, None),
            suite=_want(data, "suite", str, None),
            warnings=_texts(data, "warnings"),
            deploy_path=_want(deploy, "path", str, None),
            uploaded=_want(deploy, "uploaded", bool, False),
            timings={str(k): float(v) for k, v in timings.items()},
            virt_class=_want(data, "virt_class", str, ""),
            benchmarks={str(k): BenchEntry.from_json(v) for k, v in benchmarks.items()},
        )


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    """Where the run's inventory was read from, its SHA-256, and what ringbench used of it.

    ``hosts`` holds, per host of the run, only the fields of :attr:`HOST_FIELDS`
    (how it was reached, the key file's path, ringbench's own variables): never
    the file's text, which may hold other tools' secrets. ``sha256`` is None in
    the manifest of an older ringbench, whose ``text`` is dropped on reading.
    """

    path: str  # the first source
    sha256: str | None = None  # over every source's bytes, in order
    hosts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # every source (files or directories), in order

    # field -> the JSON types it may hold (None: absent or not declared)
    HOST_FIELDS: ClassVar[Mapping[str, tuple[type, ...]]] = {
        "connection": (str,),
        "address": (str,),
        "port": (int,),
        "user": (str, type(None)),
        "key_file": (str, type(None)),
        "proxy_jump": (str, type(None)),
        "virt_class": (str, type(None)),
        "machine": (str,),
        "baseline": (str, type(None)),
        "hypervisor": (str, type(None)),
        "placement": (str, type(None)),
        "harness_cpu": (int, type(None)),
        "controller_cpus": (list,),
        "disk": (str, type(None)),
    }

    def to_json(self) -> dict[str, Any]:
        hosts = {
            name: {k: list(v) if k == "controller_cpus" else v for k, v in fields.items()}
            for name, fields in self.hosts.items()
        }
        sources = list(self.sources or ((self.path,) if self.path else ()))
        return {"path": self.path, "sha256": self.sha256, "hosts": hosts, "sources": sources}

    @classmethod
    def from_json(cls, data: object) -> InventorySnapshot | None:
        """Read a snapshot; fields that are not :attr:`HOST_FIELDS` (an old ``text``) are
        dropped, never kept."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValueError("'inventory' is not an object")
        hosts: dict[str, dict[str, Any]] = {}
        for name, fields in _want(data, "hosts", dict, {}).items():
            if not isinstance(fields, Mapping):
                raise ValueError(f"inventory host {name!r} is not an object")
            kept: dict[str, Any] = {}
            for key, kinds in cls.HOST_FIELDS.items():
                if key not in fields:
                    continue
                value = fields[key]
                if isinstance(value, bool) or not isinstance(value, kinds):
                    raise ValueError(f"inventory host {name!r}: {key!r} is {type(value).__name__}")
                if isinstance(value, list):
                    if not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
                        raise ValueError(f"inventory host {name!r}: {key!r} is not CPU numbers")
                    value = tuple(value)
                kept[key] = value
            hosts[str(name)] = kept
        sha256 = _want(data, "sha256", str, None)
        sources = _want(data, "sources", list, [])
        if not all(isinstance(s, str) for s in sources):
            raise ValueError("inventory 'sources' is not a list of paths")
        return cls(_want(data, "path", str, ""), sha256, hosts, tuple(sources))


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
        params = _names_of(data, "params")
        if not all(
            isinstance(p, dict)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in p.values())
            for p in params.values()
        ):
            raise ValueError("'params' is not {benchmark: {key: integer}}")
        _json_value(params, "params")
        hosts = _names_of(data, "hosts")
        resumed = _want(data, "resumed_by", list, [])
        if not all(isinstance(c, list) and all(isinstance(w, str) for w in c) for c in resumed):
            raise ValueError("'resumed_by' is not a list of command lines")
        _json_value(resumed, "resumed_by")
        try:
            host_entries = {str(k): HostEntry.from_json(v) for k, v in hosts.items()}
        except ValueError as exc:
            raise ValueError(f"hosts: {exc}") from None
        config = _want(data, "config", dict, {})
        build = _want(data, "build", dict, {})
        _json_value(config, "config")
        _json_value(build, "build")
        return cls(
            run_id=run_id or _want(data, "run_id", str, ""),
            status=_enum(RunStatus, data.get("status", "running"), "status"),
            created=_want(data, "created", str, "", limit=TEXT_MAX),
            updated=_want(data, "updated", str, "", limit=TEXT_MAX),
            elapsed_s=_seconds(data, "elapsed_s"),
            config=config,
            params={str(b): {str(k): v for k, v in p.items()} for b, p in params.items()},
            benchmarks=_strings(data, "benchmarks"),
            build=build,
            hosts=host_entries,
            command=_strings(data, "command"),
            inventory=InventorySnapshot.from_json(data.get("inventory")),
            resumed_by=tuple(tuple(c) for c in resumed),
            tool_version=_want(data, "tool_version", str, ""),
        )

    @classmethod
    def read(cls, path: Path, run_id: str) -> Manifest:
        """The manifest at ``path`` of the run ``run_id``; :class:`UserError` naming the file,
        on one line, when it cannot be used."""
        try:
            size = path.stat().st_size
            if size > MANIFEST_MAX_BYTES:
                raise UserError(
                    f"{path}: {size} bytes, more than a manifest holds ({MANIFEST_MAX_BYTES})"
                )
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise UserError(f"{path}: missing (a run still starting, or not a run)") from None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise UserError(f"{path} cannot be read ({one_line(exc)})") from None
        try:
            return cls.from_json(data, run_id)
        except (ValueError, TypeError, RecursionError) as exc:
            raise UserError(
                f"{path}: not a ringbench manifest of format {RESULT_FORMAT} ({one_line(exc)})"
            ) from None
