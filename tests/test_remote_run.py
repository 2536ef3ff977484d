"""`ringbench run` on an inventory of real sshd hosts: parallel, failing, resumable."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyperf
import pytest

from ringbench.results import RunDir
from runners.cli import main
from suites.build import BuildInfo
from tests.sshd import Sshd, inventory_lines

QUICK = ["--processes", "2", "--values", "3", "--warmups", "1", "--min-time", "0.002"]


def inventory(
    tmp_path: Path, servers: dict[str, Sshd], *, local: bool = True, extra: str = ""
) -> Path:
    lines = ["all:", "  hosts:"]
    if local:
        lines += ["    native:", "      ansible_connection: local", "      machine: box0"]
    lines += inventory_lines(servers)
    path = tmp_path / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def manifest(run_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run_dir / "manifest.json").read_text())


def the_run(results: Path) -> Path:
    runs = sorted(p for p in results.iterdir() if p.is_dir())
    assert len(runs) == 1
    return runs[0]


def test_full_run_on_three_hosts(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path
) -> None:
    servers = {"alpha": sshd_factory("alpha"), "beta": sshd_factory("beta")}
    inv = inventory(tmp_path, servers)
    results = tmp_path / "results"
    args = [
        "run",
        "--inventory",
        str(inv),
        "--bench",
        "syscall-null",
        "--bench",
        "trap-cpuid",
        *QUICK,
        "--results",
        str(results),
    ]
    assert main(args) == 0
    run_dir = the_run(results)
    m = manifest(run_dir)
    assert m["status"] == "complete"
    for host in ("native", "alpha", "beta"):
        assert m["hosts"][host]["status"] == "complete", m["hosts"][host]
        suite = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path(host)))
        assert sorted(suite.get_benchmark_names()) == ["syscall-null", "trap-cpuid"]
        meta = suite.get_benchmark("syscall-null").get_metadata()
        assert meta["binary_sha256"] == harness.sha256 and meta["host"] == host
    assert m["hosts"]["alpha"]["deploy"]["path"].endswith(harness.sha256[:16])
    # A second run finds the binary in place and uploads nothing.
    assert main([*args[:-1], str(tmp_path / "results2")]) == 0
    again = manifest(the_run(tmp_path / "results2"))
    assert again["hosts"]["alpha"]["deploy"]["uploaded"] is False


def test_a_host_killed_mid_run_fails_alone_and_resumes(
    harness: BuildInfo,
    sshd_factory: Callable[..., Sshd],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    servers = {"steady": sshd_factory("steady"), "doomed": sshd_factory("doomed")}
    inv = inventory(tmp_path, servers, local=False)
    results = tmp_path / "results"

    def kill_when_doomed_has_a_result() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [RunDir(p) for p in results.iterdir()] if results.exists() else []
            if any(r.suite_path("doomed").exists() for r in runs):
                servers["doomed"].kill()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_when_doomed_has_a_result, daemon=True)
    killer.start()
    code = main(
        ["run", "--inventory", str(inv), "--family", "syscall", *QUICK, "--results", str(results)]
    )
    killer.join(timeout=60)
    assert code == 1
    run_dir = the_run(results)
    m = manifest(run_dir)
    assert m["status"] == "failed"
    assert m["hosts"]["steady"]["status"] == "complete"
    assert m["hosts"]["steady"]["counts"]["success"] == 6
    doomed = m["hosts"]["doomed"]
    assert doomed["status"] == "failed" and "cannot reach" in doomed["reason"], doomed["reason"]
    # The benchmarks take turns: one finished when the host went, the others had begun and
    # keep their processes, marked failed so that --resume measures them again.
    statuses = {name: b["status"] for name, b in doomed["benchmarks"].items()}
    assert "success" in statuses.values() and "failed" in statuses.values(), statuses
    lost = [b["reason"] for b in doomed["benchmarks"].values() if b["status"] == "failed"]
    # (the process in flight when sshd died fails on its own cut output)
    assert sum(r.startswith("host lost after") for r in lost) >= len(lost) - 1, lost
    partial = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path("doomed")))
    assert 1 <= len(partial.get_benchmark_names()) <= 6
    assert "doomed" in capfd.readouterr().out

    servers["doomed"].start()  # the host is back: measure only what it lacks
    assert (
        main(["run", "--resume", str(run_dir), "--inventory", str(inv), "--results", str(results)])
        == 0
    )
    m = manifest(run_dir)
    assert m["status"] == "complete"
    assert m["hosts"]["doomed"]["counts"]["success"] == 6
    suite = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path("doomed")))
    assert len(suite.get_benchmark_names()) == 6
    kept = pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path("steady")))
    assert len(kept.get_benchmark_names()) == 6, "the steady host was not measured again"
    assert m["hosts"]["steady"]["status"] == "complete", "its manifest entry is kept"
    assert (
        main(["run", "--resume", run_dir.name, "--results", str(results), "--inventory", str(inv)])
        == 0
    )  # nothing left: says so


def test_changed_host_key_fails_that_host_only(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path, ssh_env: Path
) -> None:
    good, bad = sshd_factory("good"), sshd_factory("bad", trust=False)
    other = sshd_factory("other", trust=False)
    kind, key = other.known_hosts_line().split()[1:3]
    with (ssh_env / "known_hosts").open("a") as fp:
        fp.write(f"[127.0.0.1]:{bad.port} {kind} {key}\n")
    inv = inventory(tmp_path, {"good": good, "bad": bad}, local=False)
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--inventory",
                str(inv),
                "--bench",
                "syscall-null",
                *QUICK,
                "--results",
                str(results),
                "--accept-new-host-keys",
            ]
        )
        == 1
    )
    m = manifest(the_run(results))
    assert m["hosts"]["good"]["status"] == "complete"
    assert m["hosts"]["bad"]["status"] == "failed"
    assert "CHANGED" in m["hosts"]["bad"]["reason"]


def test_proxy_jump_from_the_inventory_and_a_disputed_class(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd], tmp_path: Path
) -> None:
    """An Ansible-style ProxyJump is followed; a declaration the probe disputes is flagged."""
    jump, inner = sshd_factory("jump", log_level="DEBUG1"), sshd_factory("inner")
    extra = (
        f"      ansible_ssh_common_args: '-o ProxyJump={jump.user}@127.0.0.1:{jump.port}'\n"
        "      virt_class: paravirtualized\n"
    )
    inv = inventory(tmp_path, {"inner": inner}, local=False, extra="")
    inv.write_text(inv.read_text() + extra)
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--inventory",
                str(inv),
                "--bench",
                "syscall-null",
                *QUICK,
                "--results",
                str(results),
            ]
        )
        == 0
    )
    assert f"target 127.0.0.1 port {inner.port}" in jump.log.read_text()
    run_dir = the_run(results)
    meta = (
        pyperf.BenchmarkSuite.load(str(RunDir(run_dir).suite_path("inner")))
        .get_benchmark("syscall-null")
        .get_metadata()
    )
    assert meta["virt_class"] == "paravirtualized", "the declaration is kept"
    assert meta["virt_class_detected"] == "hardware-assisted"
    assert "paravirtualized" in meta["virt_class_warning"]
    assert manifest(run_dir)["hosts"]["inner"]["warnings"]
    probe = json.loads(RunDir(run_dir).probe_path("inner").read_text())
    assert probe["layers"][0]["technology"] == "KVM"


def test_a_host_of_another_architecture_is_skipped(
    harness: BuildInfo, sshd_factory: Callable[..., Sshd]
) -> None:
    """The real host answers x86_64; a harness built for aarch64 must not be sent there."""
    from dataclasses import replace

    from runners.deploy import DeployError, deploy
    from runners.ssh import SSHConnection, resolve_target

    server = sshd_factory()
    target = resolve_target(
        "arm-bound",
        "127.0.0.1",
        user=server.user,
        port=server.port,
        key_file=str(server.client.private),
    )
    with SSHConnection(target) as conn, pytest.raises(DeployError, match="skipped"):
        deploy(conn, replace(harness, arch="aarch64"))
