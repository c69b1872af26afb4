"""One lifecycle step of a capability (``shadow``, ``canary``, ``cutover``, ``rollback``):
the step behind each ``strangler`` verb, from reading routes.yaml to the audited write.

Under the routes file's edit lock: read the file, validate it, work out the step, look up the
evidence (``build_report``, the numbers ``strangler report`` shows), ask the gate, edit the text
(``routes_edit``), validate the result, then write it atomically; the audit record is appended
to the store just before the rename, carrying the new file's digest, so a facade that reloads
the file finds it recorded and does not take it for a hand edit. If the record cannot be
written, the file is not changed: no CLI change goes unaudited (``commit``, which
``strangler retire`` writes through too). A retired capability refuses every step
(``retired_refusal``, exit 3) until ``retired: true`` is removed by hand; ``cutover`` has
nothing to do.

Percents in audit records and steps are the share of the capability's requests the service
serves: ``canary.percent`` in canary mode, 100 when extracted, 0 otherwise.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from facade import config as config_module
from facade.config import Capability, Config, Mode, RoutesFile
from facade.config.matching import Matcher
from facade.errors import ConfigError, FacadeError
from strangler.lifecycle import routes_file
from strangler.lifecycle.gate import (
    Decision,
    DirectionHealth,
    Evidence,
    SyncEvidence,
    VerifyState,
    decide,
    exposure,
)
from strangler.lifecycle.routes_edit import EditError, set_capability

if TYPE_CHECKING:
    from parallel_run.audit import AuditEntry, AuditRecord
    from parallel_run.store import ResultStore, StoreReading

Verb = Literal["shadow", "canary", "cutover", "rollback"]


class LifecycleError(FacadeError):
    """A step could not be made; nothing was changed. ``exit_code`` per the CLI contract."""

    exit_code = 1


class BadRequest(LifecycleError):
    """Unknown capability, no service, a bad argument, an invalid routes file."""

    exit_code = 2


class InvalidRoutes(BadRequest):
    """routes.yaml itself is invalid: the message is ``PATH:LINE: message`` lines."""


class Refused(LifecycleError):
    """The evidence gate said no, and no ``--force --reason`` overrode it."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class Who:
    user: str
    host: str

    @classmethod
    def current(cls) -> Who:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = "unknown"
        return cls(user, socket.gethostname())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step did (``changed`` False: the capability was already there)."""

    capability: str
    verb: Verb
    changed: bool
    from_mode: Mode
    from_percent: float
    to_mode: Mode
    to_percent: float
    evidence: Evidence
    decision: Decision
    forced: bool = False
    reason: str | None = None
    digest_before: str | None = None
    digest_after: str | None = None
    audit_seq: int | None = None
    sync: SyncEvidence | None = None  # with data.sync: what the relays and data verify said
    # why legacy.endpoints' inventory cannot be used: printed as a warning, the step goes on
    inventory_problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.capability,
            "verb": self.verb,
            "changed": self.changed,
            "from": {"mode": self.from_mode, "percent": self.from_percent},
            "to": {"mode": self.to_mode, "percent": self.to_percent},
            "forced": self.forced,
            "reason": self.reason,
            "gated": self.decision.gated,
            "gate_passed": self.decision.allowed,
            "shortfalls": list(self.decision.shortfalls),
            "evidence": self.evidence.to_dict(),
            "sync": None if self.sync is None or not self.sync.required else self.sync.to_dict(),
            "digest_before": self.digest_before,
            "digest_after": self.digest_after,
            "audit_seq": self.audit_seq,
        }


def target_of(
    verb: Verb, cap: Capability, *, percent: float | None, to: str | None
) -> tuple[Mode, float | None]:
    """The mode a verb moves to, and the ``canary.percent`` to write (None: leave it)."""
    if verb == "shadow":
        return "shadow", None
    if verb == "canary":
        if percent is None:
            raise BadRequest("canary needs --percent P (0 to 100)")
        if not 0 <= percent <= 100:
            raise BadRequest(f"--percent must be between 0 and 100, got {percent:g}")
        return "canary", percent
    if verb == "cutover":
        return "extracted", None
    if to not in (None, "shadow", "legacy"):
        raise BadRequest(f"rollback --to takes shadow or legacy, not {to!r}")
    if to == "legacy":
        return "legacy", None
    # rollback moves back only: a capability in legacy or shadow stays where it is
    return ("shadow" if cap.mode in ("canary", "extracted") else cap.mode), None


def evidence_for(
    store: ResultStore | None, capability: str, *, window: float, now: datetime
) -> Evidence:
    """The capability's judged comparisons over the last ``window`` seconds, as
    ``strangler report`` counts them (``build_report``)."""
    if store is None:
        return Evidence(window)
    from parallel_run.report import build_report

    built = build_report(
        store, since=now - timedelta(seconds=window), capability=capability, now=now, buckets=1
    )
    cap = built.capability(capability)
    if cap is None:
        return Evidence(window)
    return Evidence(window, cap.judged, cap.mismatches, cap.candidate_errors)


def sync_evidence_for(
    store: ResultStore | None,
    capability: str,
    *,
    now: datetime,
    required: bool = True,
    has_back: bool = False,
) -> SyncEvidence:
    """The capability's data sync as the store holds it: per direction its newest relay
    heartbeat (lag, pending, parked, capture, last error; conflicts summed over its relays),
    and the latest ``data verify``. Nothing is read when not ``required`` (no ``data.sync``)."""
    if store is None or not required:
        return SyncEvidence(capability, required, has_back=has_back)
    from parallel_run.sync_evidence import health_of, latest_verification

    newest: dict[str, DirectionHealth] = {}
    conflicts: dict[str, int] = {}
    for beat in health_of(store, capability):  # newest first
        conflicts[beat.direction] = conflicts.get(beat.direction, 0) + beat.conflicts_total
        newest.setdefault(
            beat.direction,
            DirectionHealth(
                direction=beat.direction,
                lag_seconds=beat.lag_seconds,
                heartbeat_age=max(0.0, (now - beat.at).total_seconds()),
                pending=beat.pending,
                parked=beat.parked,
                capture_state=beat.capture_state,
                last_error=beat.last_error,
            ),
        )
    directions = tuple(
        replace(health, conflicts=conflicts[name])
        for name, health in sorted(newest.items(), key=lambda item: item[0] != "forward")
    )
    verified = latest_verification(store, capability)
    verify = (
        None
        if verified is None
        else VerifyState(verified.at, verified.equal, dict(verified.counts))
    )
    return SyncEvidence(capability, True, directions, verify, has_back=has_back)


def has_sync(cap: Capability) -> bool:
    """Whether the capability's data is kept in step by a relay (``data.sync``)."""
    return cap.data is not None and cap.data.sync is not None


def has_back(cap: Capability) -> bool:
    """Whether the service's changes are carried back to the monolith (``data.sync.back``)."""
    return cap.data is not None and cap.data.sync is not None and cap.data.sync.back is not None


def open_store(config: Config) -> ResultStore:
    """The result store routes.yaml names, created if missing (the audit trail lives there)."""
    from facade.config.evidence import store_settings
    from parallel_run.store import open_store

    try:
        return open_store(store_settings(config))
    except Exception as exc:
        raise LifecycleError(
            f"cannot open the result store ({type(exc).__name__}: {exc}); every change is "
            "recorded there, so nothing was changed"
        ) from None


def read_store(config: Config) -> StoreReading:
    """The result store routes.yaml names, to read only: never created, never migrated
    (``parallel_run.store.open_store_read_only``)."""
    from facade.config.evidence import store_settings
    from parallel_run.store import open_store_read_only

    try:
        return open_store_read_only(store_settings(config))
    except Exception as exc:
        raise LifecycleError(
            f"cannot read the result store ({type(exc).__name__}: {exc}); nothing was changed"
        ) from None


def parse_routes(path: Path, data: bytes, digest: str) -> Config:
    """Validate routes bytes as ``facade.config.load`` would (translators included)."""
    routes, matcher = _parse(path, data)
    # a broken inventory is a warning (Config.inventory_problem): it never blocks a step
    inventory, problem = config_module.inventory_of(routes, path, data)
    return Config(path.resolve(), routes, matcher, digest, inventory, problem)


def parse_proposal(
    path: Path, data: bytes, digest: str, current: Config
) -> tuple[Config, str | None]:
    """A proposed routes file (``plan --against``), validated like ``parse_routes``; its
    ``legacy.endpoints`` is relative to it, so a proposal copied elsewhere may name an
    inventory that is not there: then ``current``'s is used, and the note says so."""
    routes, matcher = _parse(path, data)
    named = routes.legacy.endpoints
    if named is not None and current.inventory is not None:
        where = Path(named).expanduser()
        if not where.is_absolute():
            where = path.resolve().parent / where
        if not where.is_file():
            note = (
                f"{path}: legacy.endpoints {named!r}: no file {where}; the inventory of "
                f"{current.source} ({current.inventory.source}) is used"
            )
            return Config(path.resolve(), routes, matcher, digest, current.inventory), note
    inventory, problem = config_module.inventory_of(routes, path, data)
    return Config(path.resolve(), routes, matcher, digest, inventory, problem), None


def _parse(path: Path, data: bytes) -> tuple[RoutesFile, Matcher]:
    from facade.translators import translator_problems

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRoutes(f"{path}:1: the file is not UTF-8 ({exc.reason})") from None
    try:
        return config_module.parse(text, source=str(path), extra_check=translator_problems)
    except ConfigError as exc:
        raise InvalidRoutes(str(exc)) from None


def retired_refusal(capability: str) -> str:
    """Why a retired capability refuses a step (and ``data sync --direction back``)."""
    return (
        f"{capability!r} is retired; remove retired: true by hand, audited, to reopen (its "
        "migration is over: no fallback to the monolith, no way back)"
    )


def capability_of(config: Config, name: str) -> Capability:
    caps = config.routes.capabilities
    cap = caps.get(name)
    if cap is None:
        known = ", ".join(caps) or "none"
        raise BadRequest(f"unknown capability {name!r} in {config.source} (known: {known})")
    if cap.service is None:
        raise BadRequest(
            f"capability {name!r} has no service: name the extracted service under "
            f"'service:' in {config.source} first"
        )
    return cap


def step(
    path: Path,
    capability: str,
    verb: Verb,
    *,
    percent: float | None = None,
    to: str | None = None,
    force: bool = False,
    reason: str | None = None,
    who: Who | None = None,
    lock_timeout: float = routes_file.DEFAULT_LOCK_TIMEOUT,
    now: datetime | None = None,
) -> Outcome:
    """Make one step, audited; raise ``LifecycleError`` (nothing changed) when it cannot be."""
    reason = reason.strip() if reason is not None else None
    if force and not reason:
        raise BadRequest("--force needs --reason TEXT: an override is audited with its reason")
    now = now or datetime.now(UTC)
    who = who or Who.current()
    try:
        with routes_file.locked(path, timeout=lock_timeout):
            return _step_locked(
                path, capability, verb, percent=percent, to=to, force=force, reason=reason,
                who=who, now=now,
            )  # fmt: skip
    except routes_file.RoutesFileError as exc:
        raise LifecycleError(str(exc)) from None


def _step_locked(
    path: Path,
    capability: str,
    verb: Verb,
    *,
    percent: float | None,
    to: str | None,
    force: bool,
    reason: str | None,
    who: Who,
    now: datetime,
) -> Outcome:
    data, before = routes_file.read(path)
    config = parse_routes(path, data, before)
    cap = capability_of(config, capability)
    if cap.retired and verb != "cutover":
        raise Refused(retired_refusal(capability))
    to_mode, new_percent = target_of(verb, cap, percent=percent, to=to)
    canary_percent = new_percent if new_percent is not None else cap.canary.percent
    from_share = exposure(cap.mode, cap.canary.percent)
    to_share = exposure(to_mode, canary_percent)
    unchanged = to_mode == cap.mode and (new_percent is None or new_percent == cap.canary.percent)
    store = _store_if_readable(config) if unchanged else open_store(config)
    try:
        evidence = (
            evidence_for(store, capability, window=cap.promote.window, now=now)
            if store is not None
            else Evidence(cap.promote.window)
        )
        sync = sync_evidence_for(
            store, capability, now=now, required=has_sync(cap), has_back=has_back(cap)
        )
        decision = decide(
            cap.promote,
            evidence,
            from_mode=cap.mode,
            from_percent=cap.canary.percent,
            to_mode=to_mode,
            to_percent=canary_percent,
            sync=sync,
        )
        outcome = Outcome(
            capability=capability,
            verb=verb,
            changed=False,
            from_mode=cap.mode,
            from_percent=from_share,
            to_mode=to_mode,
            to_percent=to_share,
            evidence=evidence,
            decision=decision,
            reason=reason,
            digest_before=before,
            sync=sync,
            inventory_problem=config.inventory_problem,
        )
        if unchanged:
            return outcome
        if not decision.allowed and not force:
            raise Refused(
                decision.explain(
                    capability=capability,
                    step=_step_name(verb, canary_percent),
                    promote=cap.promote,
                    evidence=evidence,
                )
            )
        assert store is not None  # opened (or raised) above for every change
        return _write(path, data, config, outcome, store, who=who, now=now, force=force)
    finally:
        if store is not None:
            store.close()


def _store_if_readable(config: Config) -> ResultStore | None:
    # nothing to change, so nothing to record: the evidence is only shown, a store that
    # cannot be opened is no reason to fail
    try:
        return open_store(config)
    except LifecycleError:
        return None


def _step_name(verb: Verb, percent: float) -> str:
    return f"canary at {percent:g}%" if verb == "canary" else verb


def _audited_evidence(outcome: Outcome) -> dict[str, Any]:
    evidence = {**outcome.evidence.to_dict(), "shortfalls": list(outcome.decision.shortfalls)}
    if outcome.sync is not None and outcome.sync.required:
        evidence["sync"] = outcome.sync.to_dict()
    return evidence


def _write(
    path: Path,
    data: bytes,
    config: Config,
    outcome: Outcome,
    store: ResultStore,
    *,
    who: Who,
    now: datetime,
    force: bool,
) -> Outcome:
    from parallel_run.audit import AuditEntry

    new_data = edited(
        data,
        outcome.capability,
        mode=outcome.to_mode,
        percent=outcome.to_percent if outcome.to_mode == "canary" else None,
    )
    forced = force and not outcome.decision.allowed
    entry = AuditEntry(
        capability=outcome.capability,
        from_mode=outcome.from_mode,
        from_percent=outcome.from_percent,
        to_mode=outcome.to_mode,
        to_percent=outcome.to_percent,
        source="cli",
        user=who.user,
        host=who.host,
        reason=outcome.reason,
        forced=forced,
        evidence=_audited_evidence(outcome),
        digest_before=outcome.digest_before,
        at=now,
    )
    stored = commit(path, data, new_data, entry, store)
    return replace(
        outcome,
        changed=True,
        forced=forced,
        digest_after=stored.entry.digest_after,
        audit_seq=stored.seq,
    )


def edited(data: bytes, capability: str, *, mode: Mode, percent: float | None) -> bytes:
    """routes.yaml's bytes with the capability's mode (and canary percent) changed: what a
    step writes, and what ``strangler plan`` compares with the file."""
    try:
        text = set_capability(data.decode("utf-8"), capability, mode=mode, percent=percent)
    except EditError as exc:
        raise LifecycleError(str(exc)) from None
    return text.encode("utf-8")


def commit(
    path: Path, data: bytes, new_data: bytes, entry: AuditEntry, store: ResultStore
) -> AuditRecord:
    """Write ``new_data`` over routes.yaml (read as ``data``), audited: it must validate, then
    ``entry`` (its ``digest_after`` set here) is appended just before the atomic rename; if the
    record cannot be stored, the file is not changed. Called under the edit lock."""
    from parallel_run.audit import append

    after = routes_file.digest(new_data)
    try:
        parse_routes(path, new_data, after)
    except BadRequest as exc:
        # never write a file the facade would reject
        raise LifecycleError(
            f"the edited routes file would be invalid, so it was not written:\n{exc}"
        ) from None
    stored: list[AuditRecord] = []

    def record() -> None:
        try:
            stored.extend(append(store, [replace(entry, digest_after=after)]))
        except Exception as exc:
            raise LifecycleError(
                f"cannot append to the audit trail ({type(exc).__name__}: {exc}); "
                "nothing was changed"
            ) from None

    routes_file.write_atomic(
        path, new_data, expect_digest=routes_file.digest(data), before_commit=record
    )
    return stored[0]
