"""What every service's ``strangler data copy|verify`` target shares: its database opened
from the service's own settings, SQL errors as ``DataMoveError``, and a schema check so that
reading never creates a database.

A service's target subclasses ``ServiceTarget`` and adds ``count``, ``upsert`` and ``read``
in its own model; for ``strangler data sync`` also ``apply`` (through ``apply_changes``, which
holds the transaction the sync's ledger and the service's writes share).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from acl.data import Applied, Change, DataMoveError, Key, Ledger, Rejected, Row
from extracted.chassis.unit_of_work import SqlAlchemyUnitOfWork
from parallel_run.sqldb import resolve_url

_T = TypeVar("_T")
_P = TypeVar("_P")
_U = TypeVar("_U", bound=SqlAlchemyUnitOfWork)

Prepared = tuple[Key, _P | None]
"""An admitted change as the service writes it: its own value, or None for a delete."""


class ServiceTarget:
    def __init__(
        self,
        *,
        service: str,
        url: str,
        database_env: str,
        open_engine: Callable[[str], Engine],
        migrate: Callable[[Engine], None],
        current_revision: Callable[[Engine], str | None],
    ) -> None:
        self.url = url
        self._service = service
        self._database_env = database_env
        self._engine = open_engine(url)
        self._migrate = migrate
        self._current_revision = current_revision
        self._schema_seen = False

    def _shown(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def _database_file(self) -> Path | None:
        parsed = resolve_url(self.url, base_dir=Path.cwd())
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return Path(str(parsed.database))

    def _guarded(self, work: Callable[[], _T]) -> _T:
        try:
            return work()
        except SQLAlchemyError as exc:
            raise DataMoveError(f"the {self._service} database {self._shown()}: {exc}") from exc

    def _require_schema(self) -> None:
        """Reading never creates: a database that is not there is an error, not zero rows."""
        if self._schema_seen:
            return
        path = self._database_file()
        missing = path is not None and not path.exists()
        if missing or self._guarded(lambda: self._current_revision(self._engine)) is None:
            raise DataMoveError(
                f"the {self._service} database {self._shown()} has no schema yet: "
                f"`strangler data copy` creates it (check ${self._database_env})"
            )
        self._schema_seen = True

    def apply_changes(
        self,
        changes: Sequence[Change],
        *,
        ledger: Ledger,
        unit_of_work: type[_U],
        prepare: Callable[[Key, Row], _P | Rejected],
        write: Callable[[_U, Sequence[Prepared[_P]]], Applied],
    ) -> Applied:
        """``SyncTarget.apply`` of a service. Each row is first made the service's own value
        (``prepare``: a ``Rejected`` is refused before the ledger sees it, so a refused key's
        version stays where it was). Then, in ONE transaction (``BEGIN IMMEDIATE`` on SQLite,
        so the ledger's compare-and-set holds the write lock), the ledger admits what may be
        written and ``write`` writes exactly that, through a unit of work with capture off:
        what a sync brings is not recorded in the service's outbox (no echo)."""
        self._require_schema()
        ready: list[Change] = []
        values: dict[Key, _P] = {}
        rejected: list[Rejected] = []
        for change in changes:
            if change.row is not None:
                value = prepare(change.key, change.row)
                if isinstance(value, Rejected):
                    rejected.append(value)
                    continue
                values[change.key] = value
            ready.append(change)

        def work() -> Applied:
            with unit_of_work(self._engine, capture=False, sqlite_begin="BEGIN IMMEDIATE") as uow:
                admission = ledger.admit(uow.sql(), ready)
                done = write(
                    uow,
                    [(c.key, None if c.row is None else values[c.key]) for c in admission.write],
                )
                uow.commit()
            return dataclasses.replace(
                done, rejected=(*rejected, *done.rejected), admission=admission
            )

        return self._guarded(work)

    def prepare(self) -> None:
        self._guarded(lambda: self._migrate(self._engine))
        self._schema_seen = True

    def close(self) -> None:
        self._engine.dispose()
