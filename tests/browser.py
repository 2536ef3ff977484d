"""Headless Chromium for the tests: open a page, keep a screenshot, read its console and DOM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def chromium() -> str:
    """The browser's path; skips the test with the reason when it is missing."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium; nox -s tests does)")
    return path


def screenshot(page: Path, name: str, size: str = "1280,1600") -> Path:
    """Open ``page``, save ``tests/artifacts/<name>``; assert it loaded with no console error."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    done = subprocess.run(
        [
            chromium(),
            *FLAGS,
            "--hide-scrollbars",
            f"--window-size={size}",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line)
    ]
    assert errors == [], errors
    assert shot.stat().st_size > 10_000
    return shot


def dom(page: Path) -> str:
    """The page's DOM after its scripts ran."""
    return subprocess.run(
        [chromium(), *FLAGS, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
