"""The migration map: the monolith's endpoints, who owns each, their traffic, what is left.

Pure: from the routes.yaml model, the monolith's endpoint inventory and the stored traffic
totals (``parallel_run.endpoint_traffic``) it computes, with no I/O, what ``strangler map``
prints, what ``--decommission`` checks and what ``strangler plan`` compares before and after a
change (build the map twice, once per ``Config``, from the same totals).

Ownership is static (``facade.config.endpoints.ownership``: which capability routes.yaml gives
each method and path of an endpoint, today); traffic says how much each endpoint matters and
who actually served it. A request is *served by a service* when its tally's ``served_by`` is a
service (canary, extracted), by the monolith when it is ``legacy`` (legacy and shadow modes, a
fallback). Shares are of every request in the window, the ones that matched no endpoint of the
inventory (``(unknown)``) included: they reached the monolith's URL space all the same.

A request *holds the monolith up* when the monolith answered it (its tally's ``served_by`` is
``legacy``, whatever capability matched it: a retired capability's request that reached the
monolith holds it up all the same), or when the capability that matched it (the tally's
``capability``, not today's static ownership, which a catch-all such as ``{rest:path}`` gets
wrong) is not retired. ``decommission`` lists what does. The monolith can be switched off only
when nothing holds it up *and* the facade counted over the whole window
(``MigrationMap.coverage_gap``): no tallies is no evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from facade.config import Config
from facade.config.endpoints import UNKNOWN_ENDPOINT, Claim, Inventory, ownership
from parallel_run.endpoint_traffic import LEGACY, EndpointTotal, MinuteServed
from strangler.text import when

Step = Literal["hour", "day"]
# a window longer than this is drawn a point a day, a shorter one a point an hour
DAILY_FROM = timedelta(days=2)
# the tallies cover a window when the oldest is at most this after its start (to the minute)
COVERAGE_SLACK = timedelta(minutes=1)


def share(part: int, whole: int) -> float:
    """``part / whole``, 0.0 for an empty whole (no traffic: nothing is served by anyone)."""
    return part / whole if whole else 0.0


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """One endpoint of the inventory (or, with ``listed`` false, traffic it cannot place)."""

    key: str  # ``Endpoint.key``, or ``(unknown)``, or a tallied key the inventory lost
    methods: tuple[str, ...] | None  # None: any method
    view: str = ""
    # every capability that claims some method or path of it, sorted
    capabilities: tuple[str, ...] = ()
    owner: str | None = None  # the one capability that takes all of it
    partial: bool = False  # claimed in part (by one capability, or by several)
    modes: Mapping[str, str] = field(default_factory=dict)  # each claiming capability's mode
    moved: bool = False  # every method and path served by an extracted capability
    deletable: bool = False  # every method and path belongs to a retired capability
    # false: a pattern no template expresses (its traffic is (unknown)), or a shadowed one
    # (the earlier pattern's key counts its requests)
    counted: bool = True
    shadowed_by: str | None = None  # an earlier pattern serves all its requests
    # an earlier pattern of its shape takes some of its paths: its requests are counted there
    overlaps: str | None = None
    listed: bool = True  # in the inventory
    requests: int = 0
    served_by_services: int = 0
    holding: int = 0  # requests the monolith answered, or no retired capability matched
    # the capabilities that matched the holding requests (from the tallies), sorted
    holding_capabilities: tuple[str, ...] = ()
    last_seen: datetime | None = None

    @property
    def mode(self) -> str | None:
        """The owner's mode; None when no single capability owns it."""
        return self.modes.get(self.owner) if self.owner is not None else None

    @property
    def service_share(self) -> float:
        """The share of its own requests that a service served."""
        return share(self.served_by_services, self.requests)

    @property
    def unused(self) -> bool:
        """No request in the window, where requests are counted at all: delete it, do not
        migrate it (a retired capability's endpoint is deletable anyway)."""
        placed = self.counted or self.shadowed_by is not None
        return (
            self.listed
            and placed
            and self.overlaps is None
            and self.requests == 0
            and not self.deletable
        )

    @property
    def status(self) -> str:
        """One word for what to do with it, as the table shows it."""
        if not self.listed:
            return "unknown" if self.key == UNKNOWN_ENDPOINT else "not in the inventory"
        if self.shadowed_by is not None and not self.deletable:
            return "shadowed: delete"
        if not self.counted:
            return "not counted"
        if self.deletable:
            return "deletable"
        if self.overlaps is not None:
            return f"counted with {self.overlaps}"
        if self.requests == 0:
            return "unused: delete"
        if self.moved:
            return "moved"
        if self.partial:
            return "partial"
        if self.owner is not None:
            return "migrating"
        return "candidate"

    def to_dict(self, total: int) -> dict[str, Any]:
        return {
            "endpoint": self.key,
            "status": self.status,
            "methods": list(self.methods) if self.methods is not None else None,
            "view": self.view,
            "owner": self.owner,
            "capabilities": list(self.capabilities),
            "partial": self.partial,
            "mode": self.mode,
            "modes": dict(self.modes),
            "moved": self.moved,
            "deletable": self.deletable,
            "counted": self.counted,
            "shadowed_by": self.shadowed_by,
            "overlaps": self.overlaps,
            "listed": self.listed,
            "unused": self.unused,
            "requests": self.requests,
            "share": share(self.requests, total),
            "served_by_services": self.served_by_services,
            "service_share": self.service_share,
            "holding": self.holding,
            "last_seen": _iso(self.last_seen),
        }


@dataclass(frozen=True, slots=True)
class Point:
    """One hour or day of the window: requests and the share a service served."""

    start: datetime
    requests: int
    served_by_services: int

    @property
    def service_share(self) -> float | None:
        """None for a bucket with no traffic (a gap in the picture, not a zero)."""
        return self.served_by_services / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "requests": self.requests,
            "served_by_services": self.served_by_services,
            "service_share": self.service_share,
        }


@dataclass(frozen=True, slots=True)
class Hold:
    """Something that still holds the monolith up: an endpoint (or unplaced traffic) with
    requests in the window that no retired capability takes."""

    endpoint: str
    requests: int  # the holding requests
    served_by_legacy: int  # of all its requests, those the monolith answered
    capabilities: tuple[str, ...]
    last_seen: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "requests": self.requests,
            "served_by_legacy": self.served_by_legacy,
            "capabilities": list(self.capabilities),
            "last_seen": _iso(self.last_seen),
        }


@dataclass(frozen=True, slots=True)
class MigrationMap:
    """What ``strangler map`` shows: built by ``build_map``, never by hand."""

    since: datetime
    until: datetime
    inventory: str  # the inventory file
    rows: tuple[EndpointRow, ...]  # the inventory's endpoints, in its order
    unlisted: tuple[EndpointRow, ...]  # (unknown) first, then keys the inventory no longer has
    series: tuple[Point, ...]
    step: Step
    # the oldest tally in the store (any window): when the facade began counting; None: never
    counted_since: datetime | None = None

    @property
    def coverage_gap(self) -> str | None:
        """Why the tallies are no evidence for the whole window, or None when they are: the
        facade counted from (within a minute of) the window's start."""
        since = _when(self.since)
        if self.counted_since is None:
            return f"no traffic counted since {since}: the facade has counted nothing yet"
        if self.counted_since > self.since + COVERAGE_SLACK:
            return (
                f"no traffic counted since {since}: the facade has counted only since "
                f"{_when(self.counted_since)}"
            )
        return None

    @property
    def ready(self) -> bool:
        """The monolith can be switched off: nothing holds it up over a window fully counted."""
        return self.coverage_gap is None and not decommission(self)

    @property
    def requests(self) -> int:
        """Every request in the window, placed or not."""
        return sum(r.requests for r in self.rows) + sum(r.requests for r in self.unlisted)

    @property
    def served_by_services(self) -> int:
        return sum(r.served_by_services for r in (*self.rows, *self.unlisted))

    @property
    def request_share_served(self) -> float:
        """The share of all requests a service served: how far the migration has got."""
        return share(self.served_by_services, self.requests)

    @property
    def endpoints_moved(self) -> int:
        return sum(r.moved for r in self.rows)

    @property
    def endpoint_share_moved(self) -> float:
        """The share of the inventory's endpoints served by services alone."""
        return share(self.endpoints_moved, len(self.rows))

    @property
    def endpoints_claimed(self) -> int:
        return sum(bool(r.capabilities) for r in self.rows)

    @property
    def unknown(self) -> EndpointRow:
        """The requests that matched no endpoint of the inventory."""
        for row in self.unlisted:
            if row.key == UNKNOWN_ENDPOINT:
                return row
        return EndpointRow(UNKNOWN_ENDPOINT, None, listed=False)

    def candidates(self) -> list[EndpointRow]:
        """The endpoints no capability claims that still have traffic, busiest first: what
        to extract next."""
        found = [r for r in self.rows if not r.capabilities and r.requests > 0]
        return sorted(found, key=lambda r: (-r.requests, r.key))

    def unused(self) -> list[EndpointRow]:
        """Endpoints nobody called in the window: delete them rather than migrate them."""
        return [r for r in self.rows if r.unused]

    def partial(self) -> list[EndpointRow]:
        """Endpoints claimed in part: some methods or paths by a capability, the rest by
        another one or by the monolith."""
        return [r for r in self.rows if r.partial]

    def deletable(self) -> list[EndpointRow]:
        """Endpoints wholly owned by retired capabilities: their code in the monolith can go."""
        return [r for r in self.rows if r.deletable]

    def uncounted(self) -> list[EndpointRow]:
        """Patterns no template expresses: listed, never matched (their requests are in
        ``(unknown)``)."""
        return [r for r in self.rows if not r.counted and r.shadowed_by is None]

    def to_dict(self) -> dict[str, Any]:
        total = self.requests
        unknown = self.unknown
        holds = decommission(self)
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "inventory": self.inventory,
            "totals": {
                "endpoints": len(self.rows),
                "endpoints_claimed": self.endpoints_claimed,
                "endpoints_served_by_services": self.endpoints_moved,
                "endpoint_share_served_by_services": self.endpoint_share_moved,
                "requests": total,
                "requests_served_by_services": self.served_by_services,
                "request_share_served_by_services": self.request_share_served,
                "unknown_requests": unknown.requests,
                "unknown_share": share(unknown.requests, total),
            },
            "endpoints": [r.to_dict(total) for r in self.rows],
            "candidates": [_brief(r, total) for r in self.candidates()],
            "unused": [r.key for r in self.unused()],
            "partial": [
                {"endpoint": r.key, "capabilities": list(r.capabilities), "modes": dict(r.modes)}
                for r in self.partial()
            ],
            "deletable": [r.key for r in self.deletable()],
            "uncounted": [r.key for r in self.uncounted()],
            "unknown": unknown.to_dict(total),
            "unlisted": [r.to_dict(total) for r in self.unlisted],
            "series": {"step": self.step, "points": [p.to_dict() for p in self.series]},
            "decommission": {
                "ready": not holds and self.coverage_gap is None,
                "holding": [h.to_dict() for h in holds],
                "counted_since": _iso(self.counted_since),
                "coverage_gap": self.coverage_gap,
            },
        }


def build_map(
    config: Config,
    inventory: Inventory,
    totals: Iterable[EndpointTotal],
    *,
    now: datetime,
    window: timedelta,
    minutes: Iterable[MinuteServed] = (),
    counted_since: datetime | None = None,
) -> MigrationMap:
    """The map of ``inventory`` under ``config``'s capabilities, with the window's ``totals``
    (``endpoint_totals(store, since=now - window, until=now)``) and, for the picture over
    time, ``minutes`` (``served_by_minute`` over the same window); ``counted_since`` is the
    store's oldest tally (``first_tally``), None when it has none."""
    capabilities = config.routes.capabilities
    retired = {name for name, cap in capabilities.items() if cap.retired}
    modes = {name: cap.mode for name, cap in capabilities.items()}
    claims = ownership(inventory, config.matcher)
    by_key: dict[str, list[EndpointTotal]] = {}
    for total in totals:
        by_key.setdefault(total.endpoint, []).append(total)
    rows = []
    for endpoint in inventory.endpoints:
        claim = claims[endpoint.key]
        traffic = by_key.pop(endpoint.key, [])
        rows.append(
            EndpointRow(
                key=endpoint.key,
                methods=endpoint.methods,
                view=endpoint.view,
                capabilities=claim.capabilities,
                owner=claim.owner,
                partial=claim.partial,
                modes={c: modes[c] for c in claim.capabilities if c in modes},
                moved=_all_of(claim, lambda c: modes.get(c) == "extracted"),
                deletable=_all_of(claim, retired.__contains__),
                counted=endpoint.template is not None and endpoint.shadowed_by is None,
                shadowed_by=endpoint.shadowed_by,
                overlaps=endpoint.overlaps,
                **_traffic(traffic, retired),
            )
        )
    # traffic the inventory cannot place: (unknown) first, then keys it no longer lists
    unlisted = []
    for key in sorted(by_key, key=lambda k: (k != UNKNOWN_ENDPOINT, k)):
        traffic = by_key[key]
        seen = tuple(sorted({t.capability for t in traffic if t.capability}))
        unlisted.append(
            EndpointRow(
                key=key,
                methods=tuple(sorted({t.method for t in traffic})),
                capabilities=seen,
                modes={c: modes[c] for c in seen if c in modes},
                listed=False,
                **_traffic(traffic, retired),
            )
        )
    since = now - window
    step: Step = "day" if window >= DAILY_FROM else "hour"
    return MigrationMap(
        since=since,
        until=now,
        inventory=inventory.source,
        rows=tuple(rows),
        unlisted=tuple(unlisted),
        series=tuple(series(minutes, since=since, until=now, step=step)),
        step=step,
        counted_since=counted_since,
    )


def _all_of(claim: Claim, test: Any) -> bool:
    """Every method has an owner passing ``test``, and so has every narrower claim."""
    owners = list(claim.owners.values())
    return bool(owners) and all(c is not None and test(c) for c in (*owners, *claim.narrower))


def _traffic(traffic: Sequence[EndpointTotal], retired: set[str]) -> dict[str, Any]:
    """An endpoint's counts, from what each tally recorded: a request holds the monolith up
    when the monolith answered it, or the capability that matched it is not retired."""
    holds = [t for t in traffic if t.served_by == LEGACY or t.capability not in retired]
    return {
        "requests": sum(t.count for t in traffic),
        "served_by_services": sum(t.count for t in traffic if t.served_by != LEGACY),
        "holding": sum(t.count for t in holds),
        "holding_capabilities": tuple(sorted({t.capability for t in holds if t.capability})),
        "last_seen": max((t.last_seen for t in traffic), default=None),
    }


def series(
    minutes: Iterable[MinuteServed], *, since: datetime, until: datetime, step: Step
) -> list[Point]:
    """The window cut into UTC hours or days, each with its requests and those a service
    served; every bucket from the one holding ``since`` to the one holding ``until`` is there,
    empty ones included (the picture shows their gap)."""
    size = timedelta(days=1) if step == "day" else timedelta(hours=1)

    def bucket(moment: datetime) -> datetime:
        moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0) if step == "day" else moment

    first = since.replace(second=0, microsecond=0)  # endpoint_totals' window, to the minute
    sums: dict[datetime, list[int]] = {}
    for m in minutes:
        if first <= m.minute < until:
            counts = sums.setdefault(bucket(m.minute), [0, 0])
            counts[0] += m.legacy + m.services
            counts[1] += m.services
    points = []
    at, last = bucket(since), bucket(until)
    while at <= last:
        requests, served = sums.get(at, (0, 0))
        points.append(Point(at, requests, served))
        at += size
    return points


def decommission(migration_map: MigrationMap) -> list[Hold]:
    """What still holds the monolith up, busiest first: every endpoint, and the traffic the
    inventory cannot place, with requests in the window the monolith answered or no retired
    capability matched. Empty is not enough to switch it off: see ``MigrationMap.ready``."""
    holds = [
        Hold(
            r.key,
            r.holding,
            r.requests - r.served_by_services,
            r.holding_capabilities,
            r.last_seen,
        )
        for r in (*migration_map.rows, *migration_map.unlisted)
        if r.holding > 0
    ]
    return sorted(holds, key=lambda h: (-h.requests, h.endpoint))


def _brief(row: EndpointRow, total: int) -> dict[str, Any]:
    return {
        "endpoint": row.key,
        "methods": list(row.methods) if row.methods is not None else None,
        "requests": row.requests,
        "share": share(row.requests, total),
        "last_seen": _iso(row.last_seen),
    }


def _when(moment: datetime) -> str:
    return when(moment.astimezone(UTC))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
