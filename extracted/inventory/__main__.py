"""``python -m extracted.inventory --port P [--host H] [--db URL] [--seed-from-json FILE]``.

Migrates the database, optionally upserts the stock levels of a JSON file (a list of
``{"sku", "on_hand", "reserved"}`` objects, or ``{"items": [...]}``), then serves until SIGINT
or SIGTERM, finishing in-flight requests first.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from extracted.chassis.cli import Seeding, run_service
from extracted.inventory.bootstrap import create_app
from extracted.inventory.entrypoints.http import UNIT_OF_WORK
from extracted.inventory.entrypoints.schema import set_stock_from_json
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import SetStock
from extracted.inventory.settings import InventorySettings


def _upsert_all(app: web.Application, commands: Sequence[SetStock]) -> None:
    # one transaction: a seed file is written whole or not at all
    uow = app[UNIT_OF_WORK]()
    # a seed brings levels from elsewhere (the monolith's export), not the service's own
    # changes: nothing in it is for the way back
    uow.capture = False
    services.stock_upsert_many(uow, commands)


def main(argv: Sequence[str] | None = None) -> None:
    run_service(
        argv,
        name="inventory",
        description=__doc__,
        settings=InventorySettings,
        create_app=create_app,
        seeding=Seeding("stock levels", set_stock_from_json, _upsert_all),
    )


if __name__ == "__main__":
    main()
