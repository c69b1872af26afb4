"""ChangeLog on a SQLite file: the lease, claims in seq order, fences, parking, stats and
retention, as the relay uses them."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine

from acl.data import Version
from strangler_sync import CaptureError, ChangeLog, SqlAlchemyTx, install, remove
from tests.unit.strangler_sync.conftest import INVENTORY, add, run


def _log(engine: Engine, holder: str = "relay-1", **kwargs: float) -> ChangeLog:
    return ChangeLog(engine, aggregate="inventory", direction="forward", holder=holder, **kwargs)


def _pending(engine: Engine) -> list[tuple[object, ...]]:
    return run(
        engine,
        "SELECT seq, aggregateid FROM strangler_outbox"
        " WHERE applied_at IS NULL AND parked_at IS NULL ORDER BY seq",
    )


def test_a_claim_takes_pending_entries_in_seq_order_and_done_marks_them(captured: Engine) -> None:
    add(captured, "A", "B", "C")
    run(captured, "UPDATE catalog_product SET stock = 5 WHERE sku = 'A'")
    log = _log(captured)
    with log.claim(3) as claim:
        assert [(e.seq, e.key, e.type) for e in claim.entries] == [
            (1, "A", "upsert"),
            (2, "B", "upsert"),
            (3, "C", "upsert"),
        ]
        assert claim.standby_for is None
        assert abs(claim.entries[0].captured_at - time.time()) < 60
        claim.done([1, 2, 3], [])
    with log.claim(10) as claim:
        assert [e.seq for e in claim.entries] == [4]
        claim.done([], [])
    assert _pending(captured) == [(4, "A")]


def test_entries_left_pending_are_claimed_again(captured: Engine) -> None:
    add(captured, "A", "B", "C")
    log = _log(captured)
    with log.claim(10) as claim:
        claim.done([1, 3], [])  # B's fence moved: it stays pending
    with log.claim(10) as claim:
        assert [e.key for e in claim.entries] == ["B"]
    with log.claim(10) as claim:  # a claim closed without done leaves them pending too
        assert [e.key for e in claim.entries] == ["B"]
        claim.done([2], [])
    with log.claim(10) as claim:
        assert claim.entries == ()


def test_a_second_relay_waits_as_a_standby_until_the_lease_runs_out(captured: Engine) -> None:
    add(captured, "A")
    with _log(captured, "relay-1").claim(10) as first:
        assert len(first.entries) == 1
    with _log(captured, "relay-2").claim(10) as second:
        assert (second.entries, second.standby_for) == ((), "relay-1")
        with pytest.raises(RuntimeError):
            second.done([1], [])
    # relay-1 claims with a lease already run out: relay-2 takes over at its next claim
    with _log(captured, "relay-1", lease_seconds=-1).claim(10):
        pass
    with _log(captured, "relay-2").claim(10) as taken:
        assert [e.key for e in taken.entries] == ["A"]
        assert taken.standby_for is None


def test_the_fence_is_the_newest_seq_of_each_key(captured: Engine) -> None:
    add(captured, "A", "B")
    run(captured, "UPDATE catalog_product SET stock = 9 WHERE sku = 'A'")
    log = _log(captured)
    epoch = log.epoch()
    assert log.fence(["A", "B", "Z"]) == {
        "A": Version(epoch, 3),
        "B": Version(epoch, 2),
        "Z": None,
    }


def test_parked_entries_are_listed_then_unparked_and_counted_again(captured: Engine) -> None:
    add(captured, "A", "B", "C")
    log = _log(captured)
    with log.claim(10) as claim:
        claim.done([1, 3], [(2, "translate", "currency", "XYZ is no currency")])
    assert log.parked() == [(2, "B", "translate", "currency", "XYZ is no currency", 1)]
    assert log.stats().parked == 1
    assert log.stats().pending == 0
    assert log.unpark(["B"]) == 1
    assert log.parked() == []
    with log.claim(10) as claim:  # behind the cursor, yet claimed again
        assert [e.seq for e in claim.entries] == [2]
        claim.done([], [(2, "target", "(row)", "refused")])
    assert log.parked() == [(2, "B", "target", "(row)", "refused", 2)]
    assert log.unpark() == 1


def test_an_unparked_entry_once_applied_leaves_no_parked_row(captured: Engine) -> None:
    add(captured, "A", "B")
    log = _log(captured)
    with log.claim(10) as claim:
        claim.done([1], [(2, "target", "(row)", "refused")])
    log.unpark(["B"])
    with log.claim(10) as claim:
        claim.done([2], [])

    assert run(captured, "SELECT count(*) FROM strangler_parked") == [(0,)]


def test_a_later_applied_change_resolves_the_parked_ones_of_its_key(captured: Engine) -> None:
    add(captured, "A")
    log = _log(captured)
    with log.claim(10) as claim:
        claim.done([], [(1, "source", "(row)", "unreadable")])
    run(captured, "UPDATE catalog_product SET stock = 4 WHERE sku = 'A'")
    with log.claim(10) as claim:
        assert [e.seq for e in claim.entries] == [2]
        claim.done([2], [])
    assert log.parked() == []
    assert run(captured, "SELECT count(*) FROM strangler_parked") == [(0,)]
    assert _pending(captured) == []


def test_stats_give_pending_parked_oldest_and_newest(captured: Engine) -> None:
    log = _log(captured)
    assert log.stats().pending == 0
    assert log.stats().oldest_pending_at is None
    before = time.time()
    add(captured, "A", "B")
    stats = log.stats()
    assert (stats.pending, stats.parked, stats.newest_seq) == (2, 0, 2)
    assert stats.oldest_pending_at is not None
    assert before - 1 <= stats.oldest_pending_at <= time.time() + 1


def test_prune_deletes_old_applied_entries_but_never_the_newest_row(captured: Engine) -> None:
    add(captured, "A", "B", "C", "D")
    log = _log(captured)
    with log.claim(10) as claim:
        claim.done([1, 2, 4], [(3, "translate", "f", "r")])
    future = datetime.now(UTC) + timedelta(hours=1)
    assert log.prune(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert log.prune(future, chunk=1) == 2  # 1 and 2: 3 is parked, 4 is the max seq
    assert [s for (s,) in run(captured, "SELECT seq FROM strangler_outbox ORDER BY seq")] == [3, 4]
    add(captured, "E")  # without AUTOINCREMENT a deleted max rowid would come back
    assert run(captured, "SELECT max(seq) FROM strangler_outbox") == [(5,)]


def test_a_database_without_capture_says_what_to_run(tmp_path: object) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/empty.sqlite3")
    log = _log(engine)
    with pytest.raises(CaptureError, match="strangler data capture inventory"):
        log.epoch()
    with pytest.raises(CaptureError, match="strangler data capture inventory"), log.claim(10):
        pass
    assert log.stats().pending == 0
    engine.dispose()


def test_reads_do_not_queue_behind_a_writer_holding_the_lock(captured: Engine) -> None:
    add(captured, "A")
    log = _log(captured)
    writer = sqlite3.connect(str(captured.url.database), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the monolith in the middle of a write
    try:
        started = time.monotonic()
        assert log.fence(["A"])["A"] is not None
        assert log.stats().pending == 1
        assert log.epoch()
        assert log.parked() == []
        assert log.ledger_versions(["A"], capability="inventory", direction="back") == {}
        assert time.monotonic() - started < 10  # a queued read would wait the 30 s timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def _applied_through(engine: Engine, *skus: str) -> None:
    add(engine, *skus)
    log = _log(engine)
    with log.claim(100) as claim:
        claim.done([e.seq for e in claim.entries], [])


def test_a_capture_re_created_after_drop_outbox_is_claimed_from_its_first_row(
    captured: Engine,
) -> None:
    _applied_through(captured, "A", "B", "C")
    with captured.begin() as conn:
        remove(SqlAlchemyTx(conn), INVENTORY, drop_outbox=True)
        install(SqlAlchemyTx(conn), INVENTORY)
    add(captured, "D")  # SQLite hands out rowid 1 again

    log = _log(captured)
    assert log.stats().pending == 1
    with log.claim(10) as claim:
        assert [e.key for e in claim.entries] == ["D"]


def test_a_cursor_of_another_epoch_is_reset_after_a_manual_delete(captured: Engine) -> None:
    _applied_through(captured, "A", "B", "C")
    run(captured, "DELETE FROM strangler_outbox")
    run(captured, "DELETE FROM strangler_capture")  # the relay row stays
    with captured.begin() as conn:
        install(SqlAlchemyTx(conn), INVENTORY)  # a new epoch
    add(captured, "D")

    log = _log(captured)
    assert log.stats().pending == 1
    with log.claim(10) as claim:
        assert [e.key for e in claim.entries] == ["D"]
        claim.done([e.seq for e in claim.entries], [])
    assert log.stats().pending == 0
