"""The test session keeps off the user's home and caches (tests/conftest.py, private_home)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.lab.paths import LabPaths, default_lab_dir
from runners.ssh import default_known_hosts
from suites.build import default_build_dir


def test_every_default_location_is_in_the_sessions_tmp(
    private_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.getbasetemp()
    for where in (
        default_known_hosts(),
        default_build_dir(),
        default_lab_dir(),
        LabPaths.default().root,
        Path(os.environ["XDG_CACHE_HOME"]),
        Path(os.environ["XDG_CONFIG_HOME"]),
    ):
        assert where.is_relative_to(base), where
    assert LabPaths.default().instance.is_default  # the user's RINGBENCH_LAB_INSTANCE unset
    assert "RINGBENCH_LAB_CACHE" not in os.environ
    assert (private_home / ".ssh" / "config").read_text() == ""


def test_a_subprocess_inherits_the_private_locations(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """What a test runs (``ringbench lab up`` in a subprocess) sees the same locations."""
    code = (
        "from runners.ssh import default_known_hosts; from runners.lab.paths import "
        "default_lab_dir; print(default_known_hosts()); print(default_lab_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    base = tmp_path_factory.getbasetemp()
    assert len(out) == 2 and all(Path(p).is_relative_to(base) for p in out), out
