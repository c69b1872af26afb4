"""Installing, removing and inspecting a capability's capture: idempotent, one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from acl.data import SqlTx
from strangler_sync.spec import CaptureSpec


@dataclass(frozen=True, slots=True)
class CaptureState:
    """What a database holds for a capability. ``state``: installed (every trigger as the spec
    says), missing (none, or some dropped: a migration rebuilt the table), drifted (installed
    from another spec: re-run ``strangler data capture CAP``), absent (never installed)."""

    capability: str
    state: Literal["installed", "missing", "drifted", "absent"]
    epoch: str | None
    missing_triggers: tuple[str, ...] = ()
    pending: int = 0
    parked: int = 0


def install(tx: SqlTx, spec: CaptureSpec) -> CaptureState:
    """Create the sync tables if needed and (re)create the spec's triggers. Keeps the epoch of
    an earlier install, so re-running it changes nothing that a relay depends on."""
    raise NotImplementedError


def ensure_outbox(tx: SqlTx, aggregate: str) -> str:
    """Create the sync tables if needed and an epoch for an outbox an application writes itself
    (``record()``, the service side, no triggers); returns the epoch. Idempotent."""
    raise NotImplementedError


def remove(tx: SqlTx, spec: CaptureSpec, *, drop_outbox: bool = False) -> CaptureState:
    """Drop the spec's triggers; ``drop_outbox`` also forgets its epoch and outbox rows."""
    raise NotImplementedError


def inspect(tx: SqlTx, spec: CaptureSpec) -> CaptureState:
    raise NotImplementedError
