"""The catalog's composition root: ``create_app(settings)`` puts its database, units of work
and v1 API (products) on the chassis's app (``extracted.chassis.app``); nothing happens at
import time.
"""

from __future__ import annotations

from aiohttp import web

from extracted.catalog.adapters.database import create_catalog_engine, migrate
from extracted.catalog.entrypoints.http import ENGINE, UNIT_OF_WORK, add_routes, error_shape
from extracted.catalog.service_layer.unit_of_work import SqlAlchemyUnitOfWork, UnitOfWork
from extracted.catalog.settings import CatalogSettings
from extracted.chassis.app import Database, service_app

SETTINGS = web.AppKey("catalog_settings", CatalogSettings)
MAX_BODY_BYTES = 1024 * 1024
DATABASE: Database[UnitOfWork] = Database(
    open_engine=create_catalog_engine,
    migrate=migrate,
    unit_of_work=SqlAlchemyUnitOfWork,
    engine_key=ENGINE,
    unit_of_work_key=UNIT_OF_WORK,
)


def create_app(settings: CatalogSettings) -> web.Application:
    app = service_app(
        settings.database_url,
        database=DATABASE,
        middlewares=[error_shape],
        add_routes=add_routes,
        max_body_bytes=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    return app
