"""The demo shop's product-catalog on SQLite files, set up for ``strangler data sync`` tests:
the monolith's database (migrated and seeded once per module, copied per test), the catalog's
own database (migrated), a routes.yaml with ``data.sync``, and a writer that changes the
monolith's products with plain SQL, as a batch job or the admin would (the triggers see it)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

from sqlalchemy import Connection, Engine, Row, create_engine, text

from extracted.catalog.adapters.database import create_catalog_engine, migrate
from tests.support.sync_targets import LOG_ENV

ROOT = Path(__file__).resolve().parents[2]
STRANGLER = str(Path(sys.executable).parent / "strangler")

ROUTES = """\
version: 1
legacy: {{url: "http://127.0.0.1:8000"}}
services:
  catalog: {{url: "http://127.0.0.1:8101"}}
capabilities:
  product-catalog:
    match: [{{methods: [GET], path: "/api/products/{{sku}}"}}]
    service: catalog
    mode: shadow
    data:
      source: legacy_monolith.data:products
      translate: acl.catalog_rows:product_row_from_legacy
      target: {target}
      batch_size: {batch}
      sync:
        capture: legacy_monolith.data:product_capture
store: {{url: "sqlite:///.strangler/strangler.db"}}
"""


def inventory_data(*, data: Sequence[str] = (), sync: Sequence[str] = (), back: bool = True) -> str:
    """The inventory capability's ``data:`` block in routes.yaml (indented under the capability):
    the shop's stock forward, the service's reservations back unless ``back`` is false;
    ``data``/``sync`` are extra ``key: value`` lines for those two sections."""
    lines = [
        "    data:",
        "      source: legacy_monolith.data:stock",
        "      translate: acl.inventory_rows:stock_row_from_legacy",
        "      target: extracted.inventory.data:stock",
        *(f"      {line}" for line in data),
        "      sync:",
        "        capture: legacy_monolith.data:stock_capture",
        *(f"        {line}" for line in sync),
    ]
    if back:
        lines += [
            "        back:",
            "          aggregate: stock",
            "          outbox: extracted.inventory.data:outbox_url",
            "          source: extracted.inventory.data:stock",
            "          translate: acl.inventory_rows:stock_row_to_legacy",
            "          target: legacy_monolith.data:stock_writer",
        ]
    return "".join(f"{line}\n" for line in lines)


def seeded_monolith(state: Path, *, products: int) -> Path:
    """A migrated shop database with ``products`` products and no orders."""
    from tests.support.shop_sync import run_shop  # Django's settings: only when asked

    env = {"STRANGLER_LEGACY_DB": str(state / "legacy.sqlite3")}
    run_shop("migrate", "--noinput", env=env)
    run_shop("seed", "--products", str(products), "--customers", "1", "--orders", "0", env=env)
    return state / "legacy.sqlite3"


@dataclass(frozen=True)
class SyncShop:
    """Where a test's shop lives: ``legacy_url``/``catalog_url`` are SQLAlchemy URLs (SQLite
    files or PostgreSQL databases); ``env`` is what the shop's settings read."""

    dir: Path
    legacy_url: str
    catalog_url: str
    routes: Path
    applied_log: Path
    legacy_env: tuple[tuple[str, str], ...] = ()

    @property
    def catalog(self) -> Path:
        """The catalog's SQLite file (SQLite shops only)."""
        return Path(self.catalog_url.removeprefix("sqlite:///"))

    def env(self, **extra: str) -> dict[str, str]:
        return (
            {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
            | dict(self.legacy_env)
            | {"STRANGLER_CATALOG_DB": self.catalog_url, LOG_ENV: str(self.applied_log)}
            | extra
        )

    def argv(self, *args: str) -> list[str]:
        return [STRANGLER, "--routes", str(self.routes), "data", *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str, log: Path, applied_log: Path | None = None) -> Popen[bytes]:
        env = self.env(**({LOG_ENV: str(applied_log)} if applied_log else {}))
        with log.open("ab") as out:
            return subprocess.Popen(self.argv(*args), cwd=self.dir, env=env, stdout=out, stderr=out)

    def forward(self) -> dict[str, Any]:
        """The product-catalog's forward direction as ``data status --json`` shows it."""
        status = self.run("status", "product-catalog", "--json")
        assert status.returncode == 0, status.stderr
        [forward] = json.loads(status.stdout)["capabilities"][0]["directions"]
        return dict(forward)

    def applied(self, path: Path | None = None) -> list[str]:
        path = path or self.applied_log
        if not path.exists():
            return []
        return path.read_text(encoding="utf-8").splitlines()

    def sql(
        self, statement: str, params: Mapping[str, object] | Sequence[Mapping[str, object]] = {}
    ) -> list[Row[Any]]:
        """One statement (``:name`` params; a list of them: once each) in its own transaction
        on the monolith's database."""
        engine = _engine(self.legacy_url)
        try:
            with engine.begin() as connection:
                many = params if isinstance(params, Sequence) else [params]
                result = connection.execute(text(statement), [dict(p) for p in many])
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url)


def sync_shop(tmp: Path, template: Path, *, batch: int = 100) -> SyncShop:
    """A private copy of the seeded shop, an empty migrated catalog, and a routes.yaml whose
    target logs every admitted version."""
    legacy = tmp / "legacy.sqlite3"
    with sqlite3.connect(template) as src, sqlite3.connect(legacy) as dst:
        src.backup(dst)
    return shop_on(
        tmp,
        legacy_url=f"sqlite:///{legacy}",
        catalog_url=f"sqlite:///{tmp / 'catalog.db'}",
        legacy_env={"STRANGLER_LEGACY_DB": str(legacy)},
        batch=batch,
    )


def shop_on(
    tmp: Path, *, legacy_url: str, catalog_url: str, legacy_env: Mapping[str, str], batch: int
) -> SyncShop:
    """A shop whose monolith database is there: the catalog migrated, a routes.yaml written."""
    engine = create_catalog_engine(catalog_url)
    migrate(engine)
    engine.dispose()
    routes = tmp / "routes.yaml"
    routes.write_text(
        ROUTES.format(target="tests.support.sync_targets:recorded_products", batch=batch)
    )
    return SyncShop(
        tmp, legacy_url, catalog_url, routes, tmp / "applied.log", tuple(legacy_env.items())
    )


def captured_and_copied(tmp: Path, template: Path, *, batch: int) -> SyncShop:
    """``sync_shop`` after ``data capture`` and ``data copy``: the relay's starting point."""
    shop = sync_shop(tmp, template, batch=batch)
    for verb in (["capture", "product-catalog"], ["copy", "product-catalog"]):
        done = shop.run(*verb)
        assert done.returncode == 0, done.stderr
    return shop


def postgres_shop(
    tmp: Path, *, legacy_url: str, catalog_url: str, products: int, batch: int
) -> SyncShop:
    """The shop migrated and seeded on PostgreSQL at ``legacy_url``, the catalog at
    ``catalog_url``, then ``data capture`` and ``data copy``: the relay's starting point."""
    from tests.support.shop_sync import run_shop  # Django's settings: only when asked

    legacy_env = {"STRANGLER_LEGACY_DATABASE_URL": legacy_url}
    run_shop("migrate", "--noinput", env=legacy_env)
    run_shop("seed", "--products", str(products), "--orders", "0", env=legacy_env)
    shop = shop_on(
        tmp, legacy_url=legacy_url, catalog_url=catalog_url, legacy_env=legacy_env, batch=batch
    )
    for verb in (["capture", "product-catalog"], ["copy", "product-catalog"]):
        done = shop.run(*verb)
        assert done.returncode == 0, done.stderr
    return shop


class Workload:
    """Mixed inserts, updates and deletes of products, in small transactions, seeded."""

    def __init__(self, legacy_url: str, *, seed: int) -> None:
        self._url = legacy_url
        self._rng = random.Random(seed)
        self._serial = 0  # of inserted skus, across runs: a later run() inserts new ones
        self.done = 0

    def run(self, operations: int, *, pause: float = 0.0) -> None:
        """Until ``operations`` are done in all, counting earlier runs."""
        wait = threading.Event()  # never set: a bounded pause between transactions
        engine = _engine(self._url)
        try:
            with engine.connect() as db:
                skus = [row[0] for row in db.execute(text("SELECT sku FROM catalog_product"))]
                db.rollback()
            while self.done < operations:
                with engine.begin() as db:
                    for _ in range(self._rng.randint(1, 4)):
                        self._serial = self._one(db, skus, self._serial)
                        self.done += 1
                if pause:
                    wait.wait(pause)
        finally:
            engine.dispose()

    def _now(self) -> object:
        now = datetime.now(UTC)
        # as Django keeps an aware datetime in SQLite: UTC as naive text
        return (
            now.replace(tzinfo=None).isoformat(sep=" ") if self._url.startswith("sqlite") else now
        )

    def _one(self, db: Connection, skus: list[str], serial: int) -> int:
        roll = self._rng.random()
        if roll < 0.25 or not skus:
            serial += 1
            sku = f"NEW-{serial:05d}"
            db.execute(
                text(
                    "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock,"
                    " reserved, active, updated_at, created_at) VALUES (:sku, :name, :price,"
                    " 'EUR', :stock, 0, :yes, :now, :now)"
                ),
                {
                    "sku": sku,
                    "name": f"New thing {serial}",
                    "price": self._rng.randint(100, 90000),
                    "stock": self._rng.randint(0, 50),
                    "yes": True,
                    "now": self._now(),
                },
            )
            skus.append(sku)
        elif roll < 0.85:
            db.execute(
                text(
                    "UPDATE catalog_product SET unit_price_cents = :price,"
                    " stock = reserved + :stock, updated_at = :now WHERE sku = :sku"
                ),
                {
                    "price": self._rng.randint(100, 90000),
                    "stock": self._rng.randint(0, 50),
                    "now": self._now(),
                    "sku": self._rng.choice(skus),
                },
            )
        else:
            sku = skus.pop(self._rng.randrange(len(skus)))
            db.execute(text("DELETE FROM catalog_product WHERE sku = :sku"), {"sku": sku})
        return serial
