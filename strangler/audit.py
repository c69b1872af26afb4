"""Changes made by hand-editing routes.yaml, noticed when the facade reloads it, go into the
audit trail too.

``strangler serve`` registers ``on_reload`` as the facade's reload hook, so the facade never
imports this module. ``capability_changes`` (pure) lists each capability whose mode, served
share or ``retired`` flag moved between the old and the new configuration. ``notice`` hands
them to one background thread, which opens the result store and appends ``hand-edit`` records
unless the move to the new file is already recorded: the CLI appends its own record before it
renames the file into place, and with ``--workers N`` every worker sees the same edit but the
check (under the append lock) lets only the first record it. The store being down costs a log
line, never a request or the reload.

``config_in_force`` records which configuration each data-plane process runs (a facade, Envoy
or a compare service, all writing to one store): ``strangler status`` lists those replicas and
warns when they run different files (strangler.replicas)."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from facade.config import Config, Mode, RoutesFile
from parallel_run.store_import import load_store
from strangler.lifecycle.gate import exposure

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from parallel_run.audit import AuditEntry, AuditRecord
    from parallel_run.store import ResultStore
    from strangler.lifecycle.steps import Who

log = logging.getLogger("strangler.audit")


@dataclass(frozen=True, slots=True)
class CapabilityChange:
    """One capability's move; None on a side where the capability does not exist."""

    capability: str
    from_mode: Mode | None
    from_percent: float | None
    to_mode: Mode | None
    to_percent: float | None
    retired: bool | None = None  # the new ``retired`` flag, when the edit flipped it


def capability_changes(old: RoutesFile, new: RoutesFile) -> list[CapabilityChange]:
    """Capabilities added, removed, or whose mode, served share or ``retired`` flag changed
    (removing ``retired: true`` by hand is how a retired capability is reopened), by name."""
    changes = []
    for name in sorted(set(old.capabilities) | set(new.capabilities)):
        before = old.capabilities.get(name)
        after = new.capabilities.get(name)
        from_mode = before.mode if before is not None else None
        to_mode = after.mode if after is not None else None
        from_share = exposure(before.mode, before.canary.percent) if before is not None else None
        to_share = exposure(after.mode, after.canary.percent) if after is not None else None
        flipped = (
            after.retired
            if before is not None and after is not None and before.retired != after.retired
            else None
        )
        if (from_mode, from_share) != (to_mode, to_share) or flipped is not None:
            changes.append(
                CapabilityChange(name, from_mode, from_share, to_mode, to_share, flipped)
            )
    return changes


_executor: ThreadPoolExecutor | None = None
_pending: set[Future[list[AuditRecord]]] = set()


def _background() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        # one thread: records of one process go in the order the edits were seen
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strangler-audit")
    return _executor


def notice(old: Config, new: Config) -> None:
    """Called by the reloader once ``new`` is in force: record hand edits off the event loop.

    A plain thread-pool future, not ``loop.run_in_executor``: the record needs nothing from
    the loop, and a loop closing at shutdown must not meet a write still finishing."""
    changes = capability_changes(old.routes, new.routes)
    if not changes:
        return
    _in_background(lambda: record(old, new, changes))


def notice_at_start(config: Config) -> None:
    """Called when a facade process starts: record edits made while no facade was running,
    which no reload saw, by comparing the file with the state the audit trail last recorded.
    A SQLite store that does not exist holds no trail: then not even SQLAlchemy is imported
    (the facade imports it only once something needs the store: store_import)."""
    if _absent_sqlite_file(config.store_url):
        return
    _in_background(lambda: record_offline_edits(config))


def _absent_sqlite_file(url: str) -> bool:
    """Whether ``url`` (``Config.store_url``: a SQLite path made absolute) names a SQLite file
    that does not exist; False for any other database or form (SQLAlchemy reads those)."""
    prefix = "sqlite:////"
    if not url.startswith(prefix):
        return False
    return not Path(url[len(prefix) - 1 :].split("?", 1)[0]).exists()


def on_reload(old: Config | None, new: Config) -> None:
    """The facade's reload hook (``strangler serve`` registers it, facade.state.ReloadHook):
    ``old`` is None when the facade starts, else the configuration ``new`` replaced."""
    if old is None:
        notice_at_start(new)
    else:
        notice(old, new)


def _in_background(work: Callable[[], list[AuditRecord]]) -> None:
    future = _background().submit(_with_the_store, work)
    _pending.add(future)  # wait_idle() waits for it
    future.add_done_callback(_pending.discard)


def _with_the_store(work: Callable[[], list[AuditRecord]]) -> list[AuditRecord]:
    # the facade imports the store lazily: this thread may be the first to (store_import)
    load_store()
    return work()


def offline_changes(
    audited: Mapping[str, tuple[str | None, float | None]], routes: RoutesFile
) -> list[CapabilityChange]:
    """Audited capabilities whose mode or served share differs now from their last record.
    A capability the trail never mentions has no known earlier state, and is left alone."""
    changes = []
    for name in sorted(audited):
        from_mode, from_share = audited[name]
        cap = routes.capabilities.get(name)
        to_mode = cap.mode if cap is not None else None
        to_share = exposure(cap.mode, cap.canary.percent) if cap is not None else None
        if (from_mode, from_share) != (to_mode, to_share):
            changes.append(
                CapabilityChange(name, cast(Mode | None, from_mode), from_share, to_mode, to_share)
            )
    return changes


OFFLINE_REASON = "changed while no facade was running"


def record_offline_edits(config: Config) -> list[AuditRecord]:
    """Append ``hand-edit`` records for what changed since the trail's newest record, unless
    the file is as last recorded (or another worker recorded the same move first); never
    raises. A store that does not exist yet holds no trail: nothing is created for it."""
    from parallel_run import audit
    from parallel_run.sqldb import resolve_url

    url = resolve_url(config.store_url, base_dir=config.base_dir)
    if url.get_backend_name() == "sqlite" and not (
        url.database and url.database != ":memory:" and Path(url.database).exists()
    ):
        return []

    def append(store: ResultStore) -> list[AuditRecord]:
        # which file replicas ran says nothing about the capabilities' moves
        history = [r for r in audit.records(store) if r.entry.source != audit.CONFIG_IN_FORCE]
        if not history or history[0].entry.digest_after in (None, config.digest):
            return []
        changes = offline_changes(audit.last_states(history), config.routes)
        return _append(
            store,
            config,
            changes,
            digest_before=str(history[0].entry.digest_after),
            reason=OFFLINE_REASON,
        )

    return _in_store(config, append)


REPLICA_OF_ENV = "STRANGLER_REPLICA_OF"
"""Set by ``serve --engine envoy`` for the helpers it starts: the replica they belong to."""
IN_FORCE_CAPABILITY = "*"  # a config-in-force record is about the whole file
# a record of the same place and files this recent is another worker's: not recorded again
SAME_REPLICA_WITHIN = timedelta(seconds=60)
REPLICA_PLACE = ("host", "listen", "engine", "part_of")
REPLICA_HASHES = ("routes_sha256", "config_hash")
_started: set[tuple[str, str | None]] = set()  # (engine, listen) recorded once in this process
_store_down = False  # a store that is down is logged once, until a record goes through again
# a record the store refused is tried again this often, until it goes through or a newer one
# of the same replica replaces it: a replica's newest record is what status compares
RETRY_SECONDS = 30.0
_newest: dict[tuple[str, str | None], object] = {}  # (engine, listen) -> its newest replica


STOP_EVENT = "stop"
# a replica stopping waits this long for its stop record: it is on its way out, and a store
# that does not answer must not hold the stop up
STOP_WAIT_SECONDS = 3.0


def config_in_force(
    config: Config, *, engine: str, config_hash: str, listen: str | None = None
) -> None:
    """Record, in the background, that this process now runs ``config``: a ``config-in-force``
    entry naming the replica (host, pid, listen address, engine), ``config_hash`` (what the
    engine runs: Envoy's compiled files, routes.yaml itself for the Python engine) and
    routes.yaml's sha256, which every replica shares and drift is judged on. Called at start
    and after each reload that took; never raises, never blocks the caller."""
    try:
        key = (engine, listen)
        event = "reload" if key in _started else "start"
        _started.add(key)
        replica = _replica(config, engine=engine, config_hash=config_hash, listen=listen)
        if _absent_sqlite_file(config.store_url):
            return  # as at start (notice_at_start): no trail yet, and none created for this
        _newest[key] = replica
        at = datetime.now(UTC)
        _in_background(lambda: _record_or_retry(key, config, replica, event, at))
    except Exception:  # the data plane goes on whatever the audit trail does
        log.exception("config in force not recorded")


def _replica(
    config: Config, *, engine: str, config_hash: str, listen: str | None
) -> dict[str, object]:
    replica: dict[str, object] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "listen": listen,
        "engine": engine,
        "config_hash": config_hash,
        "routes_sha256": config.digest,
        "routes": str(config.source),
    }
    part_of = os.environ.get(REPLICA_OF_ENV)
    if part_of:
        replica["part_of"] = part_of
    return replica


def replica_stopped(config: Config, *, engine: str, listen: str | None = None) -> None:
    """Record that this replica stopped cleanly (a ``config-in-force`` entry whose event is
    ``stop``), so that ``strangler status`` stops listing it and judging drift by it. Called
    by the process that records its starts (``serve``'s parent process for its workers) once
    it has stopped serving; waits at most ``STOP_WAIT_SECONDS``, never raises. A replica that
    dies without one (killed, its host lost) stays listed until its last record is older
    than strangler.replicas' window."""
    try:
        if _absent_sqlite_file(config.store_url):
            return
        key = (engine, listen)
        last = _newest.get(key)
        config_hash = str(last.get("config_hash")) if isinstance(last, dict) else config.digest
        replica = _replica(config, engine=engine, config_hash=config_hash, listen=listen)
        # a start still being retried would land after the stop and list the replica again
        _newest[key] = replica
        at = datetime.now(UTC)
        future = _background().submit(
            _with_the_store, lambda: record_in_force(config, replica, STOP_EVENT, at=at) or []
        )
        future.result(timeout=STOP_WAIT_SECONDS)
    except Exception as exc:  # the stop goes on whatever the audit trail does
        log.warning("replica stop not recorded in the audit trail: %s: %s", type(exc).__name__, exc)


def _record_or_retry(
    key: tuple[str, str | None],
    config: Config,
    replica: Mapping[str, object],
    event: str,
    at: datetime,
) -> list[AuditRecord]:
    if _newest.get(key) is not replica:
        return []  # a newer configuration of this replica is recorded instead
    stored = record_in_force(config, replica, event, at=at)
    if stored is None:
        timer = threading.Timer(
            RETRY_SECONDS,
            lambda: _in_background(lambda: _record_or_retry(key, config, replica, event, at)),
        )
        timer.daemon = True  # never holds the process at its stop
        timer.start()
        return []
    return stored


def record_in_force(
    config: Config, replica: Mapping[str, object], event: str, *, at: datetime | None = None
) -> list[AuditRecord] | None:
    """Append one ``config-in-force`` entry for ``replica`` (put in force ``at``); never
    raises: None when the store failed. A store that is down is a warning once, then quiet
    until an entry is recorded again."""
    global _store_down
    from parallel_run.audit import CONFIG_IN_FORCE, AuditEntry, append_unless, in_force_rows
    from strangler.lifecycle.steps import Who, open_store

    now = at or datetime.now(UTC)

    def recorded(connection: Connection) -> bool:
        # the other workers of `serve --workers N` (same place, same files) a moment ago
        for record in in_force_rows(connection, since=now - SAME_REPLICA_WITHIN):
            seen = record.entry.evidence.get("replica")
            if isinstance(seen, dict) and all(
                seen.get(key) == replica.get(key) for key in REPLICA_PLACE
            ):
                if (record.entry.reason == STOP_EVENT) != (event == STOP_EVENT):
                    return False  # a start after a stop, or the stop after a start
                return all(seen.get(key) == replica.get(key) for key in REPLICA_HASHES)
        return False

    try:
        store = open_store(config)
        try:
            who = Who.current()
            entry = AuditEntry(
                capability=IN_FORCE_CAPABILITY,
                from_mode=None,
                from_percent=None,
                to_mode=None,
                to_percent=None,
                source=CONFIG_IN_FORCE,
                user=who.user,
                host=str(replica["host"]),
                reason=event,
                evidence={"replica": dict(replica)},
                at=now,
            )
            stored = append_unless(store, [entry], recorded)
        finally:
            store.close()
    except Exception as exc:
        if not _store_down:
            log.warning(
                "config in force (%s, routes sha256 %s) not recorded in the audit trail: "
                "%s: %s (logged once until the store answers again)",
                replica.get("engine"),
                config.digest[:12],
                type(exc).__name__,
                exc,
            )
        _store_down = True
        return None
    if _store_down:
        log.info("audit trail reachable again: config in force recorded")
    _store_down = False
    return stored


def replica_hook(engine: str, listen: str, old: Config | None, new: Config) -> None:
    """A facade reload hook (facade.state.ReloadHook, bound with ``functools.partial``):
    the Python engine's and the compare service's config in force, whose hash is the
    routes file's own."""
    config_in_force(new, engine=engine, config_hash=new.digest, listen=listen)


def wait_idle(timeout: float = 10.0) -> None:
    """Wait for the records being written (tests, and a clean shutdown)."""
    concurrent.futures.wait(list(_pending), timeout=timeout)


def record(old: Config, new: Config, changes: list[CapabilityChange]) -> list[AuditRecord]:
    """Append the hand edit's records to the store ``new`` names; never raises."""
    return _in_store(
        new,
        lambda store: _append(
            store, new, changes, digest_before=old.digest, reason=None, earlier=old
        ),
    )


def _in_store(
    config: Config, append: Callable[[ResultStore], list[AuditRecord]]
) -> list[AuditRecord]:
    """``append`` on the store ``config`` names, opened and closed here; a failure is a
    warning in the log, never an exception: the reload (or the start) goes on regardless."""
    from strangler.lifecycle.steps import open_store

    try:
        store = open_store(config)
    except Exception as exc:
        log.warning(
            "routes file hand edit (sha256 %s) not recorded in the audit trail: %s",
            config.digest[:12],
            exc,
        )
        return []
    try:
        return append(store)
    except Exception as exc:
        log.warning(
            "routes file hand edit (sha256 %s) not recorded in the audit trail: %s: %s",
            config.digest[:12],
            type(exc).__name__,
            exc,
        )
        return []
    finally:
        store.close()


def _append(
    store: ResultStore,
    new: Config,
    changes: list[CapabilityChange],
    *,
    digest_before: str,
    reason: str | None,
    earlier: Config | None = None,
) -> list[AuditRecord]:
    """The ``hand-edit`` records of ``changes``, from ``digest_before`` to ``new``'s digest,
    unless that move is recorded already (``append_unrecorded``)."""
    from parallel_run.audit import append_unrecorded

    if not changes:
        return []
    now = datetime.now(UTC)
    who = editor_of(new)
    entries = [
        _entry(change, new, earlier, who=who, now=now, store=store, reason=reason)
        for change in changes
    ]
    stored = append_unrecorded(store, entries, digest_before=digest_before, digest_after=new.digest)
    for item in stored:
        log.info(
            "audit: hand edit of %s recorded (#%d): %s -> %s%s",
            item.entry.capability,
            item.seq,
            item.entry.from_mode,
            item.entry.to_mode,
            f" ({reason})" if reason else "",
        )
    return stored


def editor_of(config: Config) -> Who:
    """Who saved the file, as far as a reader can tell: its owner (an editor's save or rename
    makes the file theirs), on this host; the facade's own user if that is unknown."""
    import pwd

    from strangler.lifecycle.steps import Who

    current = Who.current()
    try:
        owner = pwd.getpwuid(os.stat(config.source).st_uid).pw_name
    except (OSError, KeyError):
        return current
    return Who(owner, current.host)


def _entry(
    change: CapabilityChange,
    new: Config,
    earlier: Config | None,
    *,
    who: Who,
    now: datetime,
    store: ResultStore,
    reason: str | None,
) -> AuditEntry:
    """One record, with the evidence of the capability as it stands now (or stood before it
    was removed); ``append_unrecorded`` sets the digests."""
    from parallel_run.audit import AuditEntry
    from strangler.lifecycle.steps import evidence_for

    cap = new.routes.capabilities.get(change.capability)
    if cap is None and earlier is not None:
        cap = earlier.routes.capabilities.get(change.capability)
    evidence: dict[str, object] = (
        evidence_for(store, change.capability, window=cap.promote.window, now=now).to_dict()
        if cap is not None
        else {}
    )
    if change.retired is not None:
        evidence["step"] = "retire" if change.retired else "reopen"
    return AuditEntry(
        capability=change.capability,
        from_mode=change.from_mode,
        from_percent=change.from_percent,
        to_mode=change.to_mode,
        to_percent=change.to_percent,
        source="hand-edit",
        user=who.user,
        host=who.host,
        reason=reason,
        evidence=evidence,
        at=now,
    )
