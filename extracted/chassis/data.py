"""What every service's ``strangler data copy|verify`` target shares: its database opened
from the service's own settings, SQL errors as ``DataMoveError``, and a schema check so that
reading never creates a database.

A service's target subclasses ``ServiceTarget`` and adds ``count``, ``upsert`` and ``read``
in its own model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from acl.data import DataMoveError
from parallel_run.sqldb import resolve_url

_T = TypeVar("_T")


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

    def prepare(self) -> None:
        self._guarded(lambda: self._migrate(self._engine))
        self._schema_seen = True

    def close(self) -> None:
        self._engine.dispose()
