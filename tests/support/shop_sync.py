"""The demo shop for the data sync's tests: its capture, as its plugins build it
(``legacy_monolith.data:product_capture``, ``stock_capture``), without setting up Django in the
test process, and its own command line (``python -m legacy_monolith``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Connection

from legacy_monolith.data import PRODUCT_COLUMNS, STOCK_COLUMNS
from strangler_sync import CapturedTable, CaptureSpec, SqlAlchemyTx, install

ROOT = Path(__file__).resolve().parents[2]

# tests/unit/legacy_monolith/test_sync_capture.py checks the plugins give these same specs
SHOP_SPECS = (
    CaptureSpec("product-catalog", (CapturedTable("catalog_product", "sku", PRODUCT_COLUMNS),)),
    CaptureSpec("inventory", (CapturedTable("catalog_product", "sku", STOCK_COLUMNS),)),
)


def install_shop_capture(connection: Connection) -> None:
    """Both capabilities' capture on the shop's database, in ``connection``'s transaction."""
    for spec in SHOP_SPECS:
        install(SqlAlchemyTx(connection), spec)


def run_shop(*args: str, env: Mapping[str, str]) -> str:
    """``python -m legacy_monolith ARGS`` (migrate, seed, a management command) with ``env``
    over this process's environment, less ``DJANGO_SETTINGS_MODULE``: the shop picks its own
    settings. Its stdout; a failure fails the test with the command's stderr."""
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-m", "legacy_monolith", *args],
        cwd=ROOT,
        env=base | dict(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
