"""strangler_sync on a real PostgreSQL (initdb + pg_ctl): capture triggers on a table shaped
like the shop's ``catalog_product`` written by plain SQL, the transaction-local echo guard,
two relays splitting one outbox with ``FOR UPDATE SKIP LOCKED``, and the ledger's per-key
compare-and-set refusing an older version once a newer one committed, also when both race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from acl.data import Admission, Change, Conflict, Version
from strangler_sync import (
    CapturedTable,
    CaptureError,
    CaptureSpec,
    ChangeLog,
    SqlAlchemyTx,
    SqlLedger,
    guard,
    inspect,
    install,
    remove,
)
from strangler_sync.sqltx import sync_engine
from strangler_sync.triggers import trigger_names
from tests.support import postgres
from tests.support.probe import wait_until

pytestmark = pytest.mark.integration

PRODUCTS = """CREATE TABLE catalog_product (
  id bigserial PRIMARY KEY, sku varchar(32) NOT NULL UNIQUE, name varchar(200) NOT NULL,
  unit_price_cents integer NOT NULL, currency varchar(3) NOT NULL DEFAULT 'EUR',
  stock integer NOT NULL DEFAULT 0, reserved integer NOT NULL DEFAULT 0,
  active boolean NOT NULL DEFAULT true, updated_at timestamptz NOT NULL DEFAULT now())"""
CATALOG = CaptureSpec(
    "product-catalog",
    (
        CapturedTable(
            "catalog_product",
            "sku",
            ("sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at"),
        ),
    ),
)
INVENTORY = CaptureSpec(
    "inventory", (CapturedTable("catalog_product", "sku", ("sku", "stock", "reserved")),)
)


@pytest.fixture(scope="module")
def server() -> Iterator[postgres.PostgresServer]:
    with postgres.running() as running:
        yield running


@pytest.fixture
def engine(server: postgres.PostgresServer, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A database of its own per test, the product table in it, both captures installed."""
    name = request.node.name.lower().replace("[", "_").replace("]", "")[:60]
    engine = sync_engine(server.create_database(name))
    with engine.begin() as conn:
        conn.execute(text(PRODUCTS))
        for spec in (CATALOG, INVENTORY):
            install(SqlAlchemyTx(conn), spec)
    yield engine
    engine.dispose()


def run(engine: Engine, sql: str, params: dict[str, object] | None = None) -> list[Any]:
    with engine.begin() as conn:
        return SqlAlchemyTx(conn).execute(sql, params)


def add(engine: Engine, *skus: str) -> None:
    for sku in skus:
        run(
            engine,
            "INSERT INTO catalog_product (sku, name, unit_price_cents) VALUES (:s, :s, 100)",
            {"s": sku},
        )


def outbox(engine: Engine, aggregate: str, after: int = 0) -> list[tuple[str, str, Any]]:
    rows = run(
        engine,
        "SELECT aggregateid, type, payload FROM strangler_outbox"
        " WHERE aggregatetype = :a AND seq > :s ORDER BY seq",
        {"a": aggregate, "s": after},
    )
    return [(key, op, payload) for key, op, payload in rows]


def newest(engine: Engine) -> int:
    return int(run(engine, "SELECT coalesce(max(seq), 0) FROM strangler_outbox")[0][0])


def test_install_is_idempotent_and_inspect_reads_pg_trigger(engine: Engine) -> None:
    with engine.begin() as conn:
        tx = SqlAlchemyTx(conn)
        first = inspect(tx, INVENTORY)
        again = install(tx, INVENTORY)
    assert first.state == again.state == "installed"
    assert again.epoch == first.epoch
    names = run(
        engine,
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'strangler__inv%'"
        " ORDER BY 1",
    )
    assert [n for (n,) in names] == sorted(trigger_names(INVENTORY, "postgresql"))
    run(engine, "DROP TRIGGER strangler__inventory__catalog_product__upd ON catalog_product")
    with engine.begin() as conn:
        state = inspect(SqlAlchemyTx(conn), INVENTORY)
        assert (state.state, state.missing_triggers) == (
            "missing",
            ("strangler__inventory__catalog_product__upd",),
        )
        assert remove(SqlAlchemyTx(conn), INVENTORY).state == "absent"
    assert run(engine, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'strangler__inv%'") == [
        (0,)
    ]


def test_raw_sql_writes_are_captured_with_their_payloads(engine: Engine) -> None:
    add(engine, "A", "B")
    inventory = outbox(engine, "inventory")
    assert [(k, op) for k, op, _ in inventory] == [("A", "upsert"), ("B", "upsert")]
    assert inventory[0][2] == {"sku": "A", "stock": 0, "reserved": 0}
    catalog = outbox(engine, "product-catalog")[0][2]
    assert (catalog["unit_price_cents"], catalog["active"], catalog["currency"]) == (
        100,
        True,
        "EUR",
    )

    mark = newest(engine)
    run(engine, "UPDATE catalog_product SET unit_price_cents = 250 WHERE sku = 'A'")
    assert outbox(engine, "inventory", mark) == []  # not inventory's column
    assert [(k, p["unit_price_cents"]) for k, _, p in outbox(engine, "product-catalog", mark)] == [
        ("A", 250)
    ]

    mark = newest(engine)
    run(engine, "UPDATE catalog_product SET stock = stock")  # equal values: nothing changed
    assert outbox(engine, "inventory", mark) == []
    assert outbox(engine, "product-catalog", mark) == []

    mark = newest(engine)
    run(engine, "UPDATE catalog_product SET stock = stock + 3")
    assert sorted((k, op, p["stock"]) for k, op, p in outbox(engine, "inventory", mark)) == [
        ("A", "upsert", 3),
        ("B", "upsert", 3),
    ]

    mark = newest(engine)
    run(engine, "UPDATE catalog_product SET sku = 'A2' WHERE sku = 'A'")
    assert [(k, op, p) for k, op, p in outbox(engine, "inventory", mark)] == [
        ("A2", "upsert", {"sku": "A2", "stock": 3, "reserved": 0}),
        ("A", "delete", {"sku": "A"}),
    ]

    mark = newest(engine)
    run(engine, "DELETE FROM catalog_product WHERE sku = 'B'")
    assert outbox(engine, "inventory", mark) == [("B", "delete", {"sku": "B"})]
    assert [(k, op) for k, op, _ in outbox(engine, "product-catalog", mark)] == [("B", "delete")]
    ids = run(engine, "SELECT count(DISTINCT id), count(*) FROM strangler_outbox")
    assert ids[0][0] == ids[0][1]  # Debezium's id: one uuid per row


def test_the_echo_guard_silences_only_its_capability_for_its_transaction(
    engine: Engine,
) -> None:
    add(engine, "A")
    mark = newest(engine)
    with engine.connect() as conn:
        with conn.begin():
            guard(SqlAlchemyTx(conn), "inventory")
            conn.execute(text("UPDATE catalog_product SET stock = 5 WHERE sku = 'A'"))
        assert outbox(engine, "inventory", mark) == []
        # the catalog's capture still sees the sync's write
        assert [(k, p["stock"]) for k, _, p in outbox(engine, "product-catalog", mark)] == [
            ("A", 5)
        ]
        mark = newest(engine)
        with conn.begin():  # the same session, a later transaction: captured again
            conn.execute(text("UPDATE catalog_product SET stock = 6 WHERE sku = 'A'"))
        assert [k for k, _, _ in outbox(engine, "inventory", mark)] == ["A"]


def test_two_relays_split_the_pending_entries_and_a_dropped_claim_comes_back(
    engine: Engine,
) -> None:
    add(engine, *(f"K{i:02}" for i in range(10)))
    first = ChangeLog(engine, aggregate="inventory", direction="forward", holder="r1")
    second = ChangeLog(engine, aggregate="inventory", direction="forward", holder="r2")
    with first.claim(4) as one:
        with second.claim(100) as two:
            mine = {e.seq for e in one.entries}
            theirs = {e.seq for e in two.entries}
            assert (len(mine), len(theirs)) == (4, 6)
            assert not mine & theirs
            two.done(sorted(theirs), [])
        assert second.stats().pending == 4  # still held by r1, and pending
        # r1 dies before done: its transaction rolls back when the claim closes
    with second.claim(100) as again:
        assert {e.seq for e in again.entries} == mine
        again.done([min(mine)], [(max(mine), "translate", "currency", "XYZ")])
    stats = first.stats()
    assert (stats.pending, stats.parked) == (2, 1)
    key_of = {e.seq: e.key for e in one.entries}
    assert first.parked() == [(max(mine), key_of[max(mine)], "translate", "currency", "XYZ", 1)]
    assert first.unpark() == 1
    assert first.stats().pending == 3


def test_park_unpark_stats_and_prune(engine: Engine) -> None:
    add(engine, "A", "B", "C")
    log = ChangeLog(engine, aggregate="inventory", direction="forward", holder="r1")
    epoch = log.epoch()
    seq_of = {
        k: int(s)
        for k, s in run(
            engine,
            "SELECT aggregateid, seq FROM strangler_outbox WHERE aggregatetype = 'inventory'",
        )
    }
    assert log.fence(["A", "C", "Z"]) == {
        "A": Version(epoch, seq_of["A"]),
        "C": Version(epoch, seq_of["C"]),
        "Z": None,
    }
    with log.claim(10) as claim:
        seqs = {e.key: e.seq for e in claim.entries}
        claim.done([seqs["A"], seqs["C"]], [(seqs["B"], "target", "(row)", "refused")])
    assert log.parked() == [(seqs["B"], "B", "target", "(row)", "refused", 1)]
    stats = log.stats()
    assert (stats.pending, stats.parked, stats.oldest_pending_at) == (0, 1, None)
    assert log.prune(datetime.now(UTC) + timedelta(hours=1)) == 2  # A and C, never B
    assert [
        k
        for (k,) in run(
            engine, "SELECT aggregateid FROM strangler_outbox WHERE aggregatetype = 'inventory'"
        )
    ] == ["B"]


def test_a_later_applied_change_resolves_the_parked_ones_of_its_key(engine: Engine) -> None:
    add(engine, "A", "B")
    log = ChangeLog(engine, aggregate="inventory", direction="forward", holder="r1")
    with log.claim(10) as claim:
        seq = {e.key: e.seq for e in claim.entries}
        claim.done([], [(seq["A"], "source", "(row)", "x"), (seq["B"], "source", "(row)", "y")])
    run(engine, "UPDATE catalog_product SET stock = 4 WHERE sku = 'A'")
    with log.claim(10) as claim:
        assert [e.key for e in claim.entries] == ["A"]
        claim.done([e.seq for e in claim.entries], [])
    assert log.parked() == [(seq["B"], "B", "source", "(row)", "y", 1)]  # B's stays parked
    assert run(engine, "SELECT seq FROM strangler_parked") == [(seq["B"],)]
    assert log.stats().pending == 0


def _change(key: str, seq: int, epoch: str = "e1") -> Change:
    return Change(key, {"sku": key}, Version(epoch, seq))


def test_the_ledger_refuses_an_older_version_after_a_newer_one(engine: Engine) -> None:
    ledger = SqlLedger("inventory", "forward")
    with engine.begin() as conn:
        assert [c.key for c in ledger.admit(SqlAlchemyTx(conn), [_change("A", 5)]).write] == ["A"]
    with engine.begin() as conn:
        admission = ledger.admit(SqlAlchemyTx(conn), [_change("A", 3), _change("B", 1)])
    assert ([c.key for c in admission.write], admission.stale) == (["B"], ("A",))


def test_racing_applies_of_one_key_serialise_and_the_older_is_stale(engine: Engine) -> None:
    """R1 admits version 5 and holds A's ledger row; R2 admits version 3 meanwhile: it waits
    for R1's commit, then finds 5 and counts itself stale."""
    ledger = SqlLedger("inventory", "forward")
    seen: list[Admission] = []
    with engine.connect() as r1:
        r1.begin()
        assert ledger.admit(SqlAlchemyTx(r1), [_change("A", 5)]).write

        def second() -> None:
            with engine.begin() as r2:
                seen.append(ledger.admit(SqlAlchemyTx(r2), [_change("A", 3)]))

        racer = threading.Thread(target=second)
        racer.start()
        wait_until(
            lambda: bool(
                run(engine, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ),
            "the second apply waits for A's ledger row",
        )
        assert not seen
        r1.commit()
    racer.join(timeout=30)
    assert [(a.write, a.stale) for a in seen] == [((), ("A",))]


def test_a_conflict_on_postgres_goes_to_the_owner(engine: Engine) -> None:
    add(engine, "A")  # the target's own change of A (its outbox row)
    target_seq = int(
        run(engine, "SELECT max(seq) FROM strangler_outbox WHERE aggregatetype = 'inventory'")[0][0]
    )
    owner = SqlLedger("inventory", "back", owner="target", target_aggregate="inventory")
    with engine.begin() as conn:
        admission = owner.admit(SqlAlchemyTx(conn), [_change("A", 9)])
    assert (admission.write, admission.conflicts) == ((), (Conflict("A", "target", target_seq),))
    # not written, but settled: the other direction's peer view finds it
    assert run(engine, "SELECT key, version FROM strangler_sync_ledger") == [("A", 9)]


def test_removing_a_capture_whose_table_is_gone_is_quiet(engine: Engine) -> None:
    ghost = CaptureSpec("ghost", (CapturedTable("no_such_table", "k", ("k",)),))
    with engine.begin() as conn:
        assert remove(SqlAlchemyTx(conn), ghost).state == "absent"


def _prepared(engine: Engine, table: str) -> list[tuple[str, int, int]]:
    """(statement, generic plans, custom plans) psycopg prepared on the engine's connection."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE :table"
            ),
            {"table": f"%{table}%"},
        )
        return [(str(s), int(g), int(c)) for s, g, c in rows]


def test_ledger_lookups_never_run_on_a_generic_plan(engine: Engine) -> None:
    """psycopg prepares a statement run 5 times, and PostgreSQL may then cache a generic plan:
    one made while the ledger was empty looked the keys up by filtering every ledger row of
    the capability, 0.1-0.2 s a batch once it had grown (docs/benchmarks.md). The target's
    engine is a service's own (not ``sync_engine``): the ledger sees to its transaction."""
    target = create_engine(engine.url, pool_size=1, max_overflow=0)
    try:
        ledger = SqlLedger("inventory", "forward")
        for batch in range(8):
            changes = [_change(f"K{batch}-{i:03}", 1) for i in range(200)]
            with target.begin() as conn:
                assert len(ledger.admit(SqlAlchemyTx(conn), changes).write) == 200
        lookups = _prepared(target, "strangler_sync_ledger")
    finally:
        target.dispose()
    assert lookups  # prepared, and so cached: the case at stake
    assert [(statement, generic) for statement, generic, _ in lookups if generic] == []


def test_the_sync_engine_plans_every_statement_for_its_parameters(engine: Engine) -> None:
    """The relay's own connections (outbox claims, fences, marks): custom plans only."""
    with engine.connect() as conn:
        assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def _state(engine: Engine, spec: CaptureSpec) -> str:
    with engine.begin() as conn:
        return inspect(SqlAlchemyTx(conn), spec).state


def test_a_renamed_captured_column_leaves_the_monolith_writing_and_capture_drifted(
    engine: Engine,
) -> None:
    run(engine, "ALTER TABLE catalog_product RENAME COLUMN currency TO currency_code")

    add(engine, "A")  # the monolith's own writes go on
    run(engine, "UPDATE catalog_product SET unit_price_cents = 200 WHERE sku = 'A'")

    assert _state(engine, CATALOG) == "drifted"
    assert _state(engine, INVENTORY) == "installed"  # it captures no renamed column
    assert [(k, op, p["currency"]) for k, op, p in outbox(engine, "product-catalog")] == [
        ("A", "upsert", None),
        ("A", "upsert", None),
    ]


def test_a_captured_column_dropped_with_cascade_leaves_inserts_and_deletes_working(
    engine: Engine,
) -> None:
    run(engine, "ALTER TABLE catalog_product DROP COLUMN active CASCADE")  # as Django does

    add(engine, "A")
    run(engine, "UPDATE catalog_product SET name = 'x' WHERE sku = 'A'")
    run(engine, "DELETE FROM catalog_product WHERE sku = 'A'")

    assert _state(engine, CATALOG) == "missing"  # CASCADE took the UPDATE trigger
    assert [(k, op) for k, op, _ in outbox(engine, "product-catalog")] == [
        ("A", "upsert"),
        ("A", "delete"),
    ]


def test_a_renamed_key_column_skips_the_outbox_row_but_not_the_write(engine: Engine) -> None:
    run(engine, "ALTER TABLE catalog_product RENAME COLUMN sku TO code")

    run(engine, "INSERT INTO catalog_product (code, name, unit_price_cents) VALUES ('A', 'A', 1)")

    assert _state(engine, CATALOG) == "drifted"
    assert outbox(engine, "product-catalog") == []


def test_a_key_that_is_not_unique_is_refused_on_postgres(engine: Engine) -> None:
    run(engine, "CREATE TABLE order_line (id bigserial PRIMARY KEY, sku varchar(32), qty int)")
    spec = CaptureSpec("lines", (CapturedTable("order_line", "sku", ("sku", "qty")),))

    with engine.begin() as conn, pytest.raises(CaptureError, match="order_line: the key column"):
        install(SqlAlchemyTx(conn), spec)
    run(engine, "CREATE UNIQUE INDEX order_line_sku ON order_line (sku)")
    with engine.begin() as conn:
        assert install(SqlAlchemyTx(conn), spec).state == "installed"


def test_one_key_over_two_tables_commits_in_seq_order(engine: Engine) -> None:
    run(engine, "CREATE TABLE stock_level (sku varchar(32) PRIMARY KEY, qty int NOT NULL)")
    spec = CaptureSpec(
        "two-tables",
        (
            CapturedTable("catalog_product", "sku", ("sku", "stock")),
            CapturedTable("stock_level", "sku", ("sku", "qty")),
        ),
    )
    with engine.begin() as conn:
        install(SqlAlchemyTx(conn), spec)
    add(engine, "A")
    first = engine.connect()
    try:
        first.execute(text("UPDATE catalog_product SET stock = 7 WHERE sku = 'A'"))  # seq n
        done = threading.Event()

        def second() -> None:  # the other table, the same key: waits for the first to commit
            run(engine, "INSERT INTO stock_level (sku, qty) VALUES ('A', 1)")
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        # held by the key's lock, not racing ahead to commit a later seq first
        wait_until(
            lambda: (
                run(
                    engine,
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                )[0][0]
                == 1
            ),
            "the second writer waits for the key",
        )
        assert not done.is_set()
        first.commit()
        thread.join(timeout=30)
        assert done.is_set()
    finally:
        first.close()
    assert [(k, op) for k, op, _ in outbox(engine, "two-tables")] == [("A", "upsert")] * 3


def test_while_the_outbox_is_held_a_captured_write_waits_and_reads_go_on(engine: Engine) -> None:
    add(engine, "H1")
    log = ChangeLog(engine, aggregate="product-catalog", direction="forward", holder="r1")
    before = log.fence(["H1"])
    with log.hold():
        with engine.connect() as writer:
            writer.execute(text("SET lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                # the row changes, then its trigger's outbox insert waits for the hold
                writer.execute(text("UPDATE catalog_product SET name = 'x' WHERE sku = 'H1'"))
            writer.rollback()
        assert log.fence(["H1"]) == before  # the fence cannot move while held
        assert run(engine, "SELECT name FROM catalog_product WHERE sku = 'H1'") == [("H1",)]
    run(engine, "UPDATE catalog_product SET name = 'x' WHERE sku = 'H1'")
    assert log.fence(["H1"]) != before
