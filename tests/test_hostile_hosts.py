"""One good host beside hosts that misbehave in every way we know: the run ends by itself,
exits 1 without a traceback, keeps the good host's results whole and fails each bad host
with its reason (real sshd servers, tests/hostile.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyperf
import pytest

from ringbench.results import RunDir
from suites.build import BuildInfo
from tests.hostile import BEHAVIOURS, hostile_sshd
from tests.sshd import SSHD, ClientKey, Sshd, inventory_lines

BAD = tuple(b for b in BEHAVIOURS if b != "good")
BENCHES = ("syscall-stat", "trap-ud2")
QUICK = ["--processes", "2", "--values", "3", "--warmups", "0", "--min-time", "0.002"]


@pytest.fixture
def fleet(
    tmp_path: Path, client_key: ClientKey, ssh_env: Path
) -> Iterator[Callable[[tuple[str, ...]], dict[str, Sshd]]]:
    servers: list[Sshd] = []

    def start(behaviours: tuple[str, ...]) -> dict[str, Sshd]:
        started = {}
        for behaviour in behaviours:
            server = hostile_sshd(tmp_path / f"sshd-{behaviour}", client_key, behaviour)
            servers.append(server)
            with (ssh_env / "known_hosts").open("a") as fp:
                fp.write(server.known_hosts_line() + "\n")
            started[behaviour.replace("-", "_")] = server
        return started

    if not SSHD.exists():
        pytest.skip(f"{SSHD} missing: apt-get install openssh-server (nox -s tests does)")
    yield start
    for server in servers:
        server.stop()


def write_inventory(path: Path, servers: dict[str, Sshd]) -> Path:
    lines = ["all:", "  hosts:", *inventory_lines(servers)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hostile_hosts_do_not_take_the_run_down(
    harness: BuildInfo,
    fleet: Callable[[tuple[str, ...]], dict[str, Sshd]],
    tmp_path: Path,
    ssh_env: Path,
) -> None:
    servers = fleet(("good", *BAD))
    inventory = write_inventory(tmp_path / "inventory.yaml", servers)
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "runners.cli", "run", "--inventory", str(inventory)]
    for bench in BENCHES:
        argv += ["--bench", bench]
    argv += [*QUICK, "--process-timeout", "8", "--results", str(results)]
    started = time.monotonic()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=400,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
        cwd=Path(__file__).parent.parent,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stdout) + len(done.stderr) < 200_000  # nothing a host printed in bulk
    [run] = [p for p in results.iterdir() if p.is_dir()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    hosts = manifest["hosts"]
    assert hosts["good"]["status"] == "complete", hosts["good"]
    suite = pyperf.BenchmarkSuite.load(str(RunDir(run).suite_path("good")))
    assert sorted(suite.get_benchmark_names()) == sorted(BENCHES)
    for bench in suite.get_benchmarks():
        assert bench.get_nrun() == 2 and len(bench.get_values()) == 6
    # A probe that prints garbage costs the host its facts, not its figures: the figures
    # are kept, and what could not be read is named.
    probed = RunDir(run).load_suite("probe_garbage")
    assert hosts["probe_garbage"]["status"] == "complete", hosts["probe_garbage"]
    assert probed is not None
    meta = probed.get_benchmarks()[0].get_metadata()
    assert "boot_time" not in meta and "boot_time" in meta.get("facts_unparsable", ""), meta
    for name in servers:
        if name in ("good", "probe_garbage"):
            continue
        entry = hosts[name]
        assert entry["status"] == "failed", (name, entry)
        assert entry["reason"], name
        assert "\n" not in entry["reason"] and len(entry["reason"]) < 600, (name, entry["reason"])
    reasons = {n: hosts[n]["reason"] for n in servers if n not in ("good", "probe_garbage")}
    assert "16 MiB" in reasons["endless"] or "printed more" in reasons["endless"], reasons
    assert "timed out" in reasons["silent"], reasons
    assert "[/red]" in done.stdout + done.stderr  # the markup is shown as text
    print(f"{len(BAD)} hostile hosts and one good one: {took:.0f} s")
