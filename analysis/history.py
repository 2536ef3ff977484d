"""The history of a results directory: every run's figures, indexed once, and their changes.

``update_index(store)`` keeps ``<store>/index.json``: per run directory
(``results/<run-id>/``) its id, creation time, status and settings from the
manifest, the summary of every (host, benchmark)
(:func:`analysis.stats.summarize`) with the benchmark's parameters, and per
host its baseline and the facts a change is explained by. A run already
indexed with the same fingerprint (the manifest's mtime and ``updated``
field, the suite files' names, sizes and mtimes) is not summarized again; a
removed run directory drops out. ``history(store)`` returns the tidy history
from it.

A run's *settings* are how much it measured: the manifest's ``config``
(``processes``, ``values``, ``warmups``, ``min_time_s``, ``cpu``; a ``--fast``
run is ``processes=2 values=5 warmups=1 min_time_s=0.005``). Figures measured
under other settings are not comparable (fewer, shorter values move a median
differently), so the history frame names them in one short, stable string,
``settings`` (:func:`settings_key`), that the regression gate filters on
beside the host's facts (:mod:`analysis.regress`).

What a run holds is data: a run that cannot be read, or holds anything out
of range (:mod:`ringbench.results.read`, :mod:`ringbench.results.manifest`),
or whose reading fails in any way, is left out with one line naming it
(``attrs["skipped"]``, and a warning through the ``progress`` given), and
the other runs are indexed as usual.

The index is a cache: one that cannot be read, or of another format, is
rebuilt; an entry of it that is not of the shape written is dropped (and
its run summarized again). Writers are serialized by an exclusive ``fcntl.flock`` on
``<store>/.index.lock`` held around the read-modify-write only; the runs are
summarized outside the lock, so a waiting writer waits for a file write, not
for another process's bootstrap. The file itself is replaced atomically, so
readers never see half of it.

Format history:
- 1: first version.
- 2: each run's ``settings`` (the manifest's processes, values, warmups,
  min_time_s and cpu), each host's ``baseline``, each figure's ``params``.
- 3: no field changed: rebuilt once so that runs indexed before the range
  checks of results format 2 are checked (a run poisoned before is left out).
"""

from __future__ import annotations

import fcntl
import json
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import summarize
from analysis.tidy import load
from analysis.validity import host_facts, records
from ringbench import __version__
from ringbench.errors import UserError
from ringbench.files import atomic_write_text
from ringbench.progress import SILENT, Level, Progress
from ringbench.results import Manifest, ResultStore, RunDir, run_id_time
from ringbench.results.text import one_line

INDEX_FORMAT = 3
INDEX_NAME = "index.json"
LOCK_NAME = ".index.lock"
LOCK_TIMEOUT_S = 60.0
LOCK_POLL_S = 0.02

SUMMARY = ["median_s", "ci_low_s", "ci_high_s", "cv", "processes"]
LABELS = ["virt_class", "family", "mechanism", "operation"]
# The facts of a host that explain a change of its figures, most telling first.
FACTS = [
    "kernel",
    "binary_sha256",
    "cpu_model_name",
    "machine",
    "mitigations",
    "thp",
    "clocksource",
    "cpu_governor",
    "virt_layers",
    "virt_class",
    "placement",
    "disk",
]
# The manifest's config keys that decide what a figure means, in the settings string's order.
SETTINGS = ["processes", "values", "warmups", "min_time_s", "cpu"]
SETTING_MAX = 64  # characters of one setting's text
INDEX_COLUMNS = ["run", "created", "status", "settings", "hosts", "figures", "summarized"]
HISTORY_COLUMNS = [
    "run",
    "created",
    "status",
    "settings",
    "host",
    "baseline",
    "benchmark",
    "params",
    *LABELS,
    *SUMMARY,
    *(f for f in FACTS if f not in LABELS),
]


def _setting(value: object) -> str:
    """One setting as the key writes it: ``0.01``, ``5``, ``auto``, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_of(manifest: Manifest) -> dict[str, Any]:
    """The settings of a run, from its manifest's ``config``: ``SETTINGS`` as recorded
    (a key the manifest lacks is left out; a manifest without a config gives ``{}``).

    Raises UserError when a setting is not a short scalar (a number, text of at most
    ``SETTING_MAX`` characters, a boolean or null)."""
    settings = {k: manifest.config[k] for k in SETTINGS if k in manifest.config}
    for key, value in settings.items():
        if not _setting_ok(value):
            raise UserError(
                f"{manifest.run_id}: its setting {key!r} is {one_line(repr(value), 60)}, "
                "not a number or a short word"
            )
    return settings


def _setting_ok(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= SETTING_MAX


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short, stable string that identifies a run's settings:
    ``processes=5 values=10 warmups=1 min_time_s=0.01 cpu=auto``; ``""`` when unknown
    (no config recorded), a key missing from a partial config shows as ``?``.

    Two runs are comparable only when their keys are equal."""
    if not settings:
        return ""
    return " ".join(f"{k}={_setting(settings[k]) if k in settings else '?'}" for k in SETTINGS)


def run_settings(run_dir: Path) -> str:
    """The settings key of a run directory, read from its manifest (UserError when it
    cannot be read)."""
    return settings_key(settings_of(RunDir(run_dir).read_manifest()))


def run_facts(df: pd.DataFrame) -> pd.DataFrame:
    """One row per host of a tidy frame (one run): ``host``, ``baseline`` and ``FACTS``,
    as strings, as the index records them (an unknown fact is ``""``)."""
    columns = ["host", "baseline", *FACTS]
    if df.empty:
        return pd.DataFrame(columns=columns)
    facts = host_facts(df)
    for column in columns:
        if column not in facts.columns:
            facts[column] = ""
    return facts[columns].astype(str).reset_index(drop=True)


def baselines(df: pd.DataFrame) -> dict[str, str]:
    """host -> its baseline host in this run (one run's tidy frame), for the hosts that
    have one measured in it."""
    facts = run_facts(df)
    present = set(facts["host"])
    return {
        str(h): str(g)
        for h, g in zip(facts["host"], facts["baseline"], strict=True)
        if g and g != h and g in present
    }


def figure_params(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (host, benchmark) of a tidy frame (one run): its ``params`` string."""
    if df.empty:
        return pd.DataFrame(columns=["host", "benchmark", "params"])
    first = df.groupby(["host", "benchmark"], observed=True, sort=True)["params"].first()
    return first.reset_index().astype(str)


@contextmanager
def _locked(store: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the store's index lock; give up with a UserError after ``timeout_s``."""
    path = store / LOCK_NAME
    with path.open("a") as fp:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fp.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"{path}: another process has held the index lock for {timeout_s:.0f} s"
                    ) from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fp.fileno(), fcntl.LOCK_UN)


def _read_index(store: Path) -> dict[str, dict[str, Any]]:
    """The indexed runs; nothing when the index is missing, unreadable or of another format;
    an entry not of the shape :func:`summarize_run` writes is left out."""
    try:
        data = json.loads((store / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("format_version") != INDEX_FORMAT:
        return {}
    runs = data.get("runs")
    if not isinstance(runs, dict):
        return {}
    return {name: entry for name, entry in runs.items() if _entry_ok(name, entry)}


def _texts(item: object, names: list[str] | tuple[str, ...]) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(k), str) for k in names)


def _summary_ok(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and abs(value) < 2**63


def _entry_ok(name: str, entry: object) -> bool:
    """Whether ``entry`` is an index entry of the run ``name`` as written here."""
    if not isinstance(entry, dict) or entry.get("run_id") != name:
        return False
    if not _texts(entry, ("created", "status")) or not isinstance(entry.get("fingerprint"), dict):
        return False
    settings, figures, hosts = entry.get("settings"), entry.get("figures"), entry.get("hosts")
    if not isinstance(settings, dict) or not all(map(_setting_ok, settings.values())):
        return False
    if not isinstance(figures, list) or not isinstance(hosts, dict):
        return False
    labels = ("host", "benchmark", "params", *LABELS)
    if not all(_texts(f, labels) and all(_summary_ok(f.get(k)) for k in SUMMARY) for f in figures):
        return False
    return all(_texts(facts, ("baseline", *FACTS)) for facts in hosts.values())


def _write_index(store: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Compact JSON (an index of a hundred runs is a few MB indented), keys sorted."""
    document = {"format_version": INDEX_FORMAT, "tool_version": __version__, "runs": runs}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    atomic_write_text(store / INDEX_NAME, text + "\n")


def _fingerprint(run: RunDir, manifest: Manifest) -> dict[str, Any]:
    """What says a run directory changed: its manifest's ``updated`` and mtime, and its
    suites' names, sizes and mtimes."""
    suites = []
    for path in run.suite_files():
        st = path.stat()
        suites.append([path.relative_to(run.path).as_posix(), st.st_size, st.st_mtime_ns])
    return {
        "updated": manifest.updated,
        "manifest_mtime_ns": run.manifest_path.stat().st_mtime_ns,
        "suites": suites,
    }


def _created(run_id: str, manifest: Manifest) -> str:
    """The manifest's ``created``, else the time the run id was made."""
    return manifest.created or run_id_time(run_id)


def _number(x: Any) -> float | int | None:  # noqa: ANN401 - a cell of a frame
    """A JSON number: NaN is null."""
    if x is None or (isinstance(x, float | np.floating) and math.isnan(x)):
        return None
    return int(x) if isinstance(x, int | np.integer) else float(x)


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """The index entry of one run directory; raises UserError when it cannot be read, or
    holds anything out of range."""
    run = RunDir(run_dir)
    manifest = run.read_manifest()
    fingerprint = _fingerprint(run, manifest)
    df = load(run_dir)
    figures: list[dict[str, Any]] = []
    hosts: dict[str, dict[str, str]] = {}
    if not df.empty:
        summary = summarize(df).merge(figure_params(df), on=["host", "benchmark"], how="left")
        for r in records(summary[["host", "benchmark", "params", *LABELS, *SUMMARY]]):
            figure: dict[str, Any] = {
                k: str(r[k]) for k in ("host", "benchmark", "params", *LABELS)
            }
            figure.update({k: _number(r[k]) for k in SUMMARY})
            figures.append(figure)
        for f in records(run_facts(df)):
            hosts[str(f["host"])] = {k: str(f[k]) for k in ("baseline", *FACTS)}
    return {
        "run_id": run_dir.name,
        "created": _created(run_dir.name, manifest),
        "status": manifest.status.value,
        "settings": settings_of(manifest),
        "fingerprint": fingerprint,
        "figures": figures,
        "hosts": hosts,
    }


def _current(run_dir: Path) -> dict[str, Any] | None:
    """The fingerprint the directory has now (``updated`` from the manifest), None if unreadable."""
    run = RunDir(run_dir)
    try:
        return _fingerprint(run, run.read_manifest())
    except Exception:  # whatever is wrong: summarize_run says what
        return None


def _why(name: str, exc: Exception) -> str:
    """One line: the run and what is wrong with it (the error's type when it is not one of
    ringbench's own, which say what is wrong themselves)."""
    if isinstance(exc, UserError | OSError):
        return one_line(f"{name}: {exc}")
    return one_line(f"{name}: cannot be read ({type(exc).__name__}: {exc})")


def _update(
    store: Path, progress: Progress
) -> tuple[dict[str, dict[str, Any]], set[str], list[str]]:
    """(indexed runs, the names summarized by this call, why runs were skipped)."""
    if not store.is_dir():
        raise UserError(f"{store}: no such results directory")
    indexed = _read_index(store)  # replaced atomically: whole without the lock
    dirs = {r.run_id: r.path for r in ResultStore(store).runs()}
    todo = []
    for name, path in dirs.items():
        now = _current(path)
        if now is None or indexed.get(name, {}).get("fingerprint") != now:
            todo.append(path)  # an unreadable one too: summarize_run says why
    skipped: dict[str, str] = {}
    fresh: dict[str, dict[str, Any]] = {}
    for done, path in enumerate(todo):
        progress.update(
            "history", completed=done, total=len(todo), description=f"summarizing run {path.name}"
        )
        try:
            fresh[path.name] = summarize_run(path)
        except Exception as exc:  # one run, whatever it holds, never the others
            skipped[path.name] = _why(path.name, exc)
    with _locked(store):
        # Other writers may have indexed runs meanwhile, even runs created after this
        # one's scan: merge into what the file holds now, checked against the disk now.
        before = _read_index(store)
        now = {name: _current(store / name) for name in set(before) | set(fresh)}
        runs = {
            name: entry
            for name, entry in before.items()
            if now[name] is not None  # removed or unreadable: drops out
            and (name not in skipped or entry.get("fingerprint") == now[name])
        }
        for name, entry in fresh.items():
            if now[name] == entry["fingerprint"]:
                runs[name] = entry
        if runs != before or not (store / INDEX_NAME).exists():
            _write_index(store, runs)
    for name in [n for n in skipped if n in runs]:  # indexed by another writer meanwhile
        del skipped[name]
    for line in skipped.values():
        progress.message(f"left out of the history: {line}", level=Level.WARNING)
    ordered = dict(sorted(runs.items(), key=lambda kv: (kv[1]["created"], kv[0])))
    return ordered, set(fresh), list(skipped.values())


def update_index(store: Path, progress: Progress = SILENT) -> pd.DataFrame:
    """Bring ``<store>/index.json`` up to date; one row per indexed run (``INDEX_COLUMNS``),
    ordered by creation.

    ``summarized`` says whether the run was (re)summarized by this call.
    Runs that cannot be read are left out and listed, one line each, in
    ``attrs["skipped"]`` (and ``progress`` hears each as a warning). ``progress``
    hears of each run summarized (task ``history``). Raises UserError when
    ``store`` is not a directory.
    """
    runs, fresh, skipped = _update(store, progress)
    rows = [
        {
            "run": name,
            "created": entry["created"],
            "status": entry["status"],
            "settings": settings_key(entry.get("settings", {})),
            "hosts": len(entry["hosts"]),
            "figures": len(entry["figures"]),
            "summarized": name in fresh,
        }
        for name, entry in runs.items()
    ]
    out = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    out.attrs["skipped"] = skipped
    return out


def history(store: Path, progress: Progress = SILENT) -> pd.DataFrame:
    """One row per (run, host, benchmark), ordered by the runs' creation: ``HISTORY_COLUMNS``.

    ``settings`` is the run's settings key (:func:`settings_key`), ``baseline``
    the host's baseline in that run (``""`` for none), ``params`` the
    benchmark's parameters. Updates the index first (:func:`update_index`);
    ``attrs["skipped"]`` lists the runs left out and why, one line each (and
    ``progress`` hears each as a warning).
    """
    runs, _, skipped = _update(store, progress)
    rows = []
    for entry in runs.values():
        settings = settings_key(entry.get("settings", {}))
        for figure in entry["figures"]:
            facts = entry["hosts"].get(figure["host"], {})
            rows.append(
                {
                    "run": entry["run_id"],
                    "created": entry["created"],
                    "status": entry["status"],
                    "settings": settings,
                    **{k: str(facts.get(k, "")) for k in ("baseline", *FACTS)},
                    "params": str(figure.get("params", "")),
                    **{k: figure.get(k) for k in ("host", "benchmark", *LABELS, *SUMMARY)},
                }
            )
    out = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for column in SUMMARY:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["processes"] = out["processes"].fillna(0).astype("int64")
    out = out.sort_values(["created", "run", "host", "benchmark"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["skipped"] = skipped
    return out


def history_before(store: Path, run_id: str, progress: Progress = SILENT) -> pd.DataFrame:
    """The history of the runs created before ``run_id`` (all of them when it is not in the
    store): what the regression gate holds a run against."""
    if not store.is_dir():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    frame = history(store, progress)
    order = list(dict.fromkeys(frame["run"]))
    before = set(order[: order.index(run_id)]) if run_id in order else set(order)
    out = frame[frame["run"].isin(before)]
    out.attrs["skipped"] = list(frame.attrs.get("skipped", []))
    return out
