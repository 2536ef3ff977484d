"""ringbench's sessions: `nox -l` lists them; arguments after `--` pass through."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
# What the harness build needs on a Debian host: a C compiler and the static C library.
BUILD_PACKAGES = {"gcc": "/usr/bin/gcc", "libc6-dev": "/usr/lib/x86_64-linux-gnu/libc.a"}
# The tests start real OpenSSH servers on loopback ports.
TEST_PACKAGES = {
    "openssh-server": "/usr/sbin/sshd",
    "openssh-client": "/usr/bin/ssh-keygen",
    "procps": "/usr/bin/pgrep",
    # The rendered reports are opened in a headless browser.
    "chromium": "/usr/bin/chromium",
}
# Independent tools that `perf` compares ringbench against.
PERF_PACKAGES = {"linux-perf": "/usr/bin/perf", "stress-ng": "/usr/bin/stress-ng"}


def _apt_install(session: nox.Session, packages: dict[str, str]) -> None:
    """Install the Debian packages whose marker file is missing (as root, or say how)."""
    missing = [name for name, marker in packages.items() if not Path(marker).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        session.error(f"missing {', '.join(missing)} and no apt-get: install them by hand")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.log(f"installing Debian packages: {' '.join(missing)}")
    session.run(*prefix, "apt-get", "update", "-qq", external=True, env=env)
    session.run(*prefix, "apt-get", "install", "-y", "-qq", *missing, external=True, env=env)


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest; arguments after -- go to pytest)."""
    _apt_install(session, {**BUILD_PACKAGES, **TEST_PACKAGES})
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict on the packages."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("ringbench", "notebooks")  # notebooks stored without outputs
    session.run("mypy")


@nox.session
def perf(session: nox.Session) -> None:
    """ringbench's own targets: accuracy, spread, wall time, SSH overhead and scaling, the
    gate; as root the lab's timing, and with `-- --lab` the figures on the lab."""
    _apt_install(session, {**BUILD_PACKAGES, **PERF_PACKAGES, **TEST_PACKAGES})
    _install(session)
    session.run(
        "python",
        "-m",
        "benchmarks.run_all",
        *(a for a in session.posargs if a not in ("--lab-scratch", "--lab")),
    )
    session.run("python", "-m", "benchmarks.ssh_scaling")
    session.run("python", "-m", "benchmarks.analysis_speed")
    session.run("python", "-m", "benchmarks.inventory_speed")
    session.run("python", "-m", "benchmarks.regress_gate")
    session.run("python", "-m", "benchmarks.hostile_hosts")
    if os.geteuid() == 0:  # the lab needs root; from scratch with `-- --lab-scratch`
        scratch = [] if "--lab-scratch" in session.posargs else ["--skip-scratch"]
        session.run("python", "-m", "benchmarks.lab_timing", *scratch)
    if os.geteuid() == 0 and "--lab" in session.posargs:
        # The figures on the lab (about 50 minutes): placement, the independent reference in
        # every host, and seven default runs read for calibration, ratios, the gate, wall time.
        inventory = str(ROOT / "results" / "perf-lab" / "inventory.yaml")
        session.run("ringbench", "lab", "up", "--inventory", inventory, success_codes=[0, 1])
        for module, extra in (
            ("benchmarks.lab_reference", []),
            ("benchmarks.lab_placement", []),
            ("benchmarks.lab_figures", ["--results", str(ROOT / "results" / "perf-lab" / "runs")]),
        ):
            session.run("python", "-m", module, "--inventory", inventory, *extra)


@nox.session
def lab(session: nox.Session) -> None:
    """The local lab: up (root; installs its own packages), or `-- down` / `-- status` /
    `-- inventory` (the path of the inventory it writes in its own directory)."""
    _apt_install(session, BUILD_PACKAGES)
    _install(session)
    session.run("ringbench", "lab", *(session.posargs or ["up"]))


@nox.session
def report(session: nox.Session) -> None:
    """Execute the report notebooks headless into reports/out/<run-id>/ (-- RUN ...: which runs;
    default the latest, against the one before it)."""
    _install(session, "report")
    session.run("ringbench", "report", *session.posargs)


@nox.session
def regress(session: nox.Session) -> None:
    """The CI gate (arguments after -- go to `ringbench regress`): exit 1 on a regression,
    2 when the comparison is invalid."""
    _install(session)
    session.run("ringbench", "regress", *session.posargs)


@nox.session
def dashboard(session: nox.Session) -> None:
    """The static HTML dashboard of every run's history into reports/out/dashboard/
    (-- --store DIR --out DIR)."""
    _install(session)
    session.run("ringbench", "dashboard", *session.posargs)


@nox.session
def notebook(session: nox.Session) -> None:
    """JupyterLab on reports/, the project importable."""
    _install(session, "report")
    session.install("jupyterlab")
    session.run("jupyter", "lab", f"--notebook-dir={ROOT}", str(ROOT / "reports"), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: the full suite on every host of the local lab (brought up if it is
    not), or on the inventory given after -- (`nox -s bench -- --inventory FILE`).

    Arguments after -- go to `ringbench run`. The lab's inventory lives in the lab's
    directory (`ringbench lab inventory` prints where): nothing of the checkout changes."""
    _apt_install(session, BUILD_PACKAGES)
    _install(session)
    if any(a == "--inventory" or a.startswith("--inventory=") for a in session.posargs):
        session.run("ringbench", "run", *session.posargs)
        return
    if os.geteuid() != 0:
        session.log("not root: the local lab needs root, so only inventory.yaml's hosts run")
        session.run(
            "ringbench", "run", "--inventory", str(ROOT / "inventory.yaml"), *session.posargs
        )
        return
    ringbench = str(Path(session.bin) / "ringbench")

    def lab_inventory() -> str | None:
        found = subprocess.run(
            [ringbench, "lab", "inventory"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else None

    status = subprocess.run(
        [ringbench, "lab", "status"], capture_output=True, timeout=120, check=False
    )
    inventory = lab_inventory() if status.returncode == 0 else None
    if inventory is None:
        # Down, or a host of it down: up. A host the lab cannot run here is left out
        # with its reason (exit 1): the run goes on with the others.
        session.run("ringbench", "lab", "up", success_codes=[0, 1])
        inventory = lab_inventory()
    if inventory is None:
        session.error("the lab did not come up: see `ringbench lab status`")
    session.run("ringbench", "run", "--inventory", inventory, *session.posargs)
