"""Sync health in a real SQLite result store: heartbeats upserted per relay, conflicts counted
once, windows answering "was this key on its way then?", verifications, and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_run import sync_evidence as se
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
CAP = "product-catalog"


def health(**overrides: object) -> se.SyncHealth:
    fields: dict[str, object] = {
        "capability": CAP,
        "direction": "forward",
        "relay": "host-a:100",
        "at": T0,
        "lag_seconds": 0.4,
        "pending": 3,
        "parked": 0,
        "applied_total": 120,
        "conflicts_total": 0,
        "capture_state": "installed",
    }
    fields.update(overrides)
    return se.SyncHealth(**fields)  # type: ignore[arg-type]


def conflict(key: str = "SKU-1", target_seq: int = 7, **overrides: object) -> se.ConflictRecord:
    fields: dict[str, object] = {
        "capability": CAP,
        "key": key,
        "at": T0,
        "winner": "legacy",
        "loser_side": "service",
        "source_seq": 40,
        "target_seq": target_seq,
    }
    fields.update(overrides)
    return se.ConflictRecord(**fields)  # type: ignore[arg-type]


def window(key: str, start: float, end: float, capability: str = CAP) -> se.SyncWindow:
    return se.SyncWindow(
        capability, key, T0 + timedelta(seconds=start), T0 + timedelta(seconds=end)
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(
        f"sqlite:///{tmp_path}/store.db", redactor=Redactor(), retention_seconds=3600
    )
    yield opened
    opened.close()


def test_a_relays_heartbeat_replaces_its_previous_one(store: ResultStore) -> None:
    se.write_health(store, health())
    se.write_health(store, health(at=at(2), lag_seconds=1.5, last_error="service db locked"))
    assert se.health_of(store, CAP) == (
        health(at=at(2), lag_seconds=1.5, last_error="service db locked"),
    )


def test_every_relay_and_direction_is_kept_newest_first(store: ResultStore) -> None:
    se.write_health(store, health())
    se.write_health(store, health(relay="host-b:200", at=at(5)))
    se.write_health(store, health(direction="back", at=at(3)))
    se.write_health(store, health(capability="inventory", at=at(9)))
    found = se.health_of(store, CAP)
    assert [(h.direction, h.relay, h.at) for h in found] == [
        ("forward", "host-b:200", at(5)),
        ("back", "host-a:100", at(3)),
        ("forward", "host-a:100", T0),
    ]
    assert se.health_of(store, "nothing") == ()


def test_a_lost_change_seen_by_two_relays_counts_once(store: ResultStore) -> None:
    assert se.record_conflicts(store, [conflict(), conflict("SKU-2")]) == 2
    assert se.record_conflicts(store, [conflict(at=at(1)), conflict("SKU-3", at=at(4))]) == 1
    assert se.record_conflicts(store, []) == 0
    listed = se.conflicts(store, CAP)
    assert [c.key for c in listed] == ["SKU-3", "SKU-2", "SKU-1"]  # newest first
    assert listed[0] == conflict("SKU-3", at=at(4))
    assert len(se.conflicts(store, CAP, limit=1)) == 1
    assert se.conflicts(store, "inventory") == []


def test_the_same_key_losing_another_change_is_a_new_conflict(store: ResultStore) -> None:
    assert se.record_conflicts(store, [conflict(target_seq=7), conflict(target_seq=8)]) == 2


def test_a_key_is_unapplied_from_its_capture_until_its_apply(store: ResultStore) -> None:
    se.record_windows(store, [window("SKU-1", 0, 2), window("SKU-2", 1, 1.5)])
    se.record_windows(store, [window("SKU-1", 10, 11), window("SKU-9", 0, 5, "inventory")])
    keys = ["SKU-1", "SKU-2", "SKU-9"]
    assert se.unapplied_at(store, CAP, keys, at(-1)) == set()
    assert se.unapplied_at(store, CAP, keys, at(0)) == {"SKU-1"}
    assert se.unapplied_at(store, CAP, keys, at(1.2)) == {"SKU-1", "SKU-2"}
    assert se.unapplied_at(store, CAP, keys, at(2)) == set()  # applied at 2: fresh again
    assert se.unapplied_at(store, CAP, keys, at(10.5)) == {"SKU-1"}
    assert se.unapplied_at(store, CAP, ["SKU-2"], at(0.5)) == set()
    assert se.unapplied_at(store, CAP, [], at(1)) == set()


def test_many_keys_are_asked_in_chunks(store: ResultStore) -> None:
    keys = [f"SKU-{n:05d}" for n in range(se.KEY_CHUNK * 2 + 7)]
    se.record_windows(store, [window(keys[0], 0, 1), window(keys[-1], 0, 1)])
    assert se.unapplied_at(store, CAP, keys, at(0.5)) == {keys[0], keys[-1]}


def test_the_lag_at_a_moment_is_the_age_of_the_oldest_change_on_its_way(
    store: ResultStore,
) -> None:
    assert se.lag_at(store, CAP, at(1)) is None  # no relay ever recorded a window
    se.record_windows(store, [window("SKU-1", 0, 4), window("SKU-2", 2, 3)])
    assert se.lag_at(store, CAP, at(2.5)) == pytest.approx(2.5)
    assert se.lag_at(store, CAP, at(3.5)) == pytest.approx(3.5)
    assert se.lag_at(store, CAP, at(9)) == 0.0


def test_the_latest_verification_is_returned(store: ResultStore) -> None:
    assert se.latest_verification(store, CAP) is None
    dirty = se.Verification(
        CAP, T0, False, {"different": 2, "missing": 1}, [{"key": "SKU-1", "field": "name"}]
    )
    clean = se.Verification(CAP, at(60), True, {"source": 10, "target": 10, "same": 10})
    se.record_verification(store, dirty)
    se.record_verification(store, clean)
    se.record_verification(store, se.Verification("inventory", at(90), False, {"missing": 1}))
    assert se.latest_verification(store, CAP) == clean
    again = se.Verification(CAP, at(120), False, dirty.counts, dirty.examples)
    se.record_verification(store, again)
    latest = se.latest_verification(store, CAP)
    assert latest is not None
    assert (latest.equal, dict(latest.counts), list(latest.examples)) == (
        False,
        {"different": 2, "missing": 1},
        [{"key": "SKU-1", "field": "name"}],
    )


def test_windows_conflicts_and_old_heartbeats_go_with_the_retention(store: ResultStore) -> None:
    se.record_windows(store, [window("SKU-1", 0, 1), window("SKU-2", 0, 7200)])
    se.record_conflicts(store, [conflict("SKU-1"), conflict("SKU-2", at=at(7200))])
    se.write_health(store, health())
    se.write_health(store, health(relay="host-b:1", at=at(7200)))
    se.record_verification(store, se.Verification(CAP, T0, True, {"same": 1}))
    store.purge_expired(now=at(3601 + 1))
    assert se.unapplied_at(store, CAP, ["SKU-1", "SKU-2"], at(0.5)) == {"SKU-2"}
    assert [c.key for c in se.conflicts(store, CAP)] == ["SKU-2"]
    assert [h.relay for h in se.health_of(store, CAP)] == ["host-b:1"]
    assert se.latest_verification(store, CAP) is not None  # the gate reads the last one
