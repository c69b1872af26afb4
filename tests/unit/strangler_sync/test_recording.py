"""record(): an application's own outbox rows, claimed like captured ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strangler_sync import ChangeLog, SqlAlchemyTx, ensure_outbox, record
from strangler_sync.sqltx import sync_engine
from tests.unit.strangler_sync.conftest import run


def test_recorded_changes_are_outbox_rows_in_order(tmp_path: Path) -> None:
    engine = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    with engine.begin() as conn:
        tx = SqlAlchemyTx(conn)
        epoch = ensure_outbox(tx, "stock")
        record(
            tx,
            aggregate="stock",
            changes=[
                ("SKU-1", "upsert", {"sku": "SKU-1", "on_hand": 4}),
                ("SKU-2", "delete", None),
            ],
        )
    rows = run(
        engine,
        "SELECT aggregatetype, aggregateid, type, payload, origin FROM strangler_outbox"
        " ORDER BY seq",
    )
    assert [(a, k, t, o) for a, k, t, _, o in rows] == [
        ("stock", "SKU-1", "upsert", "app"),
        ("stock", "SKU-2", "delete", "app"),
    ]
    assert json.loads(str(rows[0][3])) == {"sku": "SKU-1", "on_hand": 4}
    log = ChangeLog(engine, aggregate="stock", direction="back", holder="relay")
    assert log.epoch() == epoch
    with log.claim(10) as claim:
        assert [(e.key, e.type) for e in claim.entries] == [
            ("SKU-1", "upsert"),
            ("SKU-2", "delete"),
        ]
    engine.dispose()


def test_a_change_is_an_upsert_or_a_delete(tmp_path: Path) -> None:
    engine = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    with engine.begin() as conn:
        tx = SqlAlchemyTx(conn)
        ensure_outbox(tx, "stock")
        with pytest.raises(ValueError, match="upsert or a delete"):
            record(tx, aggregate="stock", changes=[("K", "merge", None)])  # type: ignore[list-item]
    engine.dispose()
