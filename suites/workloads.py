"""The shipped real workloads (``suites/workloads.toml``), read and checked.

A workload is a real program of the lab's root file system with a fixed
``setup`` (untimed, prepares its input in a fresh directory) and a fixed
``command`` (timed and counted), both shell text of the shipped file, run as
``sh -c SCRIPT``. The list is declarative so that what each workload
exercises, what it needs and how long it should take natively are read in one
place; :func:`load_workloads` refuses a malformed file with one line naming it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringbench.errors import UserError

WORKLOADS_FILE = Path(__file__).with_name("workloads.toml")
FORMAT_VERSION = 1
NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,63}")
PROGRAM = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_./+-]{0,127}")
MAX_SCRIPT_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Workload:
    """One shipped workload (the fields of ``workloads.toml``)."""

    name: str
    exercises: str
    packages: tuple[str, ...]
    programs: tuple[str, ...]
    native_s: float
    setup: str
    command: str

    def argv(self, script: str) -> list[str]:
        """How the harness runs one of its scripts: ``sh -c SCRIPT`` (no other input)."""
        return ["sh", "-c", script]


def _field(path: Path, index: int, entry: dict[str, Any], key: str, kind: type) -> Any:  # noqa: ANN401
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UserError(
            f"{path}: workload {index + 1}: '{key}' must be {kind.__name__}, not "
            f"{type(value).__name__}"
        )
    return value


def _names(
    path: Path, index: int, entry: dict[str, Any], key: str, pattern: re.Pattern[str]
) -> tuple[str, ...]:
    values = _field(path, index, entry, key, list)
    if not all(isinstance(v, str) and pattern.fullmatch(v) for v in values):
        raise UserError(f"{path}: workload {index + 1}: '{key}' holds a name it cannot be")
    return tuple(values)


def _workload(path: Path, index: int, entry: object) -> Workload:
    if not isinstance(entry, dict):
        raise UserError(f"{path}: workload {index + 1} is not a table")
    unknown = set(entry) - set(Workload.__slots__)
    if unknown:
        raise UserError(f"{path}: workload {index + 1}: unknown key '{sorted(unknown)[0]}'")
    name = _field(path, index, entry, "name", str)
    if not NAME.fullmatch(name):
        raise UserError(f"{path}: workload {index + 1}: name {name[:40]!r} is not [a-z][a-z0-9-]*")
    scripts = {key: _field(path, index, entry, key, str).strip() for key in ("setup", "command")}
    if not scripts["command"] or any(len(s) > MAX_SCRIPT_CHARS for s in scripts.values()):
        raise UserError(f"{path}: workload {name}: an empty command or a script too long")
    native_s = _field(path, index, entry, "native_s", (int, float))  # type: ignore[arg-type]
    if not 0 < native_s <= 600:
        raise UserError(f"{path}: workload {name}: native_s {native_s} is not in (0, 600]")
    return Workload(
        name=name,
        exercises=_field(path, index, entry, "exercises", str),
        packages=_names(path, index, entry, "packages", PACKAGE),
        programs=_names(path, index, entry, "programs", PROGRAM),
        native_s=float(native_s),
        setup=scripts["setup"],
        command=scripts["command"],
    )


def load_workloads(path: Path = WORKLOADS_FILE) -> list[Workload]:
    """Every workload of ``path``, in its order; :class:`UserError` naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not TOML: {str(exc).splitlines()[0]}") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: format_version must be {FORMAT_VERSION}")
    entries = data.get("workload")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: no [[workload]] tables")
    workloads = [_workload(path, i, entry) for i, entry in enumerate(entries)]
    names = [w.name for w in workloads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"{path}: workload '{twice[0]}' twice")
    return workloads


def select(workloads: list[Workload], names: list[str]) -> list[Workload]:
    """The workloads named (all when ``names`` is empty), in the file's order."""
    if not names:
        return workloads
    known = {w.name for w in workloads}
    missing = [n for n in names if n not in known]
    if missing:
        raise UserError(
            f"--workloads: no workload '{missing[0]}' (known: {', '.join(sorted(known))})"
        )
    return [w for w in workloads if w.name in names]
