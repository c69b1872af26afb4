"""The retirement gate: may a capability's migration end (``strangler retire CAP``)?

Pure, like ``gate``: what the store holds comes in (``RetireEvidence``), the unmet conditions
come out, one plain sentence each, all of them at once so one run says everything left to do.
Retiring turns the fallback to the monolith off and closes the way back, so it waits until
neither has been needed for a whole window:

- the capability is ``extracted``, and has been for at least the window: the audit trail's
  newest move into ``extracted`` is that old (no record of it: it cannot be told, unmet);
- in the window the facade's endpoint tallies count requests of the capability served by its
  service, and none served by the monolith (each of those was a fallback). No tallies at all
  with no ``legacy.endpoints`` in routes.yaml: the facade counts nothing per endpoint, so no
  fallback can be ruled out, which is said as such;
- with ``data.sync``: the newest heartbeat of the forward relay, and of the way back when
  ``data.sync.back`` is set, shows nothing pending and nothing parked. A relay stopped after
  ``strangler data sync CAP --once`` leaves such a heartbeat: it need not still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from facade.config import Mode
from parallel_run.endpoint_traffic import LEGACY
from strangler.lifecycle.gate import SyncEvidence, format_window
from strangler.text import when

if TYPE_CHECKING:
    from parallel_run.audit import AuditRecord
    from parallel_run.endpoint_traffic import EndpointTotal

DEFAULT_WINDOW = 86400.0  # --window: 24h


@dataclass(frozen=True, slots=True)
class Served:
    """A capability's requests in the window, as the facade tallied them per endpoint:
    ``by_service`` served by its service, ``by_legacy`` by the monolith (fallbacks)."""

    by_service: int = 0
    by_legacy: int = 0
    last_fallback: datetime | None = None  # the minute of the newest fallback
    counting: bool = True  # routes.yaml names legacy.endpoints: the facade counts per endpoint

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_service": self.by_service,
            "by_legacy": self.by_legacy,
            "last_fallback": None if self.last_fallback is None else self.last_fallback.isoformat(),
            "counting": self.counting,
        }


def served(totals: Iterable[EndpointTotal], capability: str, *, counting: bool = True) -> Served:
    """``Served`` from ``endpoint_totals`` of the window (every endpoint, every replica)."""
    by_service = by_legacy = 0
    last: datetime | None = None
    for total in totals:
        if total.capability != capability:
            continue
        if total.served_by == LEGACY:
            by_legacy += total.count
            last = total.last_seen if last is None else max(last, total.last_seen)
        else:
            by_service += total.count
    return Served(by_service, by_legacy, last, counting)


def extracted_since(history: Sequence[AuditRecord]) -> datetime | None:
    """When the capability last moved into ``extracted``, from its audit records newest first;
    None when the newest does not leave it extracted or no record shows the move."""
    since = None
    for record in history:
        entry = record.entry
        if entry.to_mode != "extracted":
            break
        since = entry.at
        if entry.from_mode != "extracted":
            return since
    # only extracted -> extracted records (a retirement reopened by hand): the move is older
    # than the trail shows, so the oldest of them is a safe lower bound
    return since


@dataclass(frozen=True, slots=True)
class RetireEvidence:
    """What the store says about one capability, for its retirement over ``window`` seconds."""

    capability: str
    mode: Mode
    window: float
    extracted_since: datetime | None
    served: Served
    sync: SyncEvidence

    def to_dict(self) -> dict[str, Any]:
        since = self.extracted_since
        return {
            "window": format_window(self.window),
            "window_seconds": self.window,
            "mode": self.mode,
            "extracted_since": None if since is None else since.isoformat(),
            "served": self.served.to_dict(),
            "sync": self.sync.to_dict() if self.sync.required else None,
        }


def unmet(evidence: RetireEvidence, *, now: datetime) -> tuple[str, ...]:
    """Every condition of retirement that does not hold, one sentence each naming what to do;
    empty when the capability may retire."""
    return (
        _extracted(evidence, now=now)
        + _no_fallback(evidence.capability, evidence.served, window=evidence.window)
        + drained(evidence.sync)
    )


def _extracted(evidence: RetireEvidence, *, now: datetime) -> tuple[str, ...]:
    cap, window = evidence.capability, format_window(evidence.window)
    if evidence.mode != "extracted":
        return (
            f"mode is {evidence.mode}, not extracted: it must be served by its service for "
            f"{window} first (strangler cutover {cap})",
        )
    since = evidence.extracted_since
    if since is None:
        return (
            "the audit trail has no record of its move to extracted, so how long it has been "
            f"served by its service cannot be told (it needs {window})",
        )
    age = now - since
    if age < timedelta(seconds=evidence.window):
        ready = since + timedelta(seconds=evidence.window)
        return (
            f"extracted only since {when(since)} ({format_window(_whole(age))} ago), less "
            f"than the window {window}: retire from {when(ready)}",
        )
    return ()


def _no_fallback(cap: str, served: Served, *, window: float) -> tuple[str, ...]:
    span = format_window(window)
    if served.by_service == 0 and served.by_legacy == 0:
        if not served.counting:
            return (
                "no traffic counted: routes.yaml names no legacy.endpoints inventory, so the "
                "facade counts no requests per endpoint and no fallback to the monolith can be "
                "ruled out (write one with `manage.py strangler_endpoints --output FILE` and "
                "name it under legacy: endpoints:)",
            )
        return (
            f"no request of {cap!r} was counted in the last {span}: nothing shows its service "
            "serving it without the monolith",
        )
    found = []
    if served.by_legacy:
        total = served.by_legacy + served.by_service
        last = f", the last at {when(served.last_fallback)}" if served.last_fallback else ""
        found.append(
            f"{served.by_legacy} of its {total} requests in the last {span} fell back to the "
            f"monolith{last} (strangler map shows which endpoints; fix the service and wait "
            "out the window)"
        )
    if served.by_service == 0:
        found.append(f"no request of {cap!r} was served by its service in the last {span}")
    return tuple(found)


def drained(sync: SyncEvidence) -> tuple[str, ...]:
    """What keeps the capability's data sync from being drained in each direction it runs:
    forward, and the way back when ``data.sync.back`` is set. Empty without ``data.sync``."""
    if not sync.required:
        return ()
    cap = sync.capability
    found: list[str] = []
    for name in ("forward", "back") if sync.has_back else ("forward",):
        flag = "" if name == "forward" else " --direction back"
        health = sync.direction(name)
        if health is None:
            found.append(
                f"no {name} relay has reported, so its drain cannot be told "
                f"(run: strangler data sync {cap} --once{flag})"
            )
            continue
        if health.pending:
            found.append(
                f"{health.pending} changes pending for {name} as of its last heartbeat "
                f"(let it drain: strangler data sync {cap} --once{flag})"
            )
        if health.parked:
            rows = "row" if health.parked == 1 else "rows"
            found.append(
                f"{health.parked} {rows} parked for {name} (strangler data status {cap}; "
                f"strangler data sync {cap}{flag} --retry-parked)"
            )
    return tuple(found)


def _whole(age: timedelta) -> float:
    # 5h 12m 3s ago reads as 5h: a window is said in whole units
    seconds = age.total_seconds()
    for size in (86400, 3600, 60):
        if seconds >= size:
            return float(seconds // size * size)
    return float(int(seconds))
