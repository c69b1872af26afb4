"""``python -m extracted.catalog --port P [--host H] [--db URL] [--seed-from-json FILE]``.

Migrates the database, optionally upserts the products of a JSON file (a list of products
in the v1 shape, or ``{"items": [...]}``), then serves until SIGINT or SIGTERM, finishing
in-flight requests first.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from extracted.catalog.bootstrap import create_app
from extracted.catalog.entrypoints.http import UNIT_OF_WORK
from extracted.catalog.entrypoints.schema import upsert_from_json
from extracted.catalog.service_layer import services
from extracted.catalog.service_layer.services import UpsertProduct
from extracted.catalog.settings import CatalogSettings
from extracted.chassis.cli import Seeding, run_service


def _upsert_all(app: web.Application, commands: Sequence[UpsertProduct]) -> None:
    for command in commands:
        services.product_upsert(app[UNIT_OF_WORK](), command)


def main(argv: Sequence[str] | None = None) -> None:
    run_service(
        argv,
        name="catalog",
        description=__doc__,
        settings=CatalogSettings,
        create_app=create_app,
        seeding=Seeding("products", upsert_from_json, _upsert_all),
    )


if __name__ == "__main__":
    main()
