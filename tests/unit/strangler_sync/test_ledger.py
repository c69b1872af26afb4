"""SqlLedger.admit on SQLite files: the per-key compare-and-set, epochs, conflicts decided
for the owner, and the echo guard, all inside the target's own transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from acl.data import Change, Conflict, Version
from strangler_sync import ChangeLog, SqlAlchemyTx, SqlLedger
from strangler_sync.sqltx import sync_engine
from tests.unit.strangler_sync.conftest import add, run

E1, E2 = "epoch-one", "epoch-two"


def _change(key: str, seq: int, epoch: str = E1) -> Change:
    return Change(key, {"sku": key}, Version(epoch, seq))


def _admit(engine: Engine, ledger: SqlLedger, *changes: Change) -> tuple[list[str], list[str]]:
    with engine.begin() as conn:
        admission = ledger.admit(SqlAlchemyTx(conn), changes)
    return [c.key for c in admission.write], list(admission.stale)


def _ledger(engine: Engine) -> list[tuple[object, ...]]:
    return run(engine, "SELECT key, epoch, version FROM strangler_sync_ledger ORDER BY key")


def test_only_strictly_newer_versions_are_admitted(tmp_path: Path) -> None:
    target = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")  # no sync tables yet
    ledger = SqlLedger("inventory", "forward")
    assert _admit(target, ledger, _change("A", 5), _change("B", 3)) == (["A", "B"], [])
    assert _ledger(target) == [("A", E1, 5), ("B", E1, 3)]
    # the same version again (a re-delivery after kill -9) and an older one: stale
    assert _admit(target, ledger, _change("A", 5), _change("B", 2)) == ([], ["A", "B"])
    assert _admit(target, ledger, _change("A", 6)) == (["A"], [])
    assert _ledger(target) == [("A", E1, 6), ("B", E1, 3)]
    target.dispose()


def test_a_new_epoch_is_admitted_whatever_its_seq(tmp_path: Path) -> None:
    target = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    ledger = SqlLedger("inventory", "forward")
    _admit(target, ledger, _change("A", 500))
    assert _admit(target, ledger, _change("A", 1, E2)) == (["A"], [])
    assert _ledger(target) == [("A", E2, 1)]
    target.dispose()


def test_directions_and_capabilities_keep_their_own_versions(tmp_path: Path) -> None:
    target = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    _admit(target, SqlLedger("inventory", "forward"), _change("A", 9))
    assert _admit(target, SqlLedger("inventory", "back"), _change("A", 1)) == (["A"], [])
    assert _admit(target, SqlLedger("product-catalog", "forward"), _change("A", 1)) == (["A"], [])
    target.dispose()


def test_one_batch_delivering_a_key_twice_writes_the_newer_once(tmp_path: Path) -> None:
    target = sync_engine(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    written, stale = _admit(
        target, SqlLedger("inventory", "forward"), _change("A", 4), _change("A", 2)
    )
    assert (written, stale) == (["A"], ["A"])
    assert _ledger(target) == [("A", E1, 4)]
    target.dispose()


def _target_change(captured: Engine) -> tuple[str, int]:
    """The monolith (the back direction's target) changes A itself: its own outbox row."""
    add(captured, "A")
    run(captured, "UPDATE catalog_product SET stock = 7 WHERE sku = 'A'")
    log = ChangeLog(captured, aggregate="inventory", direction="back", holder="t")
    version = log.fence(["A"])["A"]
    assert version is not None
    return version.epoch, version.seq


def test_a_key_changed_on_both_sides_goes_to_the_owner(captured: Engine) -> None:
    epoch, seq = _target_change(captured)
    source_owns = SqlLedger("inventory", "back", owner="source", target_aggregate="inventory")
    with captured.begin() as conn:
        admission = source_owns.admit(SqlAlchemyTx(conn), [_change("A", 3)])
    assert [c.key for c in admission.write] == ["A"]
    assert admission.conflicts == (Conflict("A", "source", seq),)

    target_owns = SqlLedger("inventory", "back", owner="target", target_aggregate="inventory")
    with captured.begin() as conn:
        admission = target_owns.admit(SqlAlchemyTx(conn), [_change("A", 4), _change("B", 4)])
    assert [c.key for c in admission.write] == ["B"]
    assert admission.conflicts == (Conflict("A", "target", seq),)
    # A is not written, but its version is settled: the peer view of the other direction
    assert _ledger(captured) == [("A", E1, 4), ("B", E1, 4)]
    assert epoch


def test_no_conflict_when_the_source_state_includes_the_targets_change(captured: Engine) -> None:
    epoch, seq = _target_change(captured)
    included = SqlLedger(
        "inventory",
        "back",
        owner="target",
        target_aggregate="inventory",
        peer={"A": Version(epoch, seq)},
    )
    with captured.begin() as conn:
        admission = included.admit(SqlAlchemyTx(conn), [_change("A", 3)])
    assert ([c.key for c in admission.write], admission.conflicts) == (["A"], ())


def test_a_lost_conflict_is_settled_in_the_ledger_but_not_written(captured: Engine) -> None:
    """The change that lost keeps its version in the ledger: the other direction reads it
    as its peer (what the source state includes), so it does not decide the same conflict
    again at each later change of the key; a delivery of it again is stale."""
    _target_change(captured)
    target_owns = SqlLedger("inventory", "back", owner="target", target_aggregate="inventory")
    with captured.begin() as conn:
        admission = target_owns.admit(SqlAlchemyTx(conn), [_change("A", 3)])
    assert (admission.write, len(admission.conflicts)) == ((), 1)
    assert _ledger(captured) == [("A", E1, 3)]
    log = ChangeLog(captured, aggregate="inventory", direction="back", holder="t")
    assert log.ledger_versions(["A"], capability="inventory", direction="back") == {
        "A": Version(E1, 3)
    }
    with captured.begin() as conn:
        again = target_owns.admit(SqlAlchemyTx(conn), [_change("A", 3)])
    assert (again.write, again.stale, again.conflicts) == ((), ("A",), ())


def test_admit_guards_its_transaction_against_echo(captured: Engine) -> None:
    add(captured, "A")
    before = run(captured, "SELECT count(*) FROM strangler_outbox")
    with captured.begin() as conn:
        tx = SqlAlchemyTx(conn)
        SqlLedger("inventory", "back").admit(tx, [_change("A", 3)])
        tx.execute("UPDATE catalog_product SET stock = 42 WHERE sku = 'A'")
    assert run(captured, "SELECT count(*) FROM strangler_outbox") == before
    assert run(captured, "SELECT stock FROM catalog_product") == [(42,)]
