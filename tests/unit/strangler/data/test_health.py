"""The relay's health in the result store: a heartbeat with the buffered conflicts and
windows, and a store that fails costs one log line per interval and loses no buffered row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from parallel_run.sync_evidence import (
    ConflictRecord,
    SyncHealth,
    SyncWindow,
    conflicts,
    health_of,
)
from strangler.data import health as health_module
from strangler.data.health import StoreHealth

AT = datetime(2026, 5, 2, 10, 11, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(f"sqlite:///{tmp_path}/store.db", redactor=Redactor())
    yield opened
    opened.close()


def heartbeat(applied: int) -> SyncHealth:
    return SyncHealth(
        capability="inventory",
        direction="back",
        relay="host:1",
        at=AT,
        lag_seconds=0.5,
        pending=3,
        parked=0,
        applied_total=applied,
        conflicts_total=1,
        capture_state="installed",
    )


CONFLICT = ConflictRecord("inventory", "SKU-1", AT, "legacy", "service", 12, 40)


def test_a_beat_writes_the_heartbeat_and_the_buffered_conflicts(store: ResultStore) -> None:
    lines: list[str] = []
    health = StoreHealth(store, log=lines.append)
    health.conflicts([CONFLICT])
    health.windows([SyncWindow("inventory", "SKU-1", AT, AT)])

    health.beat(heartbeat(7))

    [written] = health_of(store, "inventory")
    assert (written.direction, written.applied_total, written.pending) == ("back", 7, 3)
    assert [(c.key, c.winner, c.target_seq) for c in conflicts(store, "inventory")] == [
        ("SKU-1", "legacy", 40)
    ]
    assert lines == []


def test_a_store_that_fails_is_logged_once_per_interval_and_keeps_the_buffer(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    now = [0.0]
    health = StoreHealth(store, log=lines.append, clock=lambda: now[0])
    health.conflicts([CONFLICT])

    def down(store: ResultStore, h: SyncHealth) -> None:
        raise OSError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(health_module, "write_health", down)
        health.beat(heartbeat(1))
        now[0] = 10.0
        health.beat(heartbeat(2))

    assert len(lines) == 1
    assert (
        "cannot write sync health to the result store (1 tries): OSError: disk I/O error"
        in (lines[0])
    )
    health.beat(heartbeat(3))
    assert [c.key for c in conflicts(store, "inventory")] == ["SKU-1"]
    assert health_of(store, "inventory")[0].applied_total == 3
