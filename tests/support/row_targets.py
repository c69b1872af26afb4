"""Checks every ``strangler data`` row target must pass, whatever its rows: a service's copy
target, and any sync target (a service, or the monolith on the way back)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from acl.data import (
    Admission,
    Change,
    DataMoveError,
    Key,
    Row,
    RowTarget,
    SqlTx,
    SyncTarget,
    Version,
)


def assert_reading_an_absent_database_creates_nothing(
    open_target: Callable[[str], RowTarget], tmp_path: Path
) -> None:
    """Counting or reading a database that is not there fails, and leaves no file behind."""
    path = tmp_path / "absent.db"
    absent = open_target(f"sqlite:///{path}")
    with pytest.raises(DataMoveError, match="has no schema yet"):
        absent.count()
    with pytest.raises(DataMoveError, match="has no schema yet"):
        absent.read(after=None, limit=1)
    absent.close()
    assert not path.exists()


def assert_the_plugin_opens_the_database_named_by(
    variable: str,
    plugin: Callable[[], object],
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The routes.yaml plugin (``module:attr``) makes a RowTarget on the service's own database,
    the one its environment variable names."""
    monkeypatch.setenv(variable, f"sqlite:///{tmp_path / 'from-env.db'}")
    made = plugin()
    assert isinstance(made, RowTarget)
    made.prepare()
    made.close()
    assert (tmp_path / "from-env.db").exists()


# -- strangler data sync: what every SyncTarget must do with its ledger ---------------------

EPOCH = "e0"


def changes_of(rows: Mapping[Key, Row | None], *, seq: int = 1) -> list[Change]:
    """One change per key at version (EPOCH, seq); None is a delete."""
    return [Change(key, row, Version(EPOCH, seq)) for key, row in rows.items()]


class FakeLedger:
    """``acl.data.Ledger`` that admits every change but those of ``stale`` keys, and proves it
    ran inside the target's transaction: it writes the admitted keys to ``ledger_probe`` on the
    ``SqlTx`` it was given (then, with ``fail``, runs SQL that fails, as a lost database
    would). A target that commits the probe but not its rows, or the reverse, breaks the
    contract."""

    def __init__(self, *, stale: Sequence[Key] = (), fail: bool = False) -> None:
        self.stale = set(stale)
        self.fail = fail
        self.calls: list[list[Key]] = []
        self.dialects: list[str] = []

    def admit(self, tx: SqlTx, changes: Sequence[Change]) -> Admission:
        self.calls.append([c.key for c in changes])
        self.dialects.append(tx.dialect)
        tx.execute("CREATE TABLE IF NOT EXISTS ledger_probe (key TEXT)")
        write = tuple(c for c in changes if c.key not in self.stale)
        for change in write:
            tx.execute("INSERT INTO ledger_probe (key) VALUES (:key)", {"key": change.key})
        if self.fail:
            tx.execute("SELECT * FROM no_such_table_the_database_is_gone")
        stale = tuple(c.key for c in changes if c.key in self.stale)
        return Admission(write=write, stale=stale)


def probed_keys(database: Path) -> list[Key]:
    """The keys a FakeLedger's committed transactions admitted in ``database``."""
    with closing(sqlite3.connect(database)) as connection:
        try:
            return [row[0] for row in connection.execute("SELECT key FROM ledger_probe")]
        except sqlite3.OperationalError:
            return []  # never committed: the table itself went with the rollback


@dataclass(frozen=True)
class SyncCase:
    """A SyncTarget on a SQLite file, with what its contract checks need: rows it takes,
    a row it refuses, and how to see what it stored (in its own rows' shape)."""

    target: SyncTarget
    database: Path
    rows: Mapping[Key, Row]  # at least three keys, none stored as given yet
    changed: Callable[[Row], Row]  # the same key's row, a value changed
    refused: tuple[Key, Row]  # a row the target's own rules refuse
    stored: Callable[[], Mapping[Key, Row]]


def assert_admitted_changes_are_written_once(case: SyncCase) -> None:
    ledger = FakeLedger()
    first = case.target.apply(changes_of(case.rows), ledger=ledger)
    assert (first.written, first.unchanged, first.rejected) == (len(case.rows), 0, ())
    assert first.admission is not None
    assert len(first.admission.write) == len(case.rows)
    assert {k: case.stored()[k] for k in case.rows} == dict(case.rows)
    again = case.target.apply(changes_of(case.rows, seq=2), ledger=ledger)
    assert (again.written, again.unchanged) == (0, len(case.rows))
    assert ledger.dialects == ["sqlite", "sqlite"]


def assert_only_what_the_ledger_admits_is_written(case: SyncCase) -> None:
    case.target.apply(changes_of(case.rows), ledger=FakeLedger())
    stale, fresh = list(case.rows)[:2]
    newer = {key: case.changed(case.rows[key]) for key in (stale, fresh)}
    applied = case.target.apply(changes_of(newer, seq=2), ledger=FakeLedger(stale=[stale]))
    assert applied.written == 1
    assert applied.admission is not None
    assert applied.admission.stale == (stale,)
    assert case.stored()[stale] == case.rows[stale]  # the ledger held a newer version
    assert case.stored()[fresh] == newer[fresh]


def assert_the_ledger_commits_and_rolls_back_with_the_rows(case: SyncCase) -> None:
    first, second = list(case.rows)[:2]
    case.target.apply(changes_of({first: case.rows[first]}), ledger=FakeLedger())
    assert probed_keys(case.database) == [first]
    with pytest.raises(DataMoveError):
        case.target.apply(changes_of({second: case.rows[second]}), ledger=FakeLedger(fail=True))
    assert case.stored().get(second) != case.rows[second]
    assert probed_keys(case.database) == [first]  # the failed apply left nothing behind


def assert_a_refused_row_never_reaches_the_ledger(case: SyncCase) -> None:
    ledger = FakeLedger()
    key, row = case.refused
    good = next(iter(case.rows))
    applied = case.target.apply(changes_of({key: row, good: case.rows[good]}), ledger=ledger)
    assert [r.key for r in applied.rejected] == [key]
    assert ledger.calls == [[good]]
    assert case.stored().get(key) != row
    assert case.stored()[good] == case.rows[good]


SYNC_TARGET_CONTRACT = (
    assert_admitted_changes_are_written_once,
    assert_only_what_the_ledger_admits_is_written,
    assert_the_ledger_commits_and_rolls_back_with_the_rows,
    assert_a_refused_row_never_reaches_the_ledger,
)
"""Every check a SyncTarget must pass; a target's tests parametrize over it."""


def outbox_rows(database: Path) -> list[tuple[str, str, str, str]]:
    """(aggregatetype, aggregateid, type, origin) of every outbox row, in seq order."""
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(
            "SELECT aggregatetype, aggregateid, type, origin FROM strangler_outbox ORDER BY seq"
        )
        return [tuple(map(str, row)) for row in rows]  # type: ignore[misc]
