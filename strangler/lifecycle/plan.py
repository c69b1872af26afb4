"""``strangler plan``: what a change to routes.yaml would move, before anything is written.

A proposal is routes.yaml as it would be after a lifecycle verb (``plan cutover CAP``, or any
edit verb with ``--dry-run``: the same edit ``steps``/``retire`` would write, kept in memory) or
a hand-edited second file (``plan --against NEW.yaml``). Both files are validated as the facade
would load them; a proposal that fails (a route that overlaps another, a bad value) is shown as
its ``PATH:LINE: message`` errors (``InvalidRoutes``, exit 2). The plan then says:

- per capability that changes: its mode, canary share, ``retired``, service and routes before
  and after, and what its gate would say: the evidence gate (``gate.decide``, as the verb asks
  it) for a step that grows the service's share, the retirement gate for ``retired: true``;
- per monolith endpoint whose owner or served share changes: its requests in the window
  (default 7d) and their share of all traffic, read from the migration map built twice from
  the same tallies (``strangler.map.model.build_map``, once per file), and the share of its
  requests a service would serve before and after: each tally's requests go to the capability
  the tally recorded as matching them, under that capability's mode in each file (extracted
  100%, canary P%, legacy and shadow 0%); only when a file removes that capability or changes
  its routes (or adds routes that may claim unmatched requests) is the tally placed again by
  its endpoint's sample path and method (``_served``);
- the routes of the proposal that no request can reach: a route, every sample path of which
  (``route_samples``: one-segment and several-segment ``{rest:path}``, names and plain
  values) another, more specific route takes.

It writes nothing: no file, no audit record, no store it did not find. ``exit_code``: 3 when a
gate would refuse the change (the verb itself would exit 3), else 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from facade.config import Capability, Config, Mode
from facade.config.endpoints import ANY_METHODS, Inventory, sample_path
from facade.config.matching import parse_template
from strangler.lifecycle.gate import Decision, decide, exposure, format_window
from strangler.lifecycle.retire import Retirement, judge, retired_text
from strangler.lifecycle.retirement import DEFAULT_WINDOW
from strangler.lifecycle.routes_edit import format_percent
from strangler.lifecycle.routes_file import digest
from strangler.lifecycle.steps import (
    Refused,
    capability_of,
    edited,
    evidence_for,
    has_back,
    has_sync,
    parse_routes,
    retired_refusal,
    sync_evidence_for,
    target_of,
)
from strangler.text import methods, owners

if TYPE_CHECKING:
    from parallel_run.endpoint_traffic import EndpointTotal
    from parallel_run.store import ResultStore
    from strangler.map.model import EndpointRow

DEFAULT_SINCE = 7 * 86400.0  # --since: the traffic a plan weighs
PlanVerb = Literal["shadow", "canary", "cutover", "rollback", "retire"]


@dataclass(frozen=True, slots=True)
class State:
    """One capability as a routes file has it."""

    mode: Mode
    canary: float  # canary.percent
    retired: bool
    fallback: str
    routes: tuple[str, ...]  # "GET,HEAD /api/products/{sku}", in the file's order
    service: str | None = None

    @classmethod
    def of(cls, cap: Capability) -> State:
        routes = tuple(
            f"{','.join(rule.methods) if rule.methods else '*'} {rule.path}" for rule in cap.match
        )
        return cls(cap.mode, cap.canary.percent, cap.retired, cap.fallback, routes, cap.service)

    @property
    def served(self) -> float:
        """The share of its requests the service serves, in percent."""
        return exposure(self.mode, self.canary)

    def describe(self) -> str:
        mode = f"canary {format_percent(self.canary)}%" if self.mode == "canary" else self.mode
        return f"{mode}, retired" if self.retired else mode

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "canary_percent": self.canary,
            "served_percent": self.served,
            "retired": self.retired,
            "fallback": self.fallback,
            "routes": list(self.routes),
            "service": self.service,
        }


@dataclass(frozen=True, slots=True)
class CapabilityPlan:
    """A capability the proposal changes, and what its gate would say."""

    name: str
    before: State | None  # None: added by the proposal
    after: State | None  # None: removed (its requests go to the monolith)
    decision: Decision | None = None  # the evidence gate, when the service's share moves
    retirement: Retirement | None = None  # the retirement gate, when it becomes retired

    @property
    def allowed(self) -> bool:
        if self.retirement is not None and self.retirement.unmet:
            return False
        return self.decision is None or self.decision.allowed

    def verdict(self) -> str:
        if self.retirement is not None:
            if not self.retirement.unmet:
                return "retirement gate: every condition holds"
            return "retirement gate: refused: " + "; ".join(self.retirement.unmet)
        if self.decision is None or not self.decision.gated:
            return "not gated (the service serves no more than before)"
        if self.decision.allowed:
            return "evidence gate: passes"
        return "evidence gate: refused: " + "; ".join(self.decision.shortfalls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.name,
            "before": None if self.before is None else self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
            "allowed": self.allowed,
            "gated": self.retirement is not None
            or (self.decision is not None and self.decision.gated),
            "verdict": self.verdict(),
            "shortfalls": (
                list(self.retirement.unmet)
                if self.retirement is not None
                else list(self.decision.shortfalls)
                if self.decision is not None
                else []
            ),
        }


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """A monolith endpoint whose owner, or the share of it a service serves, would change."""

    endpoint: str
    requests: int  # in the window
    share: float  # of all requests in the window
    owner_before: str  # "monolith", "catalog: product-catalog (shadow)", "partial: a, b"
    owner_after: str
    served_before: int  # of its requests, those a service would serve, by the modes
    served_after: int

    @property
    def moved(self) -> int:
        """Requests that change server: positive to services, negative back to the monolith."""
        return self.served_after - self.served_before

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "requests": self.requests,
            "share": self.share,
            "owner_before": self.owner_before,
            "owner_after": self.owner_after,
            "served_by_services_before": self.served_before,
            "served_by_services_after": self.served_after,
            "moved": self.moved,
        }


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A route of the proposal no request reaches: its sample path goes to ``taken_by``."""

    capability: str
    route: str  # "GET /api/products/{sku}"
    line: int
    taken_by: str  # "capability: METHODS /template"
    new: bool  # reachable in the current file

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.capability,
            "route": self.route,
            "line": self.line,
            "taken_by": self.taken_by,
            "new": self.new,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``strangler plan`` prints; built by ``plan_change``."""

    proposal: str  # "cutover product-catalog", "routes.yaml -> proposed.yaml"
    routes: str  # the file in force
    since: datetime
    until: datetime
    capabilities: tuple[CapabilityPlan, ...]
    traffic: Traffic | None  # None: no legacy.endpoints, no traffic per endpoint
    unreachable: tuple[Unreachable, ...]
    notes: tuple[str, ...] = ()  # what the plan could not read as given (store, inventory)
    forced: bool = False  # --force --reason: the verb overrides a refusing evidence gate

    @property
    def refused(self) -> bool:
        return any(not c.allowed for c in self.capabilities)

    @property
    def exit_code(self) -> int:
        """The verb's own exit: 3 when a gate refuses and no ``--force`` overrides it."""
        return Refused.exit_code if self.refused and not self.forced else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal,
            "routes": self.routes,
            "written": False,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window": format_window((self.until - self.since).total_seconds()),
            "capabilities": [c.to_dict() for c in self.capabilities],
            "traffic": None if self.traffic is None else self.traffic.to_dict(),
            "unreachable": [u.to_dict() for u in self.unreachable],
            "gate_passed": not self.refused,
            "forced": self.forced and self.refused,
            "notes": list(self.notes),
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True, slots=True)
class Traffic:
    """The window's traffic and the endpoints whose server changes."""

    inventory: str
    requests: int  # every request in the window
    changes: tuple[OwnerChange, ...]

    @property
    def to_services(self) -> int:
        return sum(c.moved for c in self.changes if c.moved > 0)

    @property
    def to_monolith(self) -> int:
        return -sum(c.moved for c in self.changes if c.moved < 0)

    def to_dict(self) -> dict[str, Any]:
        from strangler.map.model import share

        return {
            "inventory": self.inventory,
            "requests": self.requests,
            "moved_to_services": self.to_services,
            "moved_to_services_share": share(self.to_services, self.requests),
            "moved_to_monolith": self.to_monolith,
            "moved_to_monolith_share": share(self.to_monolith, self.requests),
            "endpoints": [c.to_dict() for c in self.changes],
        }


# ---------------------------------------------------------------- proposals


def proposed_by_verb(
    path: Path,
    data: bytes,
    config: Config,
    verb: PlanVerb,
    capability: str,
    *,
    percent: float | None = None,
    to: str | None = None,
) -> Config:
    """routes.yaml as ``verb`` would leave it (the verb's own edit and checks), in memory.
    ``BadRequest`` for a bad argument, ``Refused`` for a retired capability."""
    cap = capability_of(config, capability)
    if verb == "retire":
        if cap.mode != "extracted":
            # as retire itself: a retired capability must be extracted, --force or not
            raise Refused(
                f"refused: retire of {capability!r}: mode is {cap.mode}, not extracted "
                f"(strangler cutover {capability} first)"
            )
        new = data if cap.retired else retired_text(data, capability, cap)
    else:
        if cap.retired and verb != "cutover":
            raise Refused(retired_refusal(capability))
        mode, new_percent = target_of(verb, cap, percent=percent, to=to)
        same = mode == cap.mode and (new_percent is None or new_percent == cap.canary.percent)
        new = data if same else edited(data, capability, mode=mode, percent=new_percent)
    return parse_routes(path, new, digest(new))


# ---------------------------------------------------------------- the plan


def plan_change(
    current: Config,
    proposed: Config,
    *,
    proposal: str,
    store: ResultStore | None,
    now: datetime,
    since: float = DEFAULT_SINCE,
    retire_window: float = DEFAULT_WINDOW,
) -> Plan:
    """The plan of moving from ``current`` to ``proposed`` (both validated), judged on what
    ``store`` holds (None: an empty store); reads only."""
    start = now - timedelta(seconds=since)
    capabilities = tuple(
        _capability_plan(name, current, proposed, store=store, now=now, window=retire_window)
        for name in _changed(current, proposed)
    )
    inventory = proposed.inventory or current.inventory
    traffic = None
    if inventory is not None:
        from parallel_run.endpoint_traffic import endpoint_totals

        totals = endpoint_totals(store, since=start, until=now) if store is not None else []
        traffic = _traffic(current, proposed, inventory, totals, now=now, since=since)
    return Plan(
        proposal=proposal,
        routes=str(current.source),
        since=start,
        until=now,
        capabilities=capabilities,
        traffic=traffic,
        unreachable=_unreachable(current, proposed),
    )


def _changed(current: Config, proposed: Config) -> list[str]:
    before, after = current.routes.capabilities, proposed.routes.capabilities
    names = [*before, *(n for n in after if n not in before)]
    return [
        n
        for n in names
        if (before.get(n) and State.of(before[n])) != (after.get(n) and State.of(after[n]))
    ]


def _capability_plan(
    name: str,
    current: Config,
    proposed: Config,
    *,
    store: ResultStore | None,
    now: datetime,
    window: float,
) -> CapabilityPlan:
    old = current.routes.capabilities.get(name)
    new = proposed.routes.capabilities.get(name)
    before = State.of(old) if old is not None else None
    after = State.of(new) if new is not None else None
    if new is None or after is None:
        return CapabilityPlan(name, before, None)
    if after.retired and (before is None or not before.retired):
        if old is None:
            # a capability that arrives retired skipped its whole migration
            why = "a new capability cannot arrive retired: no window shows its service alone"
            return CapabilityPlan(name, before, after, Decision(False, True, (why,)))
        return CapabilityPlan(
            name, before, after, retirement=judge(store, current, name, window=window, now=now)
        )
    from_mode: Mode = before.mode if before is not None else "legacy"
    from_percent = before.canary if before is not None else 0.0
    evidence = evidence_for(store, name, window=new.promote.window, now=now)
    decision = decide(
        new.promote,
        evidence,
        from_mode=from_mode,
        from_percent=from_percent,
        to_mode=after.mode,
        to_percent=after.canary,
        sync=sync_evidence_for(
            store, name, now=now, required=has_sync(new), has_back=has_back(new)
        ),
    )
    return CapabilityPlan(name, before, after, decision)


def _traffic(
    current: Config,
    proposed: Config,
    inventory: Inventory,
    totals: list[EndpointTotal],
    *,
    now: datetime,
    since: float,
) -> Traffic:
    """The endpoints whose owner or served share changes, from the map of each file (its
    ownership computed once per file, by ``build_map``) and the tallies' own capabilities."""
    from strangler.map.model import build_map, share

    window = timedelta(seconds=since)
    before = build_map(current, inventory, totals, now=now, window=window)
    after = build_map(proposed, inventory, totals, now=now, window=window)
    served_before = _served(current, current, inventory, totals)
    served_after = _served(proposed, current, inventory, totals)
    rows_after = {r.key: r for r in (*after.rows, *after.unlisted)}
    changes = []
    for row in (*before.rows, *before.unlisted):
        new_row = rows_after[row.key]
        owner_before, owner_after = _owner(row, current), _owner(new_row, proposed)
        moved = (served_before.get(row.key, 0), served_after.get(row.key, 0))
        if owner_before == owner_after and moved[0] == moved[1]:
            continue
        changes.append(
            OwnerChange(
                row.key,
                row.requests,
                share(row.requests, before.requests),
                owner_before,
                owner_after,
                *moved,
            )
        )
    changes.sort(key=lambda c: (-abs(c.moved), -c.requests, c.endpoint))
    return Traffic(inventory.source, before.requests, tuple(changes))


def _owner(row: EndpointRow, config: Config) -> str:
    """Who a map row says owns an endpoint: ``monolith``, ``cap (canary 10%)``, or several
    (``partial: a (shadow), b (extracted)``: the rest of it is the monolith's)."""
    caps = config.routes.capabilities
    return owners(
        row.capabilities,
        partial=row.partial,
        describe=lambda c: State.of(caps[c]).describe(),
        modes=row.modes,
    )


def _served(
    config: Config, current: Config, inventory: Inventory, totals: Iterable[EndpointTotal]
) -> dict[str, int]:
    """Per endpoint key, the window's requests a service would serve under ``config``'s modes.

    Each tally names the capability that matched its requests under the file in force
    (``current``; "" none). When ``config`` keeps that capability with the same routes, its
    requests stay with it, served by its mode there (``exposure``: extracted 100%, canary P%,
    shadow and legacy 0%), and requests no capability matched stay the monolith's while
    ``config`` changes no route. Only otherwise (the capability removed, its routes edited, a
    route added that may claim unmatched requests) is the request placed again, from what the
    tally keeps of it: its endpoint's sample path (``sample_path``) and method through
    ``config``'s matcher (traffic the inventory cannot place: the capability that matched it,
    if ``config`` still has it). The tally does not keep paths, so a route added inside
    another capability's unchanged routes takes none of its traffic here."""
    templates = {e.key: e.template for e in inventory.endpoints}
    caps = config.routes.capabilities
    same = _routes_of(config) == _routes_of(current)
    served: dict[str, float] = {}
    for total in totals:
        owner = _placed(total, config, current, templates, same=same)
        cap = caps.get(owner) if owner is not None else None
        percent = exposure(cap.mode, cap.canary.percent) if cap is not None else 0.0
        served[total.endpoint] = served.get(total.endpoint, 0.0) + total.count * percent / 100
    return {key: round(value) for key, value in served.items()}


def _placed(
    total: EndpointTotal,
    config: Config,
    current: Config,
    templates: dict[str, str | None],
    *,
    same: bool,
) -> str | None:
    """The capability that would match ``total``'s requests under ``config`` (``_served``)."""
    matched = total.capability or None
    if matched is None and same:
        return None
    if matched in config.routes.capabilities and _routes_of(config, matched) == _routes_of(
        current, matched
    ):
        return matched
    template = templates.get(total.endpoint)
    if template is not None:
        found = config.matcher.match(total.method, sample_path(template))
        return found.route.capability if found is not None else None
    return matched if matched in config.routes.capabilities else None


def _routes_of(config: Config, capability: str | None = None) -> frozenset[tuple[str, ...]]:
    """The routes of one capability (None: of all), as comparable values."""
    return frozenset(
        (route.capability, route.template, methods(route.methods))
        for route in config.matcher.routes
        if capability is None or route.capability == capability
    )


def _unreachable(current: Config, proposed: Config) -> tuple[Unreachable, ...]:
    was = {(u.capability, u.route) for u in unreachable_routes(current, new=False)}
    return tuple(
        Unreachable(u.capability, u.route, u.line, u.taken_by, (u.capability, u.route) not in was)
        for u in unreachable_routes(proposed, new=True)
    )


def unreachable_routes(config: Config, *, new: bool) -> list[Unreachable]:
    """Routes that, for some method, no request reaches: every sample of their template
    (``route_samples``) goes to another, more specific route."""
    found = []
    for route in config.matcher.routes:
        samples = route_samples(route.template)
        shown = methods(route.methods)
        for method in sorted(route.methods) if route.methods is not None else ANY_METHODS:
            matches = [config.matcher.match(method, sample) for sample in samples]
            if any(match is None or match.route == route for match in matches):
                continue
            other = matches[0].route if matches[0] is not None else route
            found.append(
                Unreachable(
                    route.capability,
                    f"{shown} {route.template}",
                    route.line,
                    f"{other.capability}: {methods(other.methods)} {other.template} "
                    f"(line {other.line})",
                    new,
                )
            )
            break
    return found


def route_samples(template: str) -> tuple[str, ...]:
    """Concrete paths a template matches, to tell whether another route takes all of them:
    its parameters as their names (``{sku}``) and as a plain value, each with its
    ``{rest:path}`` as one segment and as several."""
    found: list[str] = []
    for plain in (False, True):
        for deep in (False, True):
            parts = []
            for segment in parse_template(template):
                value = "0" if plain else f"{{{segment.value}}}"
                if segment.kind == "literal":
                    parts.append(segment.value)
                elif segment.kind == "param":
                    parts.append(value)
                else:
                    parts.append(f"{value}/1/2" if deep else value)
            sample = "/" + "/".join(parts)
            if sample not in found:
                found.append(sample)
    return tuple(found)
