"""The SSH runners' targets, on real sshd servers on loopback (``nox -s perf``).

1. Controller overhead per extra host, binary cached there: five hosts on one
   machine (so they run one after another), one tiny benchmark each; the
   overhead of a host is its time in the pipeline less the time its harness
   processes took (connect, hash check, probe, file writes). Target: < 1 s.
2. Parallelism: a ``--fast`` subset on one host, then on 20 hosts declared on
   20 machines. Target: well under 20 times the time of one (met here when at
   most 0.6 x 20). All 20 "machines" are this one: their harnesses share its
   cores, so the measuring itself cannot go faster than cores-fold; the
   controller's waits (SSH round trips, deploy, probe) overlap fully.

Every host is a genuine ``sshd`` on 127.0.0.1 (tests/sshd.py); nothing
leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ringbench.files import atomic_write_json
from ringbench.results import new_run_id
from tests.sshd import ClientKey, Sshd, keygen

SUBSET = ["--family", "syscall", "--fast", "--cpu", "none"]
TINY = [
    "--bench",
    "syscall-null",
    "--processes",
    "1",
    "--values",
    "1",
    "--warmups",
    "0",
    "--min-time",
    "0.001",
]


def write_inventory(path: Path, servers: list[Sshd], *, shared_machine: bool) -> None:
    lines = ["all:", "  hosts:"]
    for i, server in enumerate(servers):
        lines += [
            f"    h{i:02d}:",
            "      ansible_host: 127.0.0.1",
            f"      ansible_port: {server.port}",
            f"      ansible_user: {server.user}",
            f"      ansible_ssh_private_key_file: {server.client.private}",
            f"      machine: {'shared' if shared_machine else f'm{i:02d}'}",
        ]
    path.write_text("\n".join(lines) + "\n")


def ringbench(args: list[str], results: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    """Run the real command line; return its wall time and the run's manifest."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "runners.cli", "run", *args, "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ringbench run failed ({proc.returncode}): {proc.stdout[-1500:]}")
    latest = sorted(p for p in results.iterdir() if p.is_dir())[-1]
    return elapsed, json.loads((latest / "manifest.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SSH runner targets on loopback sshd servers")
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="ringbench-ssh-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["RINGBENCH_SSH_CONFIG"] = str(tmp / "ssh_config")
        os.environ["RINGBENCH_KNOWN_HOSTS"] = str(tmp / "known_hosts")
        os.environ.pop("SSH_AUTH_SOCK", None)
        (tmp / "ssh_config").write_text("")
        client = ClientKey(keygen(tmp / "id_ed25519"))
        servers: list[Sshd] = []
        try:
            with console.status(f"starting {args.hosts} sshd servers"):
                for i in range(args.hosts):
                    servers.append(Sshd(tmp / f"sshd{i:02d}", client).start())
            (tmp / "known_hosts").write_text("".join(s.known_hosts_line() + "\n" for s in servers))
            parallel, shared = tmp / "parallel.yaml", tmp / "shared.yaml"
            write_inventory(parallel, servers, shared_machine=False)
            write_inventory(shared, servers[:5], shared_machine=True)
            results = tmp / "results"
            results.mkdir()
            with console.status("deploying the harness to every host"):
                ringbench(["--inventory", str(parallel), *TINY], results)
            with console.status("controller overhead, 5 hosts on one machine"):
                wall5, m5 = ringbench(["--inventory", str(shared), *TINY], results)
                wall1, _ = ringbench(["--inventory", str(shared), "--hosts", "h00", *TINY], results)
            overheads = [
                h["timings"]["total_s"] - h["timings"]["measure_s"] for h in m5["hosts"].values()
            ]
            uploads = [h["deploy"]["uploaded"] for h in m5["hosts"].values()]
            with console.status("--fast syscall subset on 1 host, then on all hosts"):
                one, _ = ringbench(
                    ["--inventory", str(parallel), "--hosts", "h00", *SUBSET], results
                )
                many, _ = ringbench(["--inventory", str(parallel), *SUBSET], results)
        finally:
            for server in servers:
                server.stop()
    per_extra = (wall5 - wall1) / 4
    rows = [
        (
            "controller overhead per host (binary cached)",
            f"mean {statistics.fmean(overheads):.2f} s, max {max(overheads):.2f} s",
            "below 1 s",
            max(overheads) < 1.0,
        ),
        (
            "wall time per extra host, tiny benchmark, same machine",
            f"{per_extra:.2f} s",
            "(reported)",
            None,
        ),
        ("binary uploaded again", f"{sum(uploads)} of {len(uploads)} hosts", "0", not any(uploads)),
        (
            f"--fast syscall subset: 1 host / {args.hosts} hosts on {args.hosts} machines",
            f"{one:.1f} s / {many:.1f} s = {many / one:.1f}x (one after another: "
            f"{one * args.hosts:.0f} s)",
            f"well under {args.hosts}x (here all hosts share {os.cpu_count()} cores)",
            many / one <= 0.6 * args.hosts,
        ),
    ]
    table = Table(title="SSH runners on loopback sshd servers")
    for column in ("measure", "figure", "target", "met"):
        table.add_column(column)
    for what, figure, target, met in rows:
        table.add_row(what, figure, target, "-" if met is None else ("yes" if met else "NO"))
    console.print(table)
    out = Path("results") / "perf" / f"ssh-{new_run_id()}.json"
    atomic_write_json(
        out,
        {
            "format_version": 1,
            "rows": [{"measure": r[0], "figure": r[1], "target": r[2], "met": r[3]} for r in rows],
        },
    )
    console.print(f"figures written to {out}")
    return 1 if any(r[3] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
