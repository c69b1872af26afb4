"""Capture triggers generated from a CaptureSpec: every write path (ORM, ``update()``,
``bulk_create``, raw SQL, the admin) lands an outbox row in the writer's own transaction."""

from __future__ import annotations

from strangler_sync.schema import Dialect
from strangler_sync.spec import CaptureSpec


def trigger_names(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    """The triggers ``install`` creates for ``spec`` (what ``inspect`` looks for)."""
    raise NotImplementedError


def create_triggers(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    """DROP IF EXISTS + CREATE statements for every trigger (and PostgreSQL function)."""
    raise NotImplementedError


def drop_triggers(spec: CaptureSpec, dialect: Dialect) -> tuple[str, ...]:
    raise NotImplementedError
