"""Atomic writes and run directories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ringbench.errors import UserError
from ringbench.files import atomic_write, atomic_write_text
from ringbench.results import RUN_ID_RE, ResultStore, new_run_id


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "suite.json"
    atomic_write_text(target, "old")

    def explode(fp: object) -> None:
        fp.write("half")  # type: ignore[attr-defined]
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["suite.json"]


def test_run_ids_sort_by_time() -> None:
    early = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_run_id(datetime(2026, 11, 24, 18, 45, 0, tzinfo=UTC))
    assert early.startswith("20260102T030405Z-") and RUN_ID_RE.match(late)
    assert sorted([late, early]) == [early, late]


def test_store_resolves_latest_id_and_path(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(UserError, match="no runs"):
        store.resolve()
    a = store.create(new_run_id(datetime(2026, 1, 1, tzinfo=UTC)))
    b = store.create(new_run_id(datetime(2026, 2, 1, tzinfo=UTC)))
    assert store.resolve().path == b.path
    assert store.resolve(a.run_id).path == a.path
    assert store.resolve(str(a.path)).path == a.path
    with pytest.raises(UserError, match="no run 'nope'"):
        store.resolve("nope")
