"""Read a facade's SQLite result store from a test while the facade writes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore


@contextmanager
def reading(store: Path) -> Iterator[ResultStore | None]:
    """The store opened to read, or None while there is none yet: the file is absent, or the
    facade's recorder is creating it right now (a poll then simply tries again)."""
    if not store.exists():
        yield None
        return
    try:
        db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    except OperationalError:
        yield None
        return
    try:
        yield db
    finally:
        db.close()
