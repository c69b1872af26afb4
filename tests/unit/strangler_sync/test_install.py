"""install / remove / inspect on a SQLite file: idempotent, the epoch kept, drift seen."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from strangler_sync import (
    CapturedTable,
    CaptureError,
    CaptureSpec,
    SqlAlchemyTx,
    ensure_outbox,
    inspect,
    install,
    remove,
)
from strangler_sync.triggers import trigger_names
from tests.unit.strangler_sync.conftest import INVENTORY, run


def _triggers(engine: Engine) -> list[tuple[object, ...]]:
    return run(engine, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1")


def test_a_database_without_capture_is_absent(engine: Engine) -> None:
    with engine.begin() as conn:
        state = inspect(SqlAlchemyTx(conn), INVENTORY)
    assert (state.state, state.epoch, state.pending) == ("absent", None, 0)


def test_installing_twice_keeps_the_triggers_and_the_epoch(engine: Engine) -> None:
    with engine.begin() as conn:
        first = install(SqlAlchemyTx(conn), INVENTORY)
    triggers = _triggers(engine)
    with engine.begin() as conn:
        second = install(SqlAlchemyTx(conn), INVENTORY)
    assert first.state == second.state == "installed"
    assert first.epoch is not None
    assert second.epoch == first.epoch
    assert _triggers(engine) == triggers
    assert [name for name, _ in triggers] == sorted(trigger_names(INVENTORY, "sqlite"))


def test_the_outbox_counts_pending_changes(engine: Engine) -> None:
    with engine.begin() as conn:
        install(SqlAlchemyTx(conn), INVENTORY)
    run(engine, "INSERT INTO catalog_product (sku, name, unit_price_cents) VALUES ('A', 'a', 1)")
    run(engine, "UPDATE catalog_product SET stock = 3")
    with engine.begin() as conn:
        assert inspect(SqlAlchemyTx(conn), INVENTORY).pending == 2


def test_removing_drops_the_triggers_and_keeps_the_epoch_unless_asked(engine: Engine) -> None:
    with engine.begin() as conn:
        epoch = install(SqlAlchemyTx(conn), INVENTORY).epoch
        removed = remove(SqlAlchemyTx(conn), INVENTORY)
    assert (removed.state, removed.epoch) == ("absent", epoch)
    assert _triggers(engine) == []
    run(engine, "INSERT INTO catalog_product (sku, name, unit_price_cents) VALUES ('A', 'a', 1)")
    assert run(engine, "SELECT count(*) FROM strangler_outbox") == [(0,)]
    with engine.begin() as conn:
        assert install(SqlAlchemyTx(conn), INVENTORY).epoch == epoch
        dropped = remove(SqlAlchemyTx(conn), INVENTORY, drop_outbox=True)
        assert (dropped.state, dropped.epoch) == ("absent", None)
        assert install(SqlAlchemyTx(conn), INVENTORY).epoch not in (None, epoch)


def test_a_rebuilt_table_shows_its_triggers_missing(engine: Engine) -> None:
    with engine.begin() as conn:
        install(SqlAlchemyTx(conn), INVENTORY)
    # what Django's SQLite schema editor does for most ALTERs: the triggers go with the table
    for sql in (
        "CREATE TABLE new__catalog_product AS SELECT * FROM catalog_product",
        "DROP TABLE catalog_product",
        "ALTER TABLE new__catalog_product RENAME TO catalog_product",
        "CREATE UNIQUE INDEX catalog_product_sku ON catalog_product (sku)",  # Django keeps it
    ):
        run(engine, sql)
    with engine.begin() as conn:
        state = inspect(SqlAlchemyTx(conn), INVENTORY)
        assert state.state == "missing"
        assert set(state.missing_triggers) == set(trigger_names(INVENTORY, "sqlite"))
        assert install(SqlAlchemyTx(conn), INVENTORY).state == "installed"


def test_another_column_list_is_drift_and_a_reinstall_replaces_the_triggers(
    engine: Engine,
) -> None:
    wider = CaptureSpec(
        "inventory",
        (CapturedTable("catalog_product", "sku", ("sku", "stock", "reserved", "name")),),
    )
    with engine.begin() as conn:
        install(SqlAlchemyTx(conn), INVENTORY)
        assert inspect(SqlAlchemyTx(conn), wider).state == "drifted"
        assert install(SqlAlchemyTx(conn), wider).state == "installed"
        assert inspect(SqlAlchemyTx(conn), INVENTORY).state == "drifted"
    run(engine, "INSERT INTO catalog_product (sku, name, unit_price_cents) VALUES ('A', 'a', 1)")
    run(engine, "UPDATE catalog_product SET name = 'b'")
    assert run(engine, "SELECT type FROM strangler_outbox ORDER BY seq") == [
        ("upsert",),
        ("upsert",),
    ]


def test_a_spec_naming_a_column_the_table_lacks_is_refused(engine: Engine) -> None:
    bad = CaptureSpec("inventory", (CapturedTable("catalog_product", "sku", ("sku", "qty")),))
    with engine.begin() as conn, pytest.raises(CaptureError, match="no column 'qty'"):
        install(SqlAlchemyTx(conn), bad)


def test_an_application_outbox_gets_one_epoch(engine: Engine) -> None:
    with engine.begin() as conn:
        first = ensure_outbox(SqlAlchemyTx(conn), "stock")
        assert ensure_outbox(SqlAlchemyTx(conn), "stock") == first
    assert len(first) == 32


def _coded(engine: Engine, ddl: str, table: str) -> CaptureSpec:
    """``ddl`` run; a spec capturing ``table`` by its ``code`` column."""
    for statement in ddl.split(";"):
        run(engine, statement)
    return CaptureSpec(table, (CapturedTable(table, "code", ("code", "qty")),))


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, qty INTEGER)",
        "CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, qty INTEGER);"
        " CREATE INDEX loose_code ON loose (code)",
        "CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, qty INTEGER, UNIQUE (code, qty))",
        "CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, qty INTEGER);"
        " CREATE UNIQUE INDEX loose_code ON loose (code) WHERE qty > 0",
    ],
)
def test_a_key_column_that_is_not_unique_is_refused(engine: Engine, ddl: str) -> None:
    spec = _coded(engine, ddl, "loose")

    with engine.begin() as conn, pytest.raises(CaptureError) as refused:
        install(SqlAlchemyTx(conn), spec)

    assert str(refused.value) == (
        "capability loose: table loose: the key column 'code' is neither the primary key"
        " nor under a unique index of its own"
    )


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE tight (code TEXT PRIMARY KEY, qty INTEGER)",
        "CREATE TABLE tight (id INTEGER PRIMARY KEY, code TEXT UNIQUE, qty INTEGER)",
        "CREATE TABLE tight (id INTEGER PRIMARY KEY, code TEXT, qty INTEGER);"
        " CREATE UNIQUE INDEX tight_code ON tight (code)",
    ],
)
def test_a_primary_or_unique_key_column_is_accepted(engine: Engine, ddl: str) -> None:
    spec = _coded(engine, ddl, "tight")

    with engine.begin() as conn:
        assert install(SqlAlchemyTx(conn), spec).state == "installed"


@pytest.mark.parametrize("name", ["Sku", "SKU", "catalog-product", "sku;drop", "1sku", ""])
def test_identifiers_are_plain_lowercase_names(name: str) -> None:
    with pytest.raises(CaptureError, match="plain lowercase SQL identifier"):
        CapturedTable(name, "sku", ("sku",))
    with pytest.raises(CaptureError, match="plain lowercase SQL identifier"):
        CapturedTable("catalog_product", name, (name,))
