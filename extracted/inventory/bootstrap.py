"""The composition root: ``create_app(settings)`` wires the database to the HTTP API.

Nothing happens at import time. The engine is opened and the migrations run to head in a
``cleanup_ctx`` when the app starts; the engine is disposed when it stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from extracted.inventory.adapters.database import create_inventory_engine, migrate
from extracted.inventory.entrypoints.http import ENGINE, UNIT_OF_WORK, add_routes, error_shape
from extracted.inventory.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork
from extracted.inventory.settings import InventorySettings

SETTINGS = web.AppKey("inventory_settings", InventorySettings)
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: InventorySettings) -> web.Application:
    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_inventory_engine(settings.database_url)
        try:
            await asyncio.to_thread(migrate, engine)

            def unit_of_work() -> UnitOfWork:
                return SqlAlchemyUnitOfWork(engine)

            app[ENGINE] = engine
            app[UNIT_OF_WORK] = unit_of_work
            yield  # teardown runs only if startup got this far
        finally:
            engine.dispose()

    app = web.Application(middlewares=[error_shape], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database)
    add_routes(app)
    return app
