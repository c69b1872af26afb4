"""``python -m extracted.inventory --port P [--host H] [--db URL] [--seed-from-json FILE]``.

Migrates the database, optionally upserts the stock levels of a JSON file (a list of
``{"sku", "on_hand", "reserved"}`` objects, or ``{"items": [...]}``), then serves until SIGINT
or SIGTERM, finishing in-flight requests first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

from extracted.inventory.bootstrap import create_app
from extracted.inventory.entrypoints.http import UNIT_OF_WORK
from extracted.inventory.entrypoints.schema import set_stock_from_json
from extracted.inventory.service_layer import services
from extracted.inventory.settings import DATABASE_ENV, InventorySettings

log = logging.getLogger("strangler.extracted.inventory")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m extracted.inventory", description=__doc__)
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default 8102)")
    parser.add_argument(
        "--db", default=None, help=f"SQLAlchemy URL (default ${DATABASE_ENV} or a SQLite file)"
    )
    parser.add_argument("--seed-from-json", type=Path, default=None, metavar="FILE")
    parser.add_argument("--shutdown-timeout", type=float, default=30.0)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = InventorySettings.from_env(database_url=args.db, host=args.host, port=args.port)
    app = create_app(settings)
    if args.seed_from_json is not None:
        seed_file: Path = args.seed_from_json
        # read and validated before serving: a bad seed file stops the start, not a request
        raw = json.loads(seed_file.read_text())
        commands = [
            set_stock_from_json(item) for item in (raw["items"] if isinstance(raw, dict) else raw)
        ]

        async def seed(app: web.Application) -> AsyncIterator[None]:
            await asyncio.to_thread(services.stock_upsert_many, app[UNIT_OF_WORK](), commands)
            log.info("seeded %d stock levels from %s", len(commands), seed_file)
            yield

        app.cleanup_ctx.append(seed)  # after the database's: it needs the migrated schema
    log.info("inventory on %s:%d, database %s", settings.host, settings.port, settings.database_url)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=args.shutdown_timeout,
        print=None,
    )


if __name__ == "__main__":
    main()
