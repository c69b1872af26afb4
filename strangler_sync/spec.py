"""Which tables and columns a capability's capture covers: a plain value, checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from strangler_sync.errors import CaptureError

# identifiers go into generated SQL: only plain names, never quoted or user-shaped text; and
# lowercase, as PostgreSQL folds unquoted names (a spec's "Sku" would meet a column "sku")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$", re.ASCII)
_CAPABILITY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$", re.ASCII)


def _check_name(what: str, name: str) -> str:
    if not _NAME.match(name):
        raise CaptureError(
            f"{what} {name!r} is not a plain lowercase SQL identifier ([a-z_][a-z0-9_]*)"
        )
    return name


def check_capability(capability: str) -> str:
    """``capability``, if it is a plain routes.yaml name (it is inlined into generated SQL)."""
    if not _CAPABILITY.match(capability):
        raise CaptureError(f"capability {capability!r} is not a routes.yaml capability name")
    return capability


@dataclass(frozen=True, slots=True)
class CapturedTable:
    """One table: ``key`` is the column naming the entity on both sides (the sku), ``columns``
    those whose change makes an outbox row (the key included)."""

    name: str
    key: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name("table", self.name)
        _check_name("key column", self.key)
        for column in self.columns:
            _check_name("column", column)
        if self.key not in self.columns:
            raise CaptureError(f"table {self.name}: the key column {self.key!r} is not in columns")
        if len(set(self.columns)) != len(self.columns):
            raise CaptureError(f"table {self.name}: a column is named twice")


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    """A capability's capture. ``payload`` "row" puts the captured columns in the outbox row
    (what Debezium consumers read); "key" only the key (the relay re-reads rows anyway)."""

    capability: str
    tables: tuple[CapturedTable, ...]
    payload: Literal["row", "key"] = "row"

    def __post_init__(self) -> None:
        check_capability(self.capability)
        if not self.tables:
            raise CaptureError(f"capability {self.capability}: capture names no table")


@dataclass(frozen=True, slots=True)
class Capture:
    """What a ``data.sync.capture`` plugin returns: the spec and the SQLAlchemy URL of the
    database holding those tables (the monolith's), where the outbox lives too."""

    spec: CaptureSpec
    url: str
