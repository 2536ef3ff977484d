"""How long ``ringbench lab up`` takes, from its cache and from scratch, against the targets.

Targets (issue "Runtimes users deploy", with the Podman and gVisor hosts; the
lab's first issue asked 60 s and 6 minutes of its four hosts): from cache at
most 90 s; from scratch (packages installed, nothing cached: root file system,
image, Podman store, keys and the KVM verdict removed) at most 8 minutes. Each
measurement ends with ``lab down``. Needs root.
It measures a lab instance of its own (``perf``, in its own directory), so that a
lab the user has up, and its cache, are left alone.
Run: ``python -m benchmarks.lab_timing [--skip-scratch] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ringbench.files import atomic_write_json
from runners.cli.progress import LiveProgress
from runners.lab import lifecycle
from runners.lab.instance import Instance
from runners.lab.paths import LabPaths

TARGETS_S = {"from cache": 90.0, "from scratch": 480.0}


def clear_cache(paths: LabPaths) -> None:
    """Everything ``lab up`` would reuse: root file systems, images (the Podman store's
    too), keys, KVM verdict."""
    for entry in paths.cache.glob("rootfs-*"):
        shutil.rmtree(entry)
    for entry in paths.root.glob("image-*"):
        shutil.rmtree(entry)
    shutil.rmtree(paths.keys, ignore_errors=True)
    shutil.rmtree(paths.podman, ignore_errors=True)  # the imported image
    paths.kvm_verdict.unlink(missing_ok=True)


def measure(console: Console, paths: LabPaths, inventory: Path) -> dict[str, float]:
    started = time.monotonic()
    with LiveProgress(console, width=10) as progress:
        result = lifecycle.up(paths, inventory, progress)
    timings = {"wall": time.monotonic() - started, **result.timings}
    lifecycle.down(paths)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-scratch", action="store_true", help="only from cache (keeps the cache)"
    )
    parser.add_argument("--json", type=Path, help="write the timings here")
    args = parser.parse_args(argv)
    console = Console()
    if os.geteuid() != 0:
        console.print("the lab needs root")
        return 2
    paths = LabPaths.of(Instance("perf"))
    lifecycle.down(paths)
    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory.yaml"
        measure(console, paths, inventory)  # fills the cache if empty
        runs["from cache"] = measure(console, paths, inventory)
        if not args.skip_scratch:
            clear_cache(paths)
            runs["from scratch"] = measure(console, paths, inventory)
    table = Table(title="ringbench lab up")
    for column in ("case", "wall", "target", "build", "boots", "per host"):
        table.add_column(column)
    failed = False
    for case, t in runs.items():
        ok = t["wall"] <= TARGETS_S[case]
        failed = failed or not ok
        hosts = ", ".join(
            f"{k.split(':')[1]} {v:.1f} s" for k, v in t.items() if k.startswith("boot:") and v
        )
        table.add_row(
            case,
            f"{t['wall']:.0f} s",
            f"{TARGETS_S[case]:.0f} s " + ("[green]met[/green]" if ok else "[red]missed[/red]"),
            f"{t['rootfs'] + t['image']:.0f} s",
            f"{t['boot']:.0f} s",
            hosts,
        )
    console.print(table)
    if args.json:
        atomic_write_json(args.json, {"format_version": 1, "targets_s": TARGETS_S, "runs": runs})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
