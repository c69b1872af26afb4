"""``strangler retire CAP``: end a capability's migration, audited.

Under the routes file's edit lock, as a lifecycle step: read and validate routes.yaml, gather
what the store says (``retire_evidence``: the audit trail, the endpoint tallies, the relays'
heartbeats), ask the retirement gate (``retirement.unmet``), then write ``retired: true`` and
``fallback: error`` into the capability (``routes_edit``, comments kept) through
``steps.commit``: validated, the audit record appended just before the atomic rename. The
record keeps the mode (``extracted`` -> ``extracted``, 100%) so the trail's states stay modes;
its evidence says ``"step": "retire"`` with the conditions as they were.

After it the facade never falls back to the monolith for the capability, the way back is
closed (``strangler.data.plan``), and the lifecycle verbs refuse it until someone removes
``retired: true`` by hand (the facade audits that edit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facade.config import Capability, Config
from strangler.lifecycle import routes_file
from strangler.lifecycle.retirement import RetireEvidence, served, unmet
from strangler.lifecycle.routes_edit import EditError, set_capability_keys
from strangler.lifecycle.steps import (
    BadRequest,
    LifecycleError,
    Refused,
    Who,
    capability_of,
    commit,
    has_back,
    has_sync,
    open_store,
    parse_routes,
    read_store,
    sync_evidence_for,
)

if TYPE_CHECKING:
    from parallel_run.store import ResultStore


def retired_keys(cap: Capability) -> dict[str, str]:
    """The keys retirement writes: no fallback to the monolith, unsafe methods included."""
    keys = {"retired": "true", "fallback": "error"}
    if cap.fallback_unsafe == "legacy":
        keys["fallback_unsafe"] = "error"
    return keys


@dataclass(frozen=True, slots=True)
class Retirement:
    """What ``retire`` did (``changed`` False: already retired) or would do."""

    capability: str
    changed: bool
    evidence: RetireEvidence
    unmet: tuple[str, ...]
    forced: bool = False
    reason: str | None = None
    digest_before: str | None = None
    digest_after: str | None = None
    audit_seq: int | None = None
    store_note: str | None = None  # why the store had nothing to read

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.capability,
            "verb": "retire",
            "changed": self.changed,
            "retired": True,
            "forced": self.forced,
            "reason": self.reason,
            "gate_passed": not self.unmet,
            "unmet": list(self.unmet),
            "evidence": self.evidence.to_dict(),
            "digest_before": self.digest_before,
            "digest_after": self.digest_after,
            "audit_seq": self.audit_seq,
            "store_note": self.store_note,
        }


def retire_evidence(
    store: ResultStore | None,
    config: Config,
    capability: str,
    *,
    window: float,
    now: datetime,
) -> RetireEvidence:
    """What the store holds about ``capability`` for its retirement over ``window`` seconds
    (nothing, with no store)."""
    cap = config.routes.capabilities[capability]
    sync = sync_evidence_for(
        store, capability, now=now, required=has_sync(cap), has_back=has_back(cap)
    )
    counting = config.inventory is not None
    if store is None:
        return RetireEvidence(
            capability, cap.mode, window, None, served((), capability, counting=counting), sync
        )
    from parallel_run.audit import records
    from parallel_run.endpoint_traffic import endpoint_totals
    from strangler.lifecycle.retirement import extracted_since

    moved = extracted_since(records(store, capability=capability))
    start = counted_from(now - timedelta(seconds=window), moved)
    totals = endpoint_totals(store, since=start, until=now)
    return RetireEvidence(
        capability, cap.mode, window, moved, served(totals, capability, counting=counting), sync
    )


def counted_from(start: datetime, moved: datetime | None) -> datetime:
    """The first tallied minute retirement counts: tallies are per minute, so only whole
    minutes that start at or after both the window's start and the move to extracted (a
    minute that began before it holds the monolith's answers from before the cutover, not
    fallbacks)."""
    later = start if moved is None else max(start, moved)
    floor = later.replace(second=0, microsecond=0)
    return floor if floor == later else floor + timedelta(minutes=1)


def retired_text(data: bytes, capability: str, cap: Capability) -> bytes:
    """routes.yaml's bytes with the capability retired (``retired_keys``)."""
    try:
        text = set_capability_keys(data.decode("utf-8"), capability, retired_keys(cap))
        return text.encode("utf-8")
    except EditError as exc:
        raise LifecycleError(str(exc)) from None


def retire(
    path: Path,
    capability: str,
    *,
    window: float,
    force: bool = False,
    reason: str | None = None,
    who: Who | None = None,
    lock_timeout: float = routes_file.DEFAULT_LOCK_TIMEOUT,
    now: datetime | None = None,
) -> Retirement:
    """Retire ``capability``, audited; raise ``LifecycleError`` (nothing changed) when it
    cannot be: ``Refused`` (exit 3) listing every unmet condition unless ``force``."""
    reason = reason.strip() if reason is not None else None
    if force and not reason:
        raise BadRequest("--force needs --reason TEXT: an override is audited with its reason")
    if window <= 0:
        raise BadRequest("--window must be longer than zero")
    now = now or datetime.now(UTC)
    who = who or Who.current()
    try:
        with routes_file.locked(path, timeout=lock_timeout):
            data, before = routes_file.read(path)
            config = parse_routes(path, data, before)
            cap = capability_of(config, capability)
            # judged on the store read only: a refusal creates or migrates nothing; the
            # store is opened to write (and migrated) only to record a retirement
            reading = read_store(config)
            try:
                judged = judge(reading.store, config, capability, window=window, now=now)
            finally:
                reading.close()
            judged = replace(judged, reason=reason, store_note=reading.note)
            return _retire(
                path, data, config, capability, cap, judged, force=force, who=who, now=now
            )
    except routes_file.RoutesFileError as exc:
        raise LifecycleError(str(exc)) from None


def judge(
    store: ResultStore | None, config: Config, capability: str, *, window: float, now: datetime
) -> Retirement:
    """The retirement of ``capability`` as the store judges it now, nothing written: what
    ``retire`` and ``strangler plan retire`` show (``changed``: it would change the file)."""
    cap = config.routes.capabilities[capability]
    evidence = retire_evidence(store, config, capability, window=window, now=now)
    missing = () if cap.retired else unmet(evidence, now=now)
    return Retirement(capability, not cap.retired, evidence, missing, digest_before=config.digest)


def _retire(
    path: Path,
    data: bytes,
    config: Config,
    capability: str,
    cap: Capability,
    judged: Retirement,
    *,
    force: bool,
    who: Who,
    now: datetime,
) -> Retirement:
    from parallel_run.audit import AuditEntry

    if cap.retired:
        return replace(judged, changed=False)
    if cap.mode != "extracted":
        # --force overrides evidence, never the mode: retiring needs it extracted, and a
        # cutover has its own gate
        raise Refused(_explain(judged, forceable=False))
    if judged.unmet and not force:
        raise Refused(_explain(judged, forceable=True))
    forced = bool(judged.unmet)
    entry = AuditEntry(
        capability=capability,
        from_mode=cap.mode,
        from_percent=100.0,
        to_mode=cap.mode,
        to_percent=100.0,
        source="cli",
        user=who.user,
        host=who.host,
        reason=judged.reason,
        forced=forced,
        evidence={"step": "retire", **judged.evidence.to_dict(), "unmet": list(judged.unmet)},
        digest_before=config.digest,
        at=now,
    )
    store = open_store(config)
    try:
        stored = commit(path, data, retired_text(data, capability, cap), entry, store)
    finally:
        store.close()
    return replace(
        judged,
        forced=forced,
        digest_after=stored.entry.digest_after,
        audit_seq=stored.seq,
    )


def _explain(judged: Retirement, *, forceable: bool) -> str:
    window = judged.evidence.to_dict()["window"]
    lines = [
        f"refused: retire of {judged.capability!r} needs it served by its service alone for "
        f"{window}, with no fallback to the monolith and its data sync drained; unmet:",
        *(f"  - {s}" for s in judged.unmet),
    ]
    if judged.store_note:
        lines.append(f"  ({judged.store_note})")
    if forceable:
        lines.append("To retire anyway: --force --reason TEXT (the override is audited).")
    return "\n".join(lines)
