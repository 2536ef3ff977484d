"""The harness build: static, reproducible, cached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ringbench.errors import UserError
from suites.build import BuildInfo, build, file_sha256


def test_binary_is_static(harness: BuildInfo) -> None:
    out = subprocess.run(
        ["file", "-b", str(harness.path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        pytest.skip("the 'file' command is not installed")
    assert "statically linked" in out.stdout or "static-pie" in out.stdout


def test_same_sources_give_same_sha256(harness: BuildInfo, tmp_path: Path) -> None:
    again = build(tmp_path / "other", force=True)
    assert again.sha256 == harness.sha256
    assert again.source_sha256 == harness.source_sha256
    assert file_sha256(again.path) == again.sha256


def test_build_is_cached(harness: BuildInfo) -> None:
    before = harness.path.stat().st_mtime_ns
    again = build(harness.path.parent)
    assert again.sha256 == harness.sha256
    assert harness.path.stat().st_mtime_ns == before


def test_build_info_records_format_and_flags(harness: BuildInfo) -> None:
    info = harness.to_json()
    assert info["format_version"] == 1
    assert "-static" in info["flags"] and "-O2" in info["flags"]


def test_missing_compiler_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no C compiler 'no-such-cc'"):
        build(tmp_path, cc="no-such-cc")
