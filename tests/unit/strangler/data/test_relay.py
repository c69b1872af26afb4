"""The relay's batch over fake sides: exact versions between fences, keys left for the next
batch when they change while read, stale and conflicting keys, parking by stage, bisecting a
poison batch, and back-off with an injected clock and random source."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from psycopg.errors import QueryCanceled
from sqlalchemy.exc import IntegrityError, OperationalError

from acl.data import Change, Row, Version
from acl.errors import TranslationError
from parallel_run.sync_evidence import ConflictRecord, SyncHealth, SyncWindow
from strangler.data.conflicts import SeenConflicts
from strangler.data.faults import POISON_AFTER, Backoff, BatchFailed, classify
from strangler.data.metrics import SyncMetrics
from strangler.data.relay import HOT_KEY_MOVES, Relay, RelayBusy, RelaySettings
from tests.unit.strangler.data.fakes import EPOCH, FakeClaim, FakeOutbox, FakeSource, FakeTarget


def translate(row: Row) -> Row:
    if row.get("currency") == "XYZ":
        raise TranslationError(field="currency", value="XYZ", reason="unknown currency")
    return {"sku": row["sku"], "price": row["price"]}


def product(sku: str, price: int = 100, currency: str = "EUR") -> Row:
    return {"sku": sku, "price": price, "currency": currency}


class FakeHealth:
    def __init__(self) -> None:
        self.beats: list[SyncHealth] = []
        self.window_rows: list[SyncWindow] = []
        self.conflict_rows: list[ConflictRecord] = []

    def beat(self, health: SyncHealth) -> None:
        self.beats.append(health)

    def windows(self, windows: Sequence[SyncWindow]) -> None:
        self.window_rows += windows

    def conflicts(self, conflicts: Sequence[ConflictRecord]) -> None:
        self.conflict_rows += conflicts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sides:
    def __init__(
        self,
        *,
        direction: str = "forward",
        owner: str = "source",
        conflicts: bool = False,
        batch_size: int = 100,
        seen: SeenConflicts | None = None,
    ) -> None:
        self.outbox = FakeOutbox()
        self.source = FakeSource()
        self.target = FakeTarget()
        self.health = FakeHealth()
        self.metrics = SyncMetrics()
        self.lines: list[str] = []
        self.clock = Clock()
        self.settings = RelaySettings(
            batch_size=batch_size,
            owner=owner,  # type: ignore[arg-type]
            conflicts=conflicts,
            retention=3600.0,
        )
        self.relay = Relay(
            "product-catalog",
            direction,  # type: ignore[arg-type]
            outbox=self.outbox,
            source=self.source,
            translate=translate,
            target=self.target,
            settings=lambda: self.settings,
            target_aggregate="product",
            metrics=self.metrics.of("product-catalog", direction),  # type: ignore[arg-type]
            health=self.health,
            log=self.lines.append,
            clock=lambda: self.outbox.now + 0.5,
            monotonic=self.clock,
            uniform=lambda low, high: high,
            seen=seen or SeenConflicts(),  # not the process's: each test counts its own
        )

    def change(self, sku: str, row: Row | None) -> int:
        if row is None:
            self.source.rows.pop(sku, None)
            return self.outbox.write(sku, "delete")
        self.source.rows[sku] = row
        return self.outbox.write(sku)

    def sample(self, name: str, **labels: str) -> float | None:
        labels = {"capability": "product-catalog", "direction": self.relay.direction, **labels}
        return self.metrics.registry.get_sample_value(name, labels)


def test_a_batch_applies_the_current_rows_at_their_fence_versions_and_marks_them() -> None:
    s = Sides()
    s.change("A", product("A", 1))
    s.change("A", product("A", 2))  # the state transfer reads only the last one
    s.change("B", product("B"))
    s.change("C", product("C"))
    s.change("C", None)

    result = s.relay.run_once()

    assert s.target.rows == {"A": {"sku": "A", "price": 2}, "B": {"sku": "B", "price": 100}}
    # C's delete carries a version too: an older upsert arriving later is stale
    assert s.target.versions == {
        "A": Version(EPOCH, 2),
        "B": Version(EPOCH, 3),
        "C": Version(EPOCH, 5),
    }
    assert s.outbox.applied == {1, 2, 3, 4, 5}
    assert result.claimed == 5
    assert result.ops == {"upsert": 2}
    assert s.source.reads == [["A", "B", "C"]]
    assert s.sample("strangler_sync_applied_total", op="upsert") == 2
    assert [w.key for w in s.health.window_rows] == ["A", "B", "C"]


def test_a_delete_of_a_row_the_target_holds_removes_it() -> None:
    s = Sides()
    s.change("A", product("A"))
    s.relay.run_once()
    s.change("A", None)

    result = s.relay.run_once()

    assert s.target.rows == {}
    assert result.ops["delete"] == 1
    assert s.target.versions["A"] == Version(EPOCH, 2)


def test_a_key_changed_while_it_was_read_is_left_pending_and_taken_by_the_next_batch() -> None:
    s = Sides()
    s.change("A", product("A", 1))
    s.change("B", product("B", 1))

    def writer_races_the_relay() -> None:
        s.source.during_read = None
        s.change("A", product("A", 2))

    s.source.during_read = writer_races_the_relay
    first = s.relay.run_once()

    assert first.moved == 1
    assert "A" not in s.target.rows  # its state matched no exact version
    assert s.outbox.applied == {2}
    assert s.sample("strangler_sync_fence_retries_total") == 1

    s.relay.run_once()

    assert s.target.rows["A"] == {"sku": "A", "price": 2}
    assert s.target.versions["A"] == Version(EPOCH, 3)
    assert s.outbox.applied == {1, 2, 3}


def test_a_key_whose_fence_moves_five_batches_in_a_row_is_read_alone_while_held() -> None:
    s = Sides()
    s.change("A", product("A", 0))
    s.change("B", product("B"))
    price = iter(range(1, 100))

    def writer_keeps_changing_a() -> None:
        if not s.outbox.held:  # held: its commit waits until the read is done
            s.change("A", product("A", next(price)))

    s.source.during_read = writer_keeps_changing_a
    moved = [s.relay.run_once().moved for _ in range(HOT_KEY_MOVES)]
    assert moved == [1] * HOT_KEY_MOVES
    assert "A" not in s.target.rows
    assert s.outbox.holds == 0

    hot = s.relay.run_once()

    assert (hot.moved, hot.held, s.outbox.holds) == (0, 1, 1)
    assert s.source.reads[-1] == ["A"]  # alone, after the other keys' read
    assert s.target.rows["A"] == {"sku": "A", "price": HOT_KEY_MOVES}
    assert s.target.versions["A"] == s.outbox.fence(["A"])["A"]
    assert not s.outbox.pending()
    s.change("A", product("A", 50))
    calm = s.relay.run_once()  # applied, so no longer hot: read with the batch again
    assert (calm.held, s.outbox.holds) == (0, 1)


def test_the_peer_ledger_moving_while_read_leaves_the_key_pending_too() -> None:
    s = Sides(conflicts=True)
    s.change("A", product("A"))

    def the_way_back_applies_meanwhile() -> None:
        s.outbox.ledger[("back", "A")] = Version("svc", 7)

    s.source.during_read = the_way_back_applies_meanwhile

    assert s.relay.run_once().moved == 1
    assert s.outbox.applied == set()


def test_a_version_the_target_already_holds_is_stale_marked_applied_and_not_written() -> None:
    s = Sides()
    s.change("A", product("A"))
    s.target.versions["A"] = Version(EPOCH, 1)  # a relay killed after its apply, before its mark

    result = s.relay.run_once()

    assert result.ops["stale"] == 1
    assert s.target.rows == {}
    assert s.outbox.applied == {1}
    assert s.sample("strangler_sync_applied_total", op="stale") == 1


@pytest.mark.parametrize(
    ("direction", "owner", "winner", "written", "won", "lost"),
    [
        ("forward", "source", "legacy", True, 1, 41),  # shadow/canary: the monolith owns
        ("forward", "target", "service", False, 41, 1),  # extracted: the service owns
        ("back", "target", "legacy", False, 41, 1),  # canary: the way back loses
        ("back", "source", "service", True, 1, 41),  # extracted: the service's change wins
    ],
)
def test_a_key_changed_on_both_sides_is_decided_for_the_owner_and_recorded(
    direction: str, owner: str, winner: str, written: bool, won: int, lost: int
) -> None:
    """The record names the change that lost (``target_seq``) and the winner's
    (``source_seq``), whichever direction decided it."""
    s = Sides(direction=direction, owner=owner, conflicts=True)
    s.change("A", product("A", 5))
    s.target.rows["A"] = {"sku": "A", "price": 9}
    s.target.own_changes["A"] = 41  # the target's app changed A; the source state lacks it

    result = s.relay.run_once()

    assert [c.key for c in result.conflicts] == ["A"]
    assert (s.target.rows["A"]["price"] == 5) is written
    assert s.outbox.applied == {1}  # decided either way: not retried
    [record] = s.health.conflict_rows
    # one row per lost change: its seq where the store's uniqueness looks (target_seq)
    assert (record.key, record.winner, record.source_seq, record.target_seq) == (
        "A",
        winner,
        won,
        lost,
    )
    assert record.loser_side != record.winner
    # decided: the other direction, reading this ledger as its peer, does not find it again
    assert s.target.versions["A"] == Version(EPOCH, 1)
    assert s.sample("strangler_sync_conflicts_total", winner=winner) == 1
    assert s.target.ledgers[0].target_aggregate == "product"


def test_no_conflict_when_the_source_state_already_includes_the_targets_change() -> None:
    s = Sides(conflicts=True)
    s.change("A", product("A", 5))
    s.target.own_changes["A"] = 41
    s.outbox.ledger[("back", "A")] = Version("svc", 41)  # the way back brought it already

    result = s.relay.run_once()

    assert result.conflicts == []
    assert s.target.ledgers[0].peer == {"A": Version("svc", 41)}


def test_with_one_direction_the_ledger_looks_for_no_conflict() -> None:
    s = Sides(conflicts=False)
    s.change("A", product("A"))
    s.target.own_changes["A"] = 41

    assert s.relay.run_once().conflicts == []
    assert s.target.ledgers[0].target_aggregate is None
    assert s.target.ledgers[0].echo_capability == "product"


def test_rows_that_cannot_move_are_parked_by_stage_and_the_rest_flows() -> None:
    s = Sides()
    s.change("BAD-CUR", product("BAD-CUR", currency="XYZ"))
    s.change("UNREAD", product("UNREAD"))
    s.source.broken.add("UNREAD")
    s.change("REFUSED", product("REFUSED"))
    s.target.refuse["REFUSED"] = "too long"
    s.change("GOOD", product("GOOD"))

    result = s.relay.run_once()

    assert s.outbox.parked == {
        1: ("translate", "currency", "unknown currency"),
        2: ("source", "(row)", "month 13"),
        3: ("target", "name", "too long"),
    }
    assert s.outbox.applied == {4}
    assert set(s.target.rows) == {"GOOD"}
    assert result.parked == {"translate": 1, "source": 1, "target": 1}
    assert s.sample("strangler_sync_parked_total", stage="translate") == 1


def poison(key: str) -> object:
    def fail(changes: Sequence[Change]) -> Exception | None:
        if any(c.key == key for c in changes):
            return IntegrityError("INSERT ...", {}, Exception(f"CHECK constraint failed: {key}"))
        return None

    return fail


def test_a_batch_that_keeps_failing_for_itself_is_bisected_and_the_poison_key_parked() -> None:
    s = Sides()
    for n in range(8):
        s.change(f"K{n}", product(f"K{n}"))
    s.target.fail = poison("K5")  # type: ignore[assignment]

    for _ in range(POISON_AFTER):
        with pytest.raises(BatchFailed) as failed:
            s.relay.run_once()
        assert classify(failed.value) == "batch"
    assert s.outbox.applied == set()
    assert s.relay.poison.bisecting

    runs = [s.relay.run_once() for _ in range(POISON_AFTER)]

    assert set(s.target.rows) == {f"K{n}" for n in range(8)} - {"K5"}  # the rest flowed at once
    assert all(r.failure is not None for r in runs)
    assert list(s.outbox.parked) == [6]
    stage, field_, reason = s.outbox.parked[6]
    assert (stage, field_) == ("target", "(row)")
    assert "CHECK constraint failed: K5" in reason

    s.change("K9", product("K9"))
    clean = s.relay.run_once()

    assert clean.failure is None
    assert not s.relay.poison.bisecting
    assert "K9" in s.target.rows


def test_a_side_that_is_down_is_waited_for_never_bisected_into_parked_rows() -> None:
    s = Sides()
    s.change("A", product("A"))
    down = OperationalError("SELECT", {}, Exception("unable to open database file"))
    s.target.fail = lambda changes: down

    for _ in range(POISON_AFTER * 3):
        with pytest.raises(BatchFailed) as failed:
            s.relay.run_once()
        assert classify(failed.value) == "unavailable"

    assert not s.relay.poison.bisecting
    assert s.outbox.parked == {}
    s.target.fail = lambda changes: None
    s.relay.run_once()
    assert s.outbox.applied == {1}


def test_a_locked_database_is_its_own_kind() -> None:
    locked = OperationalError("UPDATE", {}, Exception("database is locked"))
    assert classify(BatchFailed("target", locked)) == "locked"
    assert classify(BatchFailed("source", ConnectionRefusedError())) == "unavailable"
    assert classify(BatchFailed("translate", KeyError("sku"))) == "batch"


def test_a_batch_hitting_statement_timeout_is_a_batch_failure_not_an_outage() -> None:
    canceled = QueryCanceled("canceling statement due to statement timeout")
    wrapped = OperationalError("SELECT", {}, canceled)
    assert classify(BatchFailed("source", wrapped)) == "batch"  # bisected, then parked
    assert classify(BatchFailed("target", canceled)) == "batch"


def test_back_off_grows_with_full_jitter_up_to_the_cap_and_logs_once_per_interval() -> None:
    clock = Clock()
    lines: list[str] = []
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    backoff = Backoff(
        log=lines.append, base=0.2, cap=3.0, log_interval=30, clock=clock, uniform=uniform
    )
    error = OperationalError("SELECT", {}, Exception("database is locked"))

    delays = []
    for _ in range(6):
        delays.append(backoff.failed("sync", error))
        clock.now += 5

    assert draws == [(0.0, 0.2), (0.0, 0.4), (0.0, 0.8), (0.0, 1.6), (0.0, 3.0), (0.0, 3.0)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.5, 1.5]
    assert len(lines) == 1
    assert "locked" in lines[0]
    clock.now = 31
    backoff.failed("sync", error)
    assert len(lines) == 2
    assert "(6 failures since the last line)" in lines[1]
    backoff.succeeded("sync")
    assert backoff.failures == 0
    assert backoff.last_error is None
    assert "working again after 7 failed tries" in lines[-1]


def test_follow_backs_off_on_an_unreachable_outbox_then_drains_until_idle() -> None:
    s = Sides()
    s.change("A", product("A"))
    down = OperationalError("SELECT", {}, Exception("unable to open database file"))
    s.outbox.fail_claims = [down, down]
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    s.relay.follow(Stop(), until_idle=True)

    assert waits == [0.2, 0.4]  # uniform returns the ceiling: base x 2^n
    assert s.outbox.applied == {1}
    assert s.sample("strangler_sync_errors_total", kind="unavailable") == 2
    assert len(s.lines) == 2  # one line for the failure (throttled), one for the recovery


def test_follow_gives_up_after_so_many_failures_without_progress() -> None:
    s = Sides()
    s.change("A", product("A"))
    down = OperationalError("SELECT", {}, Exception("unable to open database file"))
    s.target.fail = lambda changes: down

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            return False

    with pytest.raises(BatchFailed):
        s.relay.follow(Stop(), until_idle=True, give_up=4)


def test_the_heartbeat_reports_lag_pending_and_totals_every_two_seconds() -> None:
    s = Sides()
    s.change("A", product("A"))
    s.outbox.now = 1010.0
    s.change("B", product("B"))
    s.source.rows["B"] = product("B", currency="XYZ")  # parked

    s.relay.tick()
    s.relay.run_once()
    s.clock.now = 1.0
    s.relay.tick()  # not due yet
    s.clock.now = 2.5
    s.relay.tick()

    first, second = s.health.beats
    assert first.pending == 2
    assert first.lag_seconds == pytest.approx(10.5)
    assert (second.pending, second.parked, second.applied_total) == (0, 1, 1)
    assert second.lag_seconds == 0.0
    assert second.capture_state == "installed"
    assert s.sample("strangler_sync_parked") == 1
    assert s.outbox.prunes == [datetime.fromtimestamp(1010.5 - 3600, UTC)]


def test_the_metrics_endpoint_exports_the_sync_series() -> None:
    s = Sides()
    s.change("A", product("A"))
    s.relay.run_once()
    s.relay.tick()
    text = generate_latest(s.metrics.registry).decode()
    for name in (
        "strangler_sync_lag_seconds",
        "strangler_sync_pending",
        "strangler_sync_parked",
        "strangler_sync_applied_total",
        "strangler_sync_apply_delay_seconds_bucket",
        "strangler_sync_last_success_timestamp_seconds",
    ):
        assert f'\n{name}{{capability="product-catalog",direction="forward"' in text, name


def test_a_standby_relay_waits_for_the_lease_and_once_gives_up_on_a_live_holder() -> None:
    s = Sides()
    s.change("A", product("A"))
    waits: list[float] = []

    class Standby:
        entries = ()
        standby_for = "host:41"

        def done(self, applied: object, parked: object) -> None:
            pass

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    s.outbox.claim = lambda limit: nullcontext(Standby())  # type: ignore[method-assign,assignment,return-value]

    with pytest.raises(RelayBusy, match="host:41"):
        s.relay.follow(Stop(), until_idle=True)

    assert s.outbox.applied == set()
    assert len(waits) > 10
    assert sum("standby: host:41" in line for line in s.lines) == 1


def test_an_idle_relay_reads_until_a_change_is_pending_and_only_then_claims() -> None:
    s = Sides()
    looks = 0
    claimed_at: list[int] = []  # how many looks at the outbox came before each claim
    real_claim = s.outbox.claim

    def counted(limit: int) -> AbstractContextManager[FakeClaim]:
        claimed_at.append(looks)
        return real_claim(limit)

    s.outbox.claim = counted  # type: ignore[method-assign]

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            nonlocal looks
            looks += 1
            s.clock.now += timeout or 0.0
            if looks == 20:
                s.change("A", product("A"))  # a write, after a second of nothing
            if looks > 20:
                self.set()
            return self.is_set()

    s.relay.follow(Stop())

    # the first claim, empty; none while nothing is pending; then the change, then empty
    assert claimed_at == [0, 20, 20]
    assert "A" in s.target.rows


def test_an_idle_relay_still_claims_now_and_then_to_keep_its_lease() -> None:
    s = Sides()
    claims = 0
    real_claim = s.outbox.claim

    def counted(limit: int) -> AbstractContextManager[FakeClaim]:
        nonlocal claims
        claims += 1
        return real_claim(limit)

    s.outbox.claim = counted  # type: ignore[method-assign]

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            s.clock.now += timeout or 0.0
            if s.clock.now > 12.0:
                self.set()
            return self.is_set()

    s.relay.follow(Stop())

    assert claims == 3  # at 0, 5 and 10 seconds


def test_a_conflict_both_directions_decide_is_recorded_and_counted_once() -> None:
    """canary: the monolith's change of A and the service's, both pending; the forward
    relay writes the monolith's state over the service's change, the back relay skips the
    service's change. Both name the service's change as lost: one conflict, not two."""
    seen = SeenConflicts()
    forward = Sides(direction="forward", owner="source", conflicts=True, seen=seen)
    back = Sides(direction="back", owner="target", conflicts=True, seen=seen)
    forward.change("A", product("A", 5))  # the monolith's change, seq 1 there
    for _ in range(7):  # the service's outbox has other rows: its change of A is seq 8
        back.outbox.write("other")
    back.change("A", product("A", 9))
    back.target.own_changes["A"] = 1  # the monolith's change, seen from the back relay
    forward.target.own_changes["A"] = 8  # the service's, seen from the forward relay

    forward.relay.run_once()
    back.relay.run_once()

    rows = forward.health.conflict_rows + back.health.conflict_rows
    assert [(r.key, r.winner, r.loser_side, r.target_seq) for r in rows] == [
        ("A", "legacy", "service", 8)
    ]
    assert forward.relay.conflicts_total + back.relay.conflicts_total == 1
    assert forward.sample("strangler_sync_conflicts_total", winner="legacy") == 1
    assert back.sample("strangler_sync_conflicts_total", winner="legacy") is None
