"""The demo shop's product-catalog on SQLite files, set up for ``strangler data sync`` tests:
the monolith's database (migrated and seeded once per module, copied per test), the catalog's
own database (migrated), a routes.yaml with ``data.sync``, and a writer that changes the
monolith's products with plain SQL, as a batch job or the admin would (the triggers see it)."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


def seeded_monolith(state: Path, *, products: int) -> Path:
    """A migrated shop database with ``products`` products and no orders."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["STRANGLER_LEGACY_DB"] = str(state / "legacy.sqlite3")
    seed = ["seed", "--products", str(products), "--customers", "1", "--orders", "0"]
    for step in (["migrate", "--noinput"], seed):
        subprocess.run(
            [sys.executable, "-m", "legacy_monolith", *step],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    return state / "legacy.sqlite3"


@dataclass(frozen=True)
class SyncShop:
    dir: Path
    legacy: Path
    catalog: Path
    routes: Path
    applied_log: Path

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {
            "STRANGLER_LEGACY_DB": str(self.legacy),
            "STRANGLER_CATALOG_DB": f"sqlite:///{self.catalog}",
            LOG_ENV: str(self.applied_log),
        }

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

    def popen(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                self.argv(*args), cwd=self.dir, env=self.env(), stdout=out, stderr=out
            )

    def applied(self) -> list[str]:
        if not self.applied_log.exists():
            return []
        return self.applied_log.read_text(encoding="utf-8").splitlines()

    def sql(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.legacy, timeout=30) as db:
            return db.execute(statement, params).fetchall()


def sync_shop(tmp: Path, template: Path, *, batch: int = 100) -> SyncShop:
    """A private copy of the seeded shop, an empty migrated catalog, and a routes.yaml whose
    target logs every admitted version."""
    legacy = tmp / "legacy.sqlite3"
    with sqlite3.connect(template) as src, sqlite3.connect(legacy) as dst:
        src.backup(dst)
    catalog = tmp / "catalog.db"
    engine = create_catalog_engine(f"sqlite:///{catalog}")
    migrate(engine)
    engine.dispose()
    routes = tmp / "routes.yaml"
    routes.write_text(
        ROUTES.format(target="tests.support.sync_targets:recorded_products", batch=batch)
    )
    return SyncShop(tmp, legacy, catalog, routes, tmp / "applied.log")


def captured_and_copied(tmp: Path, template: Path, *, batch: int) -> SyncShop:
    """``sync_shop`` after ``data capture`` and ``data copy``: the relay's starting point."""
    shop = sync_shop(tmp, template, batch=batch)
    for verb in (["capture", "product-catalog"], ["copy", "product-catalog"]):
        done = shop.run(*verb)
        assert done.returncode == 0, done.stderr
    return shop


def _now() -> str:
    # as Django stores an aware datetime in SQLite: UTC, naive text
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


class Workload:
    """Mixed inserts, updates and deletes of products, in small transactions, seeded."""

    def __init__(self, legacy: Path, *, seed: int) -> None:
        self._db = legacy
        self._rng = random.Random(seed)
        self.done = 0

    def run(self, operations: int, *, pause: float = 0.0) -> None:
        import threading

        wait = threading.Event()
        db = sqlite3.connect(self._db, timeout=30, isolation_level=None)
        try:
            skus = [row[0] for row in db.execute("SELECT sku FROM catalog_product")]
            serial = 0
            while self.done < operations:
                db.execute("BEGIN IMMEDIATE")
                for _ in range(self._rng.randint(1, 4)):
                    roll = self._rng.random()
                    if roll < 0.25 or not skus:
                        serial += 1
                        sku = f"NEW-{serial:05d}"
                        db.execute(
                            "INSERT INTO catalog_product (sku, name, unit_price_cents, currency,"
                            " stock, reserved, active, updated_at, created_at)"
                            " VALUES (?, ?, ?, 'EUR', ?, 0, 1, ?, ?)",
                            (
                                sku,
                                f"New thing {serial}",
                                self._rng.randint(100, 90000),
                                self._rng.randint(0, 50),
                                _now(),
                                _now(),
                            ),
                        )
                        skus.append(sku)
                    elif roll < 0.85:
                        db.execute(
                            "UPDATE catalog_product SET unit_price_cents = ?, stock = reserved + ?,"
                            " updated_at = ? WHERE sku = ?",
                            (
                                self._rng.randint(100, 90000),
                                self._rng.randint(0, 50),
                                _now(),
                                self._rng.choice(skus),
                            ),
                        )
                    else:
                        sku = skus.pop(self._rng.randrange(len(skus)))
                        db.execute("DELETE FROM catalog_product WHERE sku = ?", (sku,))
                    self.done += 1
                db.execute("COMMIT")
                if pause:
                    wait.wait(pause)
        finally:
            db.close()
