"""``--resume``: what an earlier run is missing, planned as a run of its own into its directory.

A benchmark is kept as it is when the manifest says it was measured whole
(``success``) and the host's suite holds it, or when the host cannot run it
(``unsupported``); everything else is measured again: hosts that failed or
were stopped, benchmarks that failed or were interrupted. The build must be
the one that measured the run: mixing binaries in one run would make its
ratios meaningless.

One process writes a run at a time (:func:`writing`): a run being measured, or
resumed, holds its lock, and a second resumer of it is refused at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyperf

from ringbench.errors import UserError
from ringbench.files import LockBusy, locked
from ringbench.results import BenchStatus, Manifest, RunDir
from runners.execute import RunConfig
from runners.inventory import Host, load_inventory
from runners.outcome import RunOrigin
from runners.plan import LOCAL_HOST, ConnectOptions, RunPlan, plan_hosts
from suites.build import BuildInfo
from suites.catalog import Catalog

PROC_LOCKS = Path("/proc/locks")
PROC_LOCKS_MAX_BYTES = 4 << 20  # the kernel's table of file locks, read no further than this


def lock_holder(path: Path, locks: Path = PROC_LOCKS) -> int | None:
    """The pid of the process holding a ``flock`` on ``path`` (from ``/proc/locks``), or None
    when it cannot be told."""
    try:
        st = path.stat()
        with locks.open("rb") as fp:
            table = fp.read(PROC_LOCKS_MAX_BYTES).decode("ascii", "replace")
    except OSError:
        return None
    # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF": pid, then device (hex) and inode
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        words = line.split()
        if len(words) >= 6 and words[1] == "FLOCK" and words[5] == wanted and words[4].isdigit():
            return int(words[4]) or None
    return None


@contextlib.contextmanager
def writing(run_dir: RunDir) -> Iterator[None]:
    """Hold the run's lock while the block writes it; :class:`UserError` at once when another
    ringbench holds it (a run being measured, or resumed)."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locked(run_dir.lock_path))
        except LockBusy:
            pid = lock_holder(run_dir.lock_path)
            who = f"another ringbench (pid {pid})" if pid else "another ringbench"
            raise UserError(
                f"run {run_dir.run_id} is being written by {who}: wait for it to end "
                "(or stop it), then resume"
            ) from None
        except OSError as exc:
            raise UserError(
                f"{run_dir.lock_path}: cannot be opened ({exc.strerror or exc}): is "
                f"{run_dir.path} a run directory you may write?"
            ) from None
        yield


@dataclass(frozen=True, slots=True)
class Resume:
    """What is left of a run, and what of it is kept."""

    plan: RunPlan
    previous: Manifest
    kept_suites: dict[str, list[pyperf.Benchmark]]
    origin: RunOrigin

    @property
    def missing(self) -> int:
        return sum(len(self.plan.remaining(h.name)) for h in self.plan.hosts)


def _config(manifest: Manifest, path: Path) -> RunConfig:
    try:
        return RunConfig(**manifest.config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: its run settings cannot be read back ({exc})") from None


def plan_resume(
    run_dir: RunDir,
    build: BuildInfo,
    catalog: Catalog,
    inventory: Sequence[Path],
    connect: ConnectOptions,
    argv: tuple[str, ...],
) -> Resume | None:
    """The plan that completes ``run_dir``; None when nothing is missing."""
    manifest = run_dir.read_manifest()
    if manifest.binary_sha256 != build.sha256:
        raise UserError(
            f"{run_dir.path} was measured with harness {manifest.binary_sha256[:12]}, this "
            f"checkout builds {build.sha256[:12]}: resuming would mix binaries; start a new run"
        )
    config = _config(manifest, run_dir.manifest_path)
    benchmarks = tuple(catalog.get(name) for name in manifest.benchmarks)
    recorded = manifest.inventory
    if recorded is None:
        hosts: tuple[Host, ...] = (LOCAL_HOST,)
    else:
        recorded_sources = recorded.sources or ((recorded.path,) if recorded.path else ())
        inv = load_inventory([Path(s) for s in recorded_sources] or list(inventory))
        known = {h.name: h for h in inv.hosts}  # (inv.get says which host is missing)
        hosts = plan_hosts([known.get(name) or inv.get(name) for name in manifest.hosts])
    done: dict[str, frozenset[str]] = {}
    kept: dict[str, list[pyperf.Benchmark]] = {}
    todo = []
    for host in hosts:
        suite = run_dir.load_suite(host.name)
        stored = set(suite.get_benchmark_names()) if suite else set()
        entry = manifest.hosts.get(host.name)
        entries = entry.benchmarks if entry else {}
        finished = frozenset(
            n
            for n, e in entries.items()
            if e.finished and (n in stored or e.status is BenchStatus.UNSUPPORTED)
        )
        done[host.name] = finished
        kept[host.name] = [b for b in suite if b.get_name() in finished] if suite else []
        if any(b.name not in finished for b in benchmarks):
            todo.append(host)
    if not todo:
        return None
    plan = RunPlan(
        hosts=tuple(todo),
        benchmarks=benchmarks,
        config=config,
        params={b: dict(p) for b, p in manifest.params.items()},
        connect=connect,
        done=done,
    )
    origin = RunOrigin(
        command=manifest.command,
        inventory=recorded,
        resumed_by=(*manifest.resumed_by, argv),
    )
    return Resume(plan, manifest, kept, origin)
