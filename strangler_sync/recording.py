"""An application's own outbox rows (the way back): a service records what it changed in the
same transaction as the change, in the outbox of its own database (``ensure_outbox`` made it).
The rows are the ones the capture triggers write: the relay cannot tell them apart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from acl.data import Key, Row, SqlTx
from strangler_sync.params import chunks
from strangler_sync.schema import OUTBOX

_PER_STATEMENT = 200  # 5 parameters a row: far below SQLite's variable limit


def _payload(key: Key, op: str, row: Row | None) -> str | None:
    if row is None:
        return None if op == "upsert" else json.dumps({"key": key})
    # dates, decimals: as their text, the way the triggers' json_object shows them
    return json.dumps(dict(row), default=str, sort_keys=True)


def record(
    tx: SqlTx,
    *,
    aggregate: str,
    changes: Sequence[tuple[Key, Literal["upsert", "delete"], Row | None]],
    origin: str = "app",
) -> None:
    """Insert one outbox row per change (``aggregatetype`` = ``aggregate``), in order: seq
    follows the order of ``changes``. ``Row`` is the payload (None: no payload)."""
    cast = "CAST(:p{i} AS jsonb)" if tx.dialect == "postgresql" else ":p{i}"
    for part in chunks(changes, _PER_STATEMENT):
        values: list[str] = []
        params: dict[str, object] = {"a": aggregate, "o": origin}
        for i, (key, op, row) in enumerate(part):
            if op not in ("upsert", "delete"):
                raise ValueError(f"an outbox change is an upsert or a delete, not {op!r}")
            values.append(f"(:a, :k{i}, :t{i}, {cast.format(i=i)}, :o)")
            params |= {f"k{i}": str(key), f"t{i}": op, f"p{i}": _payload(key, op, row)}
        tx.execute(
            f"INSERT INTO {OUTBOX} (aggregatetype, aggregateid, type, payload, origin)"
            f" VALUES {', '.join(values)}",
            params,
        )
