"""Requests per monolith endpoint, kept in the result store: the migration map's traffic.

The facade counts each request it forwards under the monolith endpoint it resolves to (the
inventory of ``legacy.endpoints``), the capability that matched it (or none) and who served it
(``legacy`` or the service). It adds its counts here per minute (``endpoint_tallies``, Alembic
revision ``0006``); rows are only ever inserted, and reads sum them, so restarts and several
replicas on one store merge by addition. ``strangler map``, ``retire``, ``plan`` and ``status``
read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, insert, select

from parallel_run.store import ResultStore, endpoint_tallies, minute_of

LEGACY = "legacy"  # served_by of a request the monolith answered


@dataclass(frozen=True, slots=True)
class EndpointTally:
    """Requests in one minute for one (endpoint, method, capability, served_by)."""

    minute: datetime  # aware UTC, the start of the minute
    endpoint: str  # ``Endpoint.key``, or ``facade.config.endpoints.UNKNOWN_ENDPOINT``
    method: str
    capability: str  # "" when no capability matched
    served_by: str  # LEGACY or the service's name
    count: int


@dataclass(frozen=True, slots=True)
class EndpointTotal:
    """A window's sum for one (endpoint, method, capability, served_by)."""

    endpoint: str
    method: str
    capability: str
    served_by: str
    count: int
    first_seen: datetime
    last_seen: datetime  # the start of the last minute with a request


@dataclass(frozen=True, slots=True)
class MinuteServed:
    """One minute's requests, all endpoints and replicas: by the monolith, by services."""

    minute: datetime
    legacy: int
    services: int


def add_endpoint_tallies(store: ResultStore, tallies: Iterable[EndpointTally]) -> int:
    """Insert tallies in one transaction; returns the requests they count."""
    rows: list[dict[str, object]] = [
        {
            "minute": minute_of(t.minute),
            "endpoint": t.endpoint,
            "method": t.method,
            "capability": t.capability,
            "served_by": t.served_by,
            "count": t.count,
        }
        for t in tallies
        if t.count > 0
    ]
    if not rows:
        return 0
    with store.engine.begin() as connection:
        connection.execute(insert(endpoint_tallies), rows)
    return sum(int(str(row["count"])) for row in rows)


def endpoint_totals(
    store: ResultStore, *, since: datetime | None = None, until: datetime | None = None
) -> list[EndpointTotal]:
    """The window's requests per (endpoint, method, capability, served_by), all replicas."""
    t = endpoint_tallies.c
    query = select(
        t.endpoint,
        t.method,
        t.capability,
        t.served_by,
        func.sum(t.count),
        func.min(t.minute),
        func.max(t.minute),
    ).group_by(t.endpoint, t.method, t.capability, t.served_by)
    query = query.where(*_window(since, until))
    with store.engine.connect() as connection:
        return [
            EndpointTotal(endpoint, method, capability, served_by, int(n), first, last)
            for endpoint, method, capability, served_by, n, first, last in connection.execute(query)
        ]


def retired_reached_monolith(
    store: ResultStore,
    *,
    retired: Iterable[str],
    claims: Mapping[tuple[str, str], str],
    since: datetime,
) -> dict[str, int]:
    """Requests since ``since`` the monolith answered for each retired capability: those the
    capability matched, and those of an endpoint and method its claim names (``claims``:
    (endpoint, method) -> capability, ``facade.config.endpoints.retired_claims``). Only the
    capabilities with such requests are in the answer (``strangler status``'s alarm)."""
    gone = set(retired)
    if not gone:
        return {}
    t = endpoint_tallies.c
    query = (
        select(t.endpoint, t.method, t.capability, func.sum(t.count))
        .where(t.served_by == LEGACY, t.minute >= minute_of(since))
        .group_by(t.endpoint, t.method, t.capability)
    )
    hits: dict[str, int] = {}
    with store.engine.connect() as connection:
        for endpoint, method, capability, n in connection.execute(query):
            owner = capability if capability in gone else claims.get((endpoint, method))
            if owner is not None:
                hits[owner] = hits.get(owner, 0) + int(n)
    return hits


def first_tally(store: ResultStore) -> datetime | None:
    """The minute of the oldest tally in the store, any window: since when the facade has
    counted (None: never). A window starting before it has no evidence for its start."""
    with store.engine.connect() as connection:
        first: datetime | None = connection.execute(
            select(func.min(endpoint_tallies.c.minute))
        ).scalar()
    return first


def served_by_minute(
    store: ResultStore, *, since: datetime | None = None, until: datetime | None = None
) -> list[MinuteServed]:
    """Per minute with traffic, oldest first: the requests the monolith and the services
    served, summed across replicas (the map's picture of the monolith shrinking)."""
    t = endpoint_tallies.c
    legacy = func.sum(case((t.served_by == LEGACY, t.count), else_=0))
    query = select(t.minute, legacy, func.sum(t.count)).group_by(t.minute).order_by(t.minute)
    query = query.where(*_window(since, until))
    with store.engine.connect() as connection:
        return [
            MinuteServed(minute, int(by_legacy), int(n) - int(by_legacy))
            for minute, by_legacy, n in connection.execute(query)
        ]


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """The conditions for the tallies of the minutes from ``since``'s to ``until`` (excluded)."""
    t = endpoint_tallies.c
    found = []
    if since is not None:
        found.append(t.minute >= minute_of(since))
    if until is not None:
        found.append(t.minute < until)
    return found
