"""Shared fixtures: the real harness, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from suites.build import BuildInfo, build
from suites.catalog import Catalog, load_catalog

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> BuildInfo:
    """The harness built from this checkout's sources into a private build directory."""
    build_dir = tmp_path_factory.mktemp("build")
    os.environ["RINGBENCH_BUILD_DIR"] = str(build_dir)
    return build(build_dir)


@pytest.fixture(scope="session")
def catalog(harness: BuildInfo) -> Catalog:
    return load_catalog(harness.path)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d
