"""What `strangler retire` reads, written straight into a temp result store: the audit record
of a cutover, the facade's endpoint tallies, the relays' heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from parallel_run import audit
from parallel_run.endpoint_traffic import LEGACY, EndpointTally, add_endpoint_tallies
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from parallel_run.sync_evidence import SyncHealth, write_health


def open_store(routes: Path, name: str = "store.db") -> ResultStore:
    return ResultStore.open(f"sqlite:///{routes.parent}/{name}", redactor=Redactor())


def cut_over(store: ResultStore, capability: str, *, at: datetime) -> None:
    """The audit record of ``capability``'s cutover (canary 50% -> extracted) at ``at``."""
    audit.append(
        store,
        [
            audit.AuditEntry(
                capability=capability,
                from_mode="canary",
                from_percent=50.0,
                to_mode="extracted",
                to_percent=100.0,
                source="cli",
                user="ann",
                host="ops-1",
                at=at,
            )
        ],
    )


def served(
    store: ResultStore,
    capability: str,
    *,
    at: datetime,
    by: str,
    count: int,
    endpoint: str = "/api/products",
) -> None:
    """``count`` requests of ``capability`` in the minute of ``at``, served by ``by``
    (``legacy``: fallbacks to the monolith)."""
    add_endpoint_tallies(store, [EndpointTally(at, endpoint, "GET", capability, by, count)])


def fell_back(store: ResultStore, capability: str, *, at: datetime, count: int = 1) -> None:
    served(store, capability, at=at, by=LEGACY, count=count)


def heartbeat(
    store: ResultStore,
    capability: str,
    direction: str,
    *,
    at: datetime,
    pending: int = 0,
    parked: int = 0,
) -> None:
    write_health(
        store,
        SyncHealth(
            capability=capability,
            direction="back" if direction == "back" else "forward",
            relay=f"ops-1:{direction}",
            at=at,
            lag_seconds=0.0,
            pending=pending,
            parked=parked,
            applied_total=10,
            conflicts_total=0,
            capture_state="installed",
        ),
    )


def ready_to_retire(
    store: ResultStore, capability: str, *, now: datetime, service: str, sync: bool = False
) -> None:
    """Every condition met: extracted two days ago, served by ``service`` since, drained."""
    cut_over(store, capability, at=now - timedelta(days=2))
    served(store, capability, at=now - timedelta(hours=1), by=service, count=40)
    if sync:
        for direction in ("forward", "back"):
            heartbeat(store, capability, direction, at=now - timedelta(seconds=1))
