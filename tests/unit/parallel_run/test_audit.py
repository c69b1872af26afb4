"""The audit trail on a real SQLite store: the hash chain, what verify catches, the hand-edit
check, and several writers at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parallel_run import audit
from parallel_run.audit import AuditEntry
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

ROOT = Path(__file__).resolve().parents[3]


def entry(n: int = 0, **overrides: object) -> AuditEntry:
    fields: dict[str, object] = {
        "capability": "orders",
        "from_mode": "shadow",
        "from_percent": 0.0,
        "to_mode": "canary",
        "to_percent": float(n),
        "source": "cli",
        "user": "ann",
        "host": "ops-1",
        "reason": f"step {n}",
        "evidence": {"comparisons": 600 + n, "mismatch_rate": 0.0005},
        "digest_before": f"{n:064x}",
        "digest_after": f"{n + 1:064x}",
        "at": datetime(2026, 11, 26, 6, 0, n % 60, 123456, tzinfo=UTC),
    }
    fields.update(overrides)
    return AuditEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    opened = ResultStore.open(f"sqlite:///{tmp_path}/store.db", redactor=Redactor())
    yield opened  # type: ignore[misc]
    opened.close()


def test_records_chain_each_to_the_one_before(store: ResultStore) -> None:
    stored = audit.append(store, [entry(1), entry(2)]) + audit.append(store, [entry(3)])
    assert [r.seq for r in stored] == [1, 2, 3]
    assert stored[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in stored[1:]] == [r.hash for r in stored[:-1]]
    listed = audit.records(store)
    assert [r.seq for r in listed] == [3, 2, 1]  # newest first
    assert listed[-1].entry == entry(1)  # every field survives the round trip
    result = audit.verify(store)
    assert (result.ok, result.records, result.head_hash) == (True, 3, stored[-1].hash)


def test_listing_filters_by_capability_and_limits(store: ResultStore) -> None:
    audit.append(store, [entry(1), entry(2, capability="catalog"), entry(3)])
    assert [r.seq for r in audit.records(store, capability="orders")] == [3, 1]
    assert [r.seq for r in audit.records(store, limit=1)] == [3]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
        "UPDATE audit_log SET to_mode = 'extracted' WHERE seq = 2",
        "UPDATE audit_log SET forced = 1 WHERE seq = 2",
        "UPDATE audit_log SET evidence = '{\"comparisons\": 9999}' WHERE seq = 2",
        "UPDATE audit_log SET at = '2020-01-01 00:00:00.000000' WHERE seq = 2",
    ],
)
def test_verify_names_the_first_altered_record(store: ResultStore, sql: str) -> None:
    audit.append(store, [entry(1), entry(2), entry(3)])
    with store.engine.begin() as connection:
        connection.exec_driver_sql(sql)
    result = audit.verify(store)
    assert not result.ok
    assert result.bad_seq == 2
    assert "altered" in (result.problem or "")
    assert result.records == 1


def test_an_altered_record_with_its_hash_recomputed_breaks_the_next_link(
    store: ResultStore,
) -> None:
    audit.append(store, [entry(1), entry(2), entry(3)])
    forged = audit.record_hash(2, entry(2, reason="forged"), audit.records(store)[1].prev_hash)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            f"UPDATE audit_log SET reason = 'forged', hash = '{forged}' WHERE seq = 2"
        )
    result = audit.verify(store)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "prev_hash" in (result.problem or "")


@pytest.mark.parametrize(("removed", "bad"), [(2, 3), (1, 2)])
def test_verify_notices_a_removed_record(store: ResultStore, removed: int, bad: int) -> None:
    audit.append(store, [entry(1), entry(2), entry(3)])
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_log WHERE seq = {removed}")
    result = audit.verify(store)
    assert (result.ok, result.bad_seq) == (False, bad)
    assert f"record {removed} is missing" in (result.problem or "")


def test_a_cut_off_tail_shows_against_a_head_noted_earlier(store: ResultStore) -> None:
    stored = audit.append(store, [entry(1), entry(2), entry(3)])
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM audit_log WHERE seq = 3")
    assert audit.verify(store).ok  # a chain alone cannot see its own end removed
    result = audit.verify(store, expect_head=stored[-1].hash)
    assert not result.ok
    assert "newer records were removed" in (result.problem or "")
    assert audit.verify(store, expect_head=stored[1].hash).ok


def test_a_change_the_cli_recorded_is_not_recorded_again_as_a_hand_edit(
    store: ResultStore,
) -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    audit.append(store, [entry(1, digest_before=a, digest_after=b)])
    hand = entry(2, source="hand-edit", reason=None)
    # the facade saw a -> b, which the CLI recorded before writing the file
    assert audit.append_unrecorded(store, [hand], digest_before=a, digest_after=b) == []
    # b -> c by hand: recorded once, however many workers report it
    first = audit.append_unrecorded(store, [hand, hand], digest_before=b, digest_after=c)
    assert [r.seq for r in first] == [2, 3]
    assert audit.append_unrecorded(store, [hand], digest_before=b, digest_after=c) == []
    # a worker that missed b and saw a -> c: c was reached after a, so nothing to add
    assert audit.append_unrecorded(store, [hand], digest_before=a, digest_after=c) == []
    # reverting c -> b by hand (git checkout) is a new change, even though b was seen before
    assert len(audit.append_unrecorded(store, [hand], digest_before=c, digest_after=b)) == 1
    assert audit.verify(store).ok


def test_upgrading_a_store_from_the_first_revision_keeps_its_evidence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    old = ResultStore.open(url, redactor=Redactor(), revision="0001")
    record = ObservationRecord(
        experiment="orders",
        route="/api/orders",
        method="GET",
        path="/api/orders",
        outcome="match",
        control_status=200,
        candidate_status=200,
    )
    old.write([record])
    assert "audit_log" not in old.table_names()
    old.close()
    upgraded = ResultStore.open(url, redactor=Redactor())
    try:
        assert upgraded.current_revision() == upgraded.head_revision()
        assert "audit_log" in upgraded.table_names()
        assert upgraded.observation(record.id) is not None
        audit.append(upgraded, [entry(1)])
        assert audit.verify(upgraded).ok
    finally:
        upgraded.close()


_WRITER = """
import sys
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.unit.parallel_run.test_audit import entry

store = ResultStore.open(sys.argv[1], redactor=Redactor(), busy_timeout_ms=30000)
for n in range(15):
    audit.append(store, [entry(n, host=sys.argv[2])])
store.close()
"""


def test_several_processes_appending_at_once_keep_one_unbroken_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    ResultStore.open(url, redactor=Redactor()).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, f"host-{i}"], cwd=ROOT)
        for i in range(4)
    ]
    assert [w.wait(60) for w in writers] == [0, 0, 0, 0]
    store = ResultStore.open(url, redactor=Redactor())
    try:
        result = audit.verify(store)
        assert (result.ok, result.records) == (True, 60)
    finally:
        store.close()
