"""``ChangeLog.hold`` on a real SQLite file: while the relay holds the outbox for a hot key's
read, no writer of the monolith's database commits; once released, writers go on."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from strangler_sync import ChangeLog, sync_engine

pytestmark = pytest.mark.integration


def test_no_write_commits_while_the_outbox_is_held(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE catalog_product (sku TEXT PRIMARY KEY, price INTEGER)")
    engine = sync_engine(f"sqlite:///{path}")
    outbox = ChangeLog(engine, aggregate="product-catalog", direction="forward", holder="t")
    writer = sqlite3.connect(path, timeout=0.2)
    try:
        with outbox.hold():
            with pytest.raises(sqlite3.OperationalError, match="locked"), writer:
                writer.execute("INSERT INTO catalog_product VALUES ('A', 1)")
            with closing(sqlite3.connect(path)) as reader:  # readers go on
                assert reader.execute("SELECT count(*) FROM catalog_product").fetchone() == (0,)
        with writer:
            writer.execute("INSERT INTO catalog_product VALUES ('A', 1)")
    finally:
        writer.close()
        engine.dispose()
