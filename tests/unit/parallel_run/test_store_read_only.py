"""open_store_read_only: never creates, migrates or writes; a store not at head reads as
nothing, with a note."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from parallel_run.endpoint_traffic import EndpointTally, add_endpoint_tallies, endpoint_totals
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore, open_store_read_only
from parallel_run.store_settings import StoreSettings

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def settings(database: Path) -> StoreSettings:
    return StoreSettings(url=f"sqlite:///{database}", redactor=Redactor())


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    reading = open_store_read_only(settings(tmp_path / "sub" / "store.db"))
    assert reading.store is None
    assert reading.note is not None
    assert "none created" in reading.note
    assert not (tmp_path / "sub").exists()


def test_an_older_store_is_left_at_its_revision(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    ResultStore.open(f"sqlite:///{database}", redactor=Redactor(), revision="0005").close()
    before = (database.read_bytes(), database.stat().st_mtime_ns)

    reading = open_store_read_only(settings(database))

    assert reading.store is None
    assert reading.note is not None
    assert "revision 0005, not 0006" in reading.note
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before


def test_a_current_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    store = ResultStore.open(f"sqlite:///{database}", redactor=Redactor())
    add_endpoint_tallies(store, [EndpointTally(AT, "/a", "GET", "cap", "svc", 3)])
    store.close()
    before = database.read_bytes()

    reading = open_store_read_only(settings(database))
    try:
        assert reading.store is not None
        assert reading.note is None
        (total,) = endpoint_totals(reading.store)
        assert (total.endpoint, total.capability, total.count) == ("/a", "cap", 3)
        with pytest.raises(OperationalError, match="readonly"):
            add_endpoint_tallies(reading.store, [EndpointTally(AT, "/b", "GET", "", "x", 1)])
    finally:
        reading.close()
    assert database.read_bytes() == before
