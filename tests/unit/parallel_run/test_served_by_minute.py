"""served_by_minute: the map's picture over time, summed across replicas and restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_run.endpoint_traffic import (
    EndpointTally,
    MinuteServed,
    add_endpoint_tallies,
    served_by_minute,
)
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(f"sqlite:///{tmp_path}/store.db", redactor=Redactor())
    yield opened
    opened.close()


def tally(minute: datetime, served_by: str, count: int, endpoint: str = "/a") -> EndpointTally:
    return EndpointTally(
        minute, endpoint, "GET", "cap" if served_by != "legacy" else "", served_by, count
    )


def test_minutes_sum_every_endpoint_and_replica_by_who_served(store: ResultStore) -> None:
    # two replicas flush the same minute; one endpoint each side
    add_endpoint_tallies(store, [tally(T0, "legacy", 3), tally(T0, "catalog", 5, "/b")])
    add_endpoint_tallies(store, [tally(T0, "legacy", 2), tally(T0, "orders", 1)])
    add_endpoint_tallies(store, [tally(T0 + timedelta(minutes=1), "legacy", 4)])
    assert served_by_minute(store) == [
        MinuteServed(T0, legacy=5, services=6),
        MinuteServed(T0 + timedelta(minutes=1), legacy=4, services=0),
    ]


def test_the_window_is_the_same_as_endpoint_totals(store: ResultStore) -> None:
    add_endpoint_tallies(store, [tally(T0 + timedelta(minutes=m), "legacy", 1) for m in range(5)])
    found = served_by_minute(
        store, since=T0 + timedelta(minutes=1, seconds=30), until=T0 + timedelta(minutes=3)
    )
    assert [m.minute for m in found] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
