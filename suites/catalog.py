"""The catalog of benchmarks, as the harness itself lists it.

The catalog is never written down twice: ``ringbench-bench list`` prints the
C table, and :func:`parse_catalog` turns that JSON into typed records. The
selection helpers turn ``--bench``/``--family`` options into benchmarks, with
a did-you-mean for typos.
"""

from __future__ import annotations

import difflib
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringbench.errors import HarnessError, ProtocolError, UserError
from suites.protocol import FORMAT

LIST_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Param:
    """An integer parameter of a benchmark, with its default."""

    name: str
    default: int
    description: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """How much more than the run's configuration a benchmark's figure is measured: its
    values per process and its processes are multiplied by these (``list`` reports them;
    see ``rb_sampling`` in ``suites/src/catalog.c`` for why a benchmark asks for more)."""

    values: int = 1
    processes: int = 1

    def __str__(self) -> str:
        """``x4 values x2 processes``: the factors that are not 1."""
        factors = ((self.values, "values"), (self.processes, "processes"))
        return " ".join(f"x{n} {what}" for n, what in factors if n > 1)


SAMPLING_MAX = 64  # a factor beyond this is a corrupt catalog, not a benchmark's wish


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One entry of the harness's table."""

    name: str
    family: str
    mechanism: str
    unit: str
    description: str
    params: tuple[Param, ...]
    supported: bool
    reason: str
    sampling: Sampling = Sampling()

    def __post_init__(self) -> None:
        if not self.unit.startswith("s/"):
            raise ValueError(f"{self.name}: unit {self.unit!r} is not seconds per operation")

    @property
    def operation(self) -> str:
        """What one value is per: ``call``, ``fault``, ``roundtrip``..."""
        return self.unit.removeprefix("s/")


@dataclass(frozen=True, slots=True)
class Catalog:
    """The harness's benchmarks, in table order, and where they were listed."""

    version: str
    arch: str
    benchmarks: tuple[Benchmark, ...]

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(b.family for b in self.benchmarks))

    def get(self, name: str) -> Benchmark:
        for bench in self.benchmarks:
            if bench.name == name:
                return bench
        raise UserError(f"unknown benchmark '{name}'{_suggest(name, self.names())}")

    def names(self) -> list[str]:
        return [b.name for b in self.benchmarks]

    def select(self, names: Sequence[str] = (), families: Sequence[str] = ()) -> list[Benchmark]:
        """The benchmarks named, plus those of the families named; all when neither.

        Raises :class:`UserError` for an unknown name or family.
        """
        for family in families:
            if family not in self.families:
                raise UserError(f"unknown family '{family}'{_suggest(family, self.families)}")
        wanted = {self.get(n).name for n in names}
        if not names and not families:
            return list(self.benchmarks)
        return [b for b in self.benchmarks if b.name in wanted or b.family in families]


def _suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f": did you mean '{close[0]}'? ('ringbench list' shows them all)"
    return ": 'ringbench list' shows them all"


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:  # noqa: ANN401
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"{where}: field '{key}' missing or not {kind.__name__}")
    return value


def _sampling(obj: dict[str, Any], where: str) -> Sampling:
    factors = [_field(obj, key, int, f"{where} sampling") for key in ("values", "processes")]
    if not all(1 <= f <= SAMPLING_MAX for f in factors):
        raise ProtocolError(f"{where}: sampling factors {factors} outside 1-{SAMPLING_MAX}")
    return Sampling(*factors)


def parse_catalog(text: str) -> Catalog:
    """Parse the output of ``ringbench-bench list``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"harness catalog is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("harness catalog is not a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ProtocolError(f"harness catalog format {fmt!r}, expected {FORMAT}")
    items = _field(data, "benchmarks", list, "catalog")
    benchmarks = []
    for i, item in enumerate(items):
        where = f"catalog entry {i}"
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: not an object")
        where = f"catalog entry {i} ({_field(item, 'name', str, where)})"
        params = tuple(
            Param(
                name=_field(p, "name", str, where),
                default=_field(p, "default", int, where),
                description=_field(p, "description", str, where),
            )
            for p in _field(item, "params", list, where)
        )
        try:
            benchmarks.append(
                Benchmark(
                    name=_field(item, "name", str, where),
                    family=_field(item, "family", str, where),
                    mechanism=_field(item, "mechanism", str, where),
                    unit=_field(item, "unit", str, where),
                    description=_field(item, "description", str, where),
                    params=params,
                    supported=_field(item, "supported", bool, where),
                    reason=_field(item, "reason", str, where),
                    sampling=_sampling(_field(item, "sampling", dict, where), where),
                )
            )
        except ValueError as exc:
            raise ProtocolError(f"{where}: {exc}") from exc
    names = [b.name for b in benchmarks]
    if len(set(names)) != len(names):
        raise ProtocolError("harness catalog lists a benchmark twice")
    return Catalog(
        version=_field(data, "version", str, "catalog"),
        arch=_field(data, "arch", str, "catalog"),
        benchmarks=tuple(benchmarks),
    )


def load_catalog(binary: Path, workdir: Path | None = None) -> Catalog:
    """Run ``binary list`` locally and parse it."""
    argv = [str(binary), "list"]
    if workdir is not None:
        argv += ["--dir", str(workdir)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=LIST_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"'{binary} list' did not answer in {LIST_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        raise HarnessError(f"'{binary} list' failed: {proc.stderr.strip()[:300]}")
    return parse_catalog(proc.stdout)
