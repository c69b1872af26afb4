"""The newest outbox row of each key: what the relay fences a source's keys with, and what
the ledger compares a target's own changes with when it looks for conflicts."""

from __future__ import annotations

from collections.abc import Sequence

from acl.data import Key, SqlTx
from strangler_sync.params import as_int, member_of, parts
from strangler_sync.schema import CAPTURE, OUTBOX


def newest_seqs(
    tx: SqlTx, aggregate: str, keys: Sequence[Key]
) -> dict[Key, tuple[int, str | None]]:
    """Per key of ``aggregate`` that has an outbox row: its newest seq and the capture's epoch
    (None when the outbox has no capture row). One statement on PostgreSQL, one per 500 keys
    on SQLite, on the key index (aggregatetype, aggregateid, seq)."""
    newest: dict[Key, tuple[int, str | None]] = {}
    for part in parts(tx.dialect, list(dict.fromkeys(keys))):
        for key, seq, epoch in tx.execute(*_newest_sql(tx.dialect, aggregate, part)):
            if seq is not None:  # PostgreSQL's form answers every key, with no row as NULL
                newest[str(key)] = (as_int(seq), None if epoch is None else str(epoch))
    return newest


def _newest_sql(dialect: str, aggregate: str, keys: Sequence[Key]) -> tuple[str, dict[str, object]]:
    epoch = f"(SELECT epoch FROM {CAPTURE} WHERE capability = :a)"
    if dialect == "postgresql":
        # one backward descent of the key index per key (max() as LIMIT 1), not a read of
        # every outbox row the key ever had, as GROUP BY does
        return (
            f"SELECT k.key, (SELECT max(o.seq) FROM {OUTBOX} o WHERE o.aggregatetype = :a"
            f" AND o.aggregateid = k.key), {epoch}"
            " FROM unnest(CAST(:k AS text[])) AS k(key)",
            {"a": aggregate, "k": list(keys)},
        )
    member, params = member_of(dialect, "o.aggregateid", "k", keys)
    return (
        f"SELECT o.aggregateid, max(o.seq), {epoch} FROM {OUTBOX} o"
        f" WHERE o.aggregatetype = :a AND {member} GROUP BY o.aggregateid",
        {"a": aggregate, **params},
    )
