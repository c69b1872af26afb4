"""The replicas seen recently, from the audit trail's ``config-in-force`` records: each
facade, Envoy and compare service writing to one store records which routes.yaml it put in
force, at start and after each reload that took (strangler.audit.config_in_force).

A replica is a (host, listen address, engine, part of) place: a process restarted there
replaces its earlier record; with ``--workers N`` the workers share one row. Replicas drift
when their newest records name different routes.yaml contents (``routes_sha256``, which
every engine records; Envoy's own ``config_hash`` also covers its helpers' ports, so it
differs between Envoy replicas running the same file). A replica that stopped cleanly records
it (``stop``) and is no longer listed; one that died without a word stays listed until its
last record is older than ``SEEN_WINDOW``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from parallel_run.audit import AuditRecord
    from parallel_run.store import ResultStore

SEEN_WINDOW = timedelta(days=7)
STOPPED = "stop"  # strangler.audit.STOP_EVENT: not imported, strangler.audit pulls the store in
SEEN_WINDOW_TEXT = "7d"


@dataclass(frozen=True, slots=True)
class Replica:
    host: str
    pid: int | None
    listen: str | None
    engine: str
    config_hash: str
    routes_sha256: str
    part_of: str | None
    at: datetime
    event: str | None  # start | reload | stop

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "listen": self.listen,
            "engine": self.engine,
            "config_hash": self.config_hash,
            "routes_sha256": self.routes_sha256,
            "part_of": self.part_of,
            "at": self.at.isoformat(timespec="seconds"),
            "event": self.event,
        }


def replicas(history: Sequence[AuditRecord]) -> list[Replica]:
    """The newest record of each replica in ``history`` (config-in-force records, newest
    first), in the order they were last seen."""
    found: dict[tuple[str, str | None, str, str | None], Replica] = {}
    for record in history:
        seen = record.entry.evidence.get("replica")
        if not isinstance(seen, dict):
            continue
        pid = seen.get("pid")
        replica = Replica(
            host=str(seen.get("host") or record.entry.host),
            pid=pid if isinstance(pid, int) else None,
            listen=str(seen["listen"]) if seen.get("listen") else None,
            engine=str(seen.get("engine") or "?"),
            config_hash=str(seen.get("config_hash") or ""),
            routes_sha256=str(seen.get("routes_sha256") or ""),
            part_of=str(seen["part_of"]) if seen.get("part_of") else None,
            at=record.entry.at,
            event=record.entry.reason,
        )
        found.setdefault((replica.host, replica.listen, replica.engine, replica.part_of), replica)
    return list(found.values())


def drift(found: Sequence[Replica]) -> str | None:
    """A warning when the replicas run different routes.yaml contents (a partial rollout, or
    a replica that refused the reload), naming who runs which; None when they agree."""
    by_digest: dict[str, list[Replica]] = {}
    for replica in found:
        by_digest.setdefault(replica.routes_sha256, []).append(replica)
    if len(by_digest) < 2:
        return None
    groups = "; ".join(
        f"{digest[:12]}: {', '.join(name(r) for r in group)}"
        for digest, group in sorted(by_digest.items(), key=lambda item: -len(item[1]))
    )
    return f"replicas run {len(by_digest)} different routes.yaml versions ({groups})"


def name(replica: Replica) -> str:
    where = f"{replica.host}/{replica.listen}" if replica.listen else replica.host
    return f"{replica.engine}@{where}"


def seen(store: ResultStore, *, now: datetime) -> list[Replica]:
    """The replicas whose newest record is within ``SEEN_WINDOW`` of ``now`` and is not
    their stop."""
    from parallel_run.audit import in_force_records

    found = replicas(in_force_records(store, since=now - SEEN_WINDOW))
    return [replica for replica in found if replica.event != STOPPED]
