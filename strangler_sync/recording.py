"""An application's own outbox rows (the way back): a service records what it changed in the
same transaction as the change, in the outbox of its own database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from acl.data import Key, Row, SqlTx


def record(
    tx: SqlTx,
    *,
    aggregate: str,
    changes: Sequence[tuple[Key, Literal["upsert", "delete"], Row | None]],
    origin: str = "app",
) -> None:
    """Insert one outbox row per change (``aggregatetype`` = ``aggregate``)."""
    raise NotImplementedError
