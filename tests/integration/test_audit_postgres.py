"""The audit trail on a real PostgreSQL shared by several processes: appends at the same
moment never fork the chain, and a hand edit several workers report is recorded once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parallel_run import audit
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import postgres

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

_APPENDER = """
import sys, time
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.unit.parallel_run.test_audit import entry

url, mode, name, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
store = ResultStore.open(url, redactor=Redactor())
time.sleep(max(0.0, start_at - time.time()))
if mode == "append":
    for n in range(25):
        audit.append(store, [entry(n, host=name)])
else:  # every worker saw the same hand edit, from digest a to digest b
    hand = entry(1, source="hand-edit", host=name)
    audit.append_unrecorded(store, [hand, hand], digest_before="a" * 64, digest_after="b" * 64)
store.close()
"""


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as server:
        yield server


_databases = iter(range(1, 1000))


@pytest.fixture
def pg_url(pg: postgres.PostgresServer) -> str:
    return pg.create_database(f"audit_{next(_databases)}")


def together(url: str, mode: str, count: int = 4) -> None:
    start_at = str(time.time() + 2.5)  # after every interpreter has imported SQLAlchemy
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, mode, f"worker-{i}", start_at],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err


def test_four_processes_appending_at_once_keep_one_unbroken_chain(pg_url: str) -> None:
    ResultStore.open(pg_url, redactor=Redactor()).close()
    together(pg_url, "append")
    store = ResultStore.open(pg_url, redactor=Redactor())
    try:
        result = audit.verify(store)
        assert (result.ok, result.records) == (True, 100)
        hosts = {r.entry.host for r in audit.records(store)}
        assert hosts == {f"worker-{i}" for i in range(4)}
    finally:
        store.close()


def test_a_hand_edit_seen_by_four_workers_is_recorded_once(pg_url: str) -> None:
    ResultStore.open(pg_url, redactor=Redactor()).close()
    together(pg_url, "hand-edit")
    store = ResultStore.open(pg_url, redactor=Redactor())
    try:
        records = audit.records(store)
        assert len(records) == 2  # one worker's two entries; the other three found them
        assert len({r.entry.host for r in records}) == 1
        assert audit.verify(store).ok
    finally:
        store.close()


def test_a_postgresql_store_from_the_first_revision_upgrades_and_keeps_evidence(
    pg_url: str,
) -> None:
    old = ResultStore.open(pg_url, redactor=Redactor(), revision="0001")
    record = ObservationRecord(experiment="orders", route="/r", outcome="match")
    old.write([record])
    old.close()
    store = ResultStore.open(pg_url, redactor=Redactor())
    try:
        assert store.current_revision() == store.head_revision()
        assert store.observation(record.id) is not None
        audit.append(
            store, [audit.AuditEntry("orders", "shadow", 0, "extracted", 100, "cli", "a", "h")]
        )
        assert audit.verify(store).ok
    finally:
        store.close()
