"""Changes made by hand-editing routes.yaml, noticed when the facade reloads it, go into the
audit trail too.

``capability_changes`` (pure) lists each capability whose mode or served share moved between
the old and the new configuration. ``notice`` hands them to one background thread, which opens
the result store and appends ``hand-edit`` records unless the move to the new file is already
recorded: the CLI appends its own record before it renames the file into place, and with
``--workers N`` every worker sees the same edit but the check (under the append lock) lets only
the first record it. The store being down costs a log line, never a request or the reload.
"""

from __future__ import annotations

import concurrent.futures
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from facade.config import Config, Mode, RoutesFile
from facade.gate import exposure

if TYPE_CHECKING:
    from facade.lifecycle import Who
    from parallel_run.audit import AuditEntry, AuditRecord
    from parallel_run.store import ResultStore

log = logging.getLogger("strangler.audit")


@dataclass(frozen=True, slots=True)
class CapabilityChange:
    """One capability's move; None on a side where the capability does not exist."""

    capability: str
    from_mode: Mode | None
    from_percent: float | None
    to_mode: Mode | None
    to_percent: float | None


def capability_changes(old: RoutesFile, new: RoutesFile) -> list[CapabilityChange]:
    """Capabilities added, removed, or whose mode or served share changed, by name."""
    changes = []
    for name in sorted(set(old.capabilities) | set(new.capabilities)):
        before = old.capabilities.get(name)
        after = new.capabilities.get(name)
        from_mode = before.mode if before is not None else None
        to_mode = after.mode if after is not None else None
        from_share = exposure(before.mode, before.canary.percent) if before is not None else None
        to_share = exposure(after.mode, after.canary.percent) if after is not None else None
        if (from_mode, from_share) != (to_mode, to_share):
            changes.append(CapabilityChange(name, from_mode, from_share, to_mode, to_share))
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
    future = _background().submit(record, old, new, changes)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def wait_idle(timeout: float = 10.0) -> None:
    """Wait for the records being written (tests, and a clean shutdown)."""
    concurrent.futures.wait(list(_pending), timeout=timeout)


def record(old: Config, new: Config, changes: list[CapabilityChange]) -> list[AuditRecord]:
    """Append the hand edit's records to the store ``new`` names; never raises."""
    from facade.lifecycle import open_store
    from parallel_run.audit import append_unrecorded

    try:
        store = open_store(new)
    except Exception as exc:
        log.warning(
            "routes file hand edit (sha256 %s) not recorded in the audit trail: %s",
            new.digest[:12],
            exc,
        )
        return []
    try:
        now = datetime.now(UTC)
        who = editor_of(new)
        entries = [_entry(change, old, new, who=who, now=now, store=store) for change in changes]
        stored = append_unrecorded(
            store, entries, digest_before=old.digest, digest_after=new.digest
        )
        for item in stored:
            log.info(
                "audit: hand edit of %s recorded (#%d): %s -> %s",
                item.entry.capability,
                item.seq,
                item.entry.from_mode,
                item.entry.to_mode,
            )
        return stored
    except Exception as exc:
        log.warning(
            "routes file hand edit (sha256 %s) not recorded in the audit trail: %s: %s",
            new.digest[:12],
            type(exc).__name__,
            exc,
        )
        return []
    finally:
        store.close()


def editor_of(config: Config) -> Who:
    """Who saved the file, as far as a reader can tell: its owner (an editor's save or rename
    makes the file theirs), on this host; the facade's own user if that is unknown."""
    import os
    import pwd

    from facade.lifecycle import Who

    current = Who.current()
    try:
        owner = pwd.getpwuid(os.stat(config.source).st_uid).pw_name
    except (OSError, KeyError):
        return current
    return Who(owner, current.host)


def _entry(
    change: CapabilityChange,
    old: Config,
    new: Config,
    *,
    who: Who,
    now: datetime,
    store: ResultStore,
) -> AuditEntry:
    from facade.lifecycle import evidence_for
    from parallel_run.audit import AuditEntry

    cap = new.routes.capabilities.get(change.capability) or old.routes.capabilities.get(
        change.capability
    )
    evidence = (
        evidence_for(store, change.capability, window=cap.promote.window, now=now).to_dict()
        if cap is not None
        else {}
    )
    return AuditEntry(
        capability=change.capability,
        from_mode=change.from_mode,
        from_percent=change.from_percent,
        to_mode=change.to_mode,
        to_percent=change.to_percent,
        source="hand-edit",
        user=who.user,
        host=who.host,
        evidence=evidence,
        digest_before=old.digest,
        digest_after=new.digest,
        at=now,
    )
