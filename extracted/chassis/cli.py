"""``python -m extracted.<service> --port P [--host H] [--db URL] [--seed-from-json FILE]``.

Migrates the database, optionally writes the items of a JSON seed file (a list, or
``{"items": [...]}``) through the service's own use case, then serves until SIGINT or
SIGTERM, finishing in-flight requests first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web

from extracted.chassis.settings import ServiceSettings

C = TypeVar("C")
S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True, slots=True)
class Seeding(Generic[C]):
    """How a service reads a seed file's items and writes them."""

    noun: str  # what the items are, for the log: "products"
    read: Callable[[object], C]  # one item to a command; raises on a bad item
    write: Callable[[web.Application, Sequence[C]], None]  # in a worker thread, app started


def parser(
    name: str, *, description: str | None, default_port: int, database_env: str
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m extracted.{name}", description=description)
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port to bind (default {default_port})"
    )
    parser.add_argument(
        "--db", default=None, help=f"SQLAlchemy URL (default ${database_env} or a SQLite file)"
    )
    parser.add_argument("--seed-from-json", type=Path, default=None, metavar="FILE")
    parser.add_argument("--shutdown-timeout", type=float, default=30.0)
    return parser


def _seed_context(
    seeding: Seeding[C], seed_file: Path, log: logging.Logger
) -> Callable[[web.Application], AsyncIterator[None]]:
    # read and validated before serving: a bad seed file stops the start, not a request
    raw = json.loads(seed_file.read_text())
    commands = [seeding.read(item) for item in (raw["items"] if isinstance(raw, dict) else raw)]

    async def seed(app: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(seeding.write, app, commands)
        log.info("seeded %d %s from %s", len(commands), seeding.noun, seed_file)
        yield

    return seed


def run_service(
    argv: Sequence[str] | None,
    *,
    name: str,
    description: str | None,
    settings: type[S],
    create_app: Callable[[S], web.Application],
    seeding: Seeding[Any],
) -> None:
    """Parse ``argv``, build the service's app and serve it until a signal."""
    args = parser(
        name,
        description=description,
        default_port=settings().port,
        database_env=settings.database_env,
    ).parse_args(argv)
    log = logging.getLogger(f"strangler.extracted.{name}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    chosen = settings.from_env(database_url=args.db, host=args.host, port=args.port)
    app = create_app(chosen)
    if args.seed_from_json is not None:
        seed = _seed_context(seeding, args.seed_from_json, log)
        app.cleanup_ctx.append(seed)  # after the database's: it needs the migrated schema
    log.info("%s on %s:%d, database %s", name, chosen.host, chosen.port, chosen.database_url)
    web.run_app(
        app,
        host=chosen.host,
        port=chosen.port,
        shutdown_timeout=args.shutdown_timeout,
        print=None,
    )
