"""Sync health on a real PostgreSQL result store: every SQLite case of
tests/unit/parallel_run/test_sync_evidence.py again, the migrated schema equal to the tables
the code uses, and an upgrade from 0004 that keeps the recorded evidence."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from parallel_run import sync_evidence as se
from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import VERSION_TABLE, ResultStore, metadata
from tests.support import postgres
from tests.unit.parallel_run import test_sync_evidence as cases

pytestmark = pytest.mark.integration

CASES: list[Callable[[ResultStore], None]] = [
    cases.test_a_relays_heartbeat_replaces_its_previous_one,
    cases.test_every_relay_and_direction_is_kept_newest_first,
    cases.test_a_lost_change_seen_by_two_relays_counts_once,
    cases.test_the_same_key_losing_another_change_is_a_new_conflict,
    cases.test_a_key_is_unapplied_from_its_capture_until_its_apply,
    cases.test_many_keys_are_asked_in_chunks,
    cases.test_the_lag_at_a_moment_is_the_age_of_the_oldest_change_on_its_way,
    cases.test_the_latest_verification_is_returned,
    cases.test_windows_conflicts_and_old_heartbeats_go_with_the_retention,
]


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as server:
        yield server


_databases = iter(range(1, 1000))


@pytest.fixture
def pg_url(pg: postgres.PostgresServer) -> str:
    return pg.create_database(f"sync_evidence_{next(_databases)}")


@pytest.fixture
def store(pg_url: str) -> Iterator[ResultStore]:
    opened = ResultStore.open(pg_url, redactor=Redactor(), retention_seconds=3600)
    yield opened
    opened.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("test_"))
def test_on_postgresql(case: Callable[[ResultStore], None], store: ResultStore) -> None:
    case(store)


def test_the_migrated_schema_matches_the_tables_the_code_uses(store: ResultStore) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_upgrading_from_0004_keeps_the_evidence_and_adds_the_sync_tables(pg_url: str) -> None:
    old = ResultStore.open(pg_url, redactor=Redactor(), revision="0004")
    record = ObservationRecord(experiment="catalog", route="/p/{id}", outcome="match")
    old.write([record])
    old.close()
    store = ResultStore.open(pg_url, redactor=Redactor())
    try:
        assert store.current_revision() == store.head_revision()
        assert store.observation(record.id) is not None
        se.write_health(store, cases.health())
        assert se.health_of(store, cases.CAP) == (cases.health(),)
    finally:
        store.close()
