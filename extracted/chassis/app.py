"""The aiohttp application every service is: its database opened in a ``cleanup_ctx``.

Nothing happens at import time. The engine is opened and the migrations run to head when the
app starts; the engine is disposed when it stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy import Engine

U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class Database(Generic[U]):
    """How a service opens its database and where the app keeps it."""

    open_engine: Callable[[str], Engine]
    migrate: Callable[[Engine], None]
    unit_of_work: Callable[[Engine], U]
    engine_key: web.AppKey[Engine]
    unit_of_work_key: web.AppKey[Callable[[], U]]


def service_app(
    database_url: str,
    *,
    database: Database[U],
    middlewares: Iterable[Middleware],
    add_routes: Callable[[web.Application], None],
    max_body_bytes: int,
) -> web.Application:
    async def open_database(app: web.Application) -> AsyncIterator[None]:
        engine = database.open_engine(database_url)
        try:
            await asyncio.to_thread(database.migrate, engine)

            def unit_of_work() -> U:
                return database.unit_of_work(engine)

            app[database.engine_key] = engine
            app[database.unit_of_work_key] = unit_of_work
            yield  # teardown runs only if startup got this far
        finally:
            engine.dispose()

    app = web.Application(middlewares=list(middlewares), client_max_size=max_body_bytes)
    app.cleanup_ctx.append(open_database)
    add_routes(app)
    return app
