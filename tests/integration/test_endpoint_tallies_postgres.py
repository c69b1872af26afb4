"""Endpoint tallies on a real PostgreSQL: the hourly roll-up (it reads the minute in UTC,
whatever the session's time zone), the retention, and the retired alarm's query, as on SQLite
(tests/unit/parallel_run/test_endpoint_traffic.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import postgres
from tests.unit.parallel_run import test_endpoint_traffic as on_sqlite

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as server:
        yield server


@pytest.fixture
def store(pg: postgres.PostgresServer, request: pytest.FixtureRequest) -> Iterator[ResultStore]:
    url = pg.create_database(f"tallies_{abs(hash(request.node.name)) % 10**8}")
    opened = ResultStore.open(url, redactor=Redactor(), retention_seconds=30 * 86400)

    @event.listens_for(opened.engine, "connect")
    def half_an_hour_off(connection: object, _record: object) -> None:
        # a session zone half an hour off UTC: a minute taken in it would be off the hour
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("SET TIME ZONE 'Asia/Kolkata'")

    opened.engine.dispose()  # the next connections are made with the listener
    yield opened
    opened.close()


def test_rows_from_several_writers_sum(store: ResultStore) -> None:
    on_sqlite.test_rows_from_several_writers_sum(store)


def test_purge_rolls_old_minutes_up_into_hours_and_keeps_the_sums(store: ResultStore) -> None:
    on_sqlite.test_purge_rolls_old_minutes_up_into_hours_and_keeps_the_sums(store)


def test_purge_deletes_tallies_past_the_retention(store: ResultStore) -> None:
    on_sqlite.test_purge_deletes_tallies_past_the_retention(store)


def test_retired_capabilities_reached_by_requests_the_monolith_answered(
    store: ResultStore,
) -> None:
    on_sqlite.test_retired_capabilities_reached_by_requests_the_monolith_answered(store)
