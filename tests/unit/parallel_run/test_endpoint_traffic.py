"""Endpoint tallies in the store: sums across writers, the hourly roll-up and the retention
(``ResultStore.purge_expired``), and the retired alarm's query."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from parallel_run.endpoint_traffic import (
    LEGACY,
    EndpointTally,
    add_endpoint_tallies,
    endpoint_totals,
    retired_reached_monolith,
)
from parallel_run.redact import Redactor
from parallel_run.store import ENDPOINT_ROLLUP_AGE, ResultStore, endpoint_tallies

NOW = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(
        f"sqlite:///{tmp_path / 'store.db'}", redactor=Redactor(), retention_seconds=30 * 86400
    )
    yield opened
    opened.close()


def rows(store: ResultStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(endpoint_tallies)).scalar())


def totals(store: ResultStore, **window: datetime) -> dict[tuple[str, str, str, str], int]:
    return {
        (t.endpoint, t.method, t.capability, t.served_by): t.count
        for t in endpoint_totals(store, **window)
    }


def tally(
    minute: datetime, count: int, endpoint: str = "/a", served_by: str = LEGACY
) -> EndpointTally:
    return EndpointTally(minute, endpoint, "GET", "", served_by, count)


def test_rows_from_several_writers_sum(store: ResultStore) -> None:
    minute = NOW.replace(second=0, microsecond=0)
    assert add_endpoint_tallies(store, [tally(minute, 2), tally(minute, 0)]) == 2
    assert add_endpoint_tallies(store, [tally(minute, 3), tally(minute, 1, "/b")]) == 4
    assert totals(store) == {("/a", "GET", "", LEGACY): 5, ("/b", "GET", "", LEGACY): 1}


def test_purge_rolls_old_minutes_up_into_hours_and_keeps_the_sums(store: ResultStore) -> None:
    old = (NOW - ENDPOINT_ROLLUP_AGE - timedelta(hours=3)).replace(minute=0)
    recent = NOW - timedelta(minutes=5)
    # two hours, 24 rows; :30 too (on the hour in a session zone half an hour off UTC)
    minutes = [old + timedelta(minutes=m) for m in range(0, 120, 5)]
    add_endpoint_tallies(store, [tally(m, 1) for m in minutes])
    add_endpoint_tallies(store, [tally(m, 2, "/b") for m in minutes[:3]])
    add_endpoint_tallies(store, [tally(recent, 4), tally(recent, 4)])
    lone = old + timedelta(hours=2)  # an hour with one row, at :30
    add_endpoint_tallies(store, [tally(lone + timedelta(minutes=30), 1, "/c")])
    before = totals(store)
    store.purge_expired(now=NOW)
    assert totals(store) == before
    # one row per hour and key for the old ones; the recent minute untouched
    assert rows(store) == 2 + 1 + 1 + 2
    at_the_hour = totals(store, since=lone, until=lone + timedelta(minutes=1))
    assert at_the_hour == {("/c", "GET", "", LEGACY): 1}
    by_hour = totals(store, until=old + timedelta(hours=1))
    assert by_hour == {("/a", "GET", "", LEGACY): 12, ("/b", "GET", "", LEGACY): 6}
    # a second purge changes nothing; a late row for a rolled-up hour joins it
    store.purge_expired(now=NOW)
    assert rows(store) == 6
    add_endpoint_tallies(store, [tally(old + timedelta(minutes=59), 10)])
    store.purge_expired(now=NOW)
    assert rows(store) == 6
    assert totals(store, until=old + timedelta(hours=1))[("/a", "GET", "", LEGACY)] == 22


def test_purge_deletes_tallies_past_the_retention(store: ResultStore) -> None:
    add_endpoint_tallies(store, [tally(NOW - timedelta(days=31), 7), tally(NOW, 1)])
    store.purge_expired(now=NOW)
    assert totals(store) == {("/a", "GET", "", LEGACY): 1}


def test_retired_capabilities_reached_by_requests_the_monolith_answered(
    store: ResultStore,
) -> None:
    minute = NOW.replace(second=0, microsecond=0)
    add_endpoint_tallies(
        store,
        [
            EndpointTally(minute, "/p/{sku}", "GET", "featured", LEGACY, 2),  # claimed
            EndpointTally(minute, "/p/{sku}", "POST", "", LEGACY, 5),  # not for POST
            EndpointTally(minute, "/p/{sku}", "GET", "catalog", "catalog", 9),  # the service
            EndpointTally(minute, "/q", "GET", "catalog", LEGACY, 1),  # matched it
            EndpointTally(minute - timedelta(days=2), "/q", "GET", "catalog", LEGACY, 50),
        ],
    )
    claims = {("/p/{sku}", "GET"): "catalog"}
    since = NOW - timedelta(hours=24)
    found = retired_reached_monolith(store, retired=["catalog"], claims=claims, since=since)
    assert found == {"catalog": 3}
    assert retired_reached_monolith(store, retired=[], claims=claims, since=since) == {}
