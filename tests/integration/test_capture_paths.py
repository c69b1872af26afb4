"""Every way the demo shop writes its products lands in the outbox, in the writer's own
transaction: the ORM's ``save()``, ``QuerySet.update()``, ``bulk_create``, ``delete()``,
``QuerySet.delete()``, raw SQL through Django's cursor, the admin's change form (a logged-in
staff user, Django's test client) and ``manage.py shell -c`` in a process of its own.

The shop runs on a SQLite file of its own (``python -m legacy_monolith migrate``), with the
capture of two capabilities installed over SQLAlchemy as ``strangler data capture`` does:
product-catalog (the catalog's columns) and inventory (sku, stock, reserved) on the same table.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from strangler_sync import CapturedTable, CaptureSpec, SqlAlchemyTx, inspect, install

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_COLUMNS = ("sku", "name", "unit_price_cents", "currency", "stock", "active", "updated_at")
CATALOG = CaptureSpec(
    "product-catalog", (CapturedTable("catalog_product", "sku", PRODUCT_COLUMNS),)
)
INVENTORY = CaptureSpec(
    "inventory", (CapturedTable("catalog_product", "sku", ("sku", "stock", "reserved")),)
)

# the shop's own code paths, one step each; after each step the outbox rows it made
DRIVE = r"""
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "legacy_monolith.shop.settings"
import django
django.setup()
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F
from django.test import Client
from django.utils import timezone
from legacy_monolith.catalog.models import Product

steps = {}
last = [0]


def step(name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, aggregatetype, aggregateid, type, payload FROM strangler_outbox"
            " WHERE seq > %s ORDER BY seq", [last[0]])
        rows = cursor.fetchall()
    if rows:
        last[0] = rows[-1][0]
    steps[name] = [[a, k, t, json.loads(p)] for _, a, k, t, p in rows]


step("before")
p = Product.objects.create(sku="CAP-1", name="Lamp", unit_price_cents=1000, stock=5)
step("orm_create")
p.unit_price_cents = 1200
p.save()
step("orm_save_price")
p.save()
step("orm_save_unchanged")
p.stock = 7
p.save()
step("orm_save_stock")
Product.objects.bulk_create([
    Product(sku=f"CAP-B{i}", name=f"Bulk {i}", unit_price_cents=100 + i, stock=i)
    for i in range(3)
])
step("bulk_create")
Product.objects.filter(sku__startswith="CAP-B").update(stock=F("stock") + 10)
step("queryset_update")
Product.objects.filter(sku="CAP-B0").update(stock=F("stock"))
step("queryset_update_unchanged")
with connection.cursor() as cursor:
    cursor.execute("UPDATE catalog_product SET reserved = 2 WHERE sku = %s", ["CAP-1"])
step("raw_sql_update")
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO catalog_product (sku, name, unit_price_cents, currency, stock, reserved,"
        " active, updated_at, created_at) VALUES ('CAP-R', 'Raw', 5, 'EUR', 1, 0, 1,"
        " '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
step("raw_sql_insert")
with connection.cursor() as cursor:
    cursor.execute("DELETE FROM catalog_product WHERE sku = 'CAP-R'")
step("raw_sql_delete")
Product.objects.get(sku="CAP-B2").delete()
step("orm_delete")
Product.objects.filter(sku__in=["CAP-B0", "CAP-B1"]).delete()
step("queryset_delete")
renamed = Product.objects.get(sku="CAP-1")
renamed.sku = "CAP-2"
renamed.save()
step("sku_rename")

staff = User.objects.create_user("staff", password="pw-for-tests", is_staff=True,
                                 is_superuser=True)
client = Client()
client.force_login(staff)
edited = Product.objects.get(sku="CAP-2")
local = timezone.localtime(edited.created_at)
answer = client.post(f"/admin/catalog/product/{edited.pk}/change/", {
    "sku": "CAP-2", "name": "Lamp (admin)", "unit_price_cents": "1500", "currency": "EUR",
    "stock": "9", "reserved": "2", "active": "on",
    "created_at_0": local.strftime("%Y-%m-%d"), "created_at_1": local.strftime("%H:%M:%S"),
    "_save": "Save",
})
if answer.status_code != 302:
    sys.exit(f"the admin refused the change: {answer.status_code} "
             f"{answer.content.decode(errors='replace')[:2000]}")
step("admin_change_form")
print(json.dumps(steps))
"""

SHELL = (
    "from legacy_monolith.catalog.models import Product; "
    "p = Product.objects.get(sku='CAP-2'); p.stock = 11; p.save()"
)


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return env | {"STRANGLER_LEGACY_DB": str(db), "STRANGLER_LEGACY_MEDIA": str(db.parent)}


def _manage(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "legacy_monolith", *args],
        cwd=ROOT,
        env=_env(db),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _outbox_after(db: Path, seq: int) -> list[list[Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT aggregatetype, aggregateid, type, payload FROM strangler_outbox"
            " WHERE seq > ? ORDER BY seq",
            (seq,),
        ).fetchall()
    return [[a, k, t, json.loads(p)] for a, k, t, p in rows]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[Any]]]:
    """The outbox rows of each write path, by step."""
    db = tmp_path_factory.mktemp("capture") / "legacy.sqlite3"
    _manage(db, "migrate", "--noinput")
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        for spec in (CATALOG, INVENTORY):
            assert install(SqlAlchemyTx(conn), spec).state == "installed"
    done = subprocess.run(
        [sys.executable, "-c", DRIVE],
        cwd=ROOT,
        env=_env(db),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    steps: dict[str, list[list[Any]]] = json.loads(done.stdout.strip().splitlines()[-1])
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT max(seq) FROM strangler_outbox").fetchone()
    _manage(db, "shell", "-c", SHELL)
    steps["manage_shell"] = _outbox_after(db, last)
    with engine.begin() as conn:
        steps["_states"] = [[inspect(SqlAlchemyTx(conn), s).state] for s in (CATALOG, INVENTORY)]
    engine.dispose()
    return steps


def _ops(rows: list[list[Any]], aggregate: str) -> list[tuple[str, str]]:
    return [(key, op) for agg, key, op, _ in rows if agg == aggregate]


def _payloads(rows: list[list[Any]], aggregate: str) -> list[dict[str, Any]]:
    return [payload for agg, _, _, payload in rows if agg == aggregate]


# step -> (product-catalog's rows, inventory's rows), as (key, op) in outbox order
EXPECTED: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "orm_create": ([("CAP-1", "upsert")], [("CAP-1", "upsert")]),
    # the price is not inventory's: only the catalog sees it (updated_at moves too)
    "orm_save_price": ([("CAP-1", "upsert")], []),
    # save() rewrites every column with equal values (updated_at aside): inventory sees none
    "orm_save_unchanged": ([("CAP-1", "upsert")], []),
    "orm_save_stock": ([("CAP-1", "upsert")], [("CAP-1", "upsert")]),
    "bulk_create": (
        [("CAP-B0", "upsert"), ("CAP-B1", "upsert"), ("CAP-B2", "upsert")],
        [("CAP-B0", "upsert"), ("CAP-B1", "upsert"), ("CAP-B2", "upsert")],
    ),
    "queryset_update": (
        [("CAP-B0", "upsert"), ("CAP-B1", "upsert"), ("CAP-B2", "upsert")],
        [("CAP-B0", "upsert"), ("CAP-B1", "upsert"), ("CAP-B2", "upsert")],
    ),
    # update() writes the column with its own value: nothing changed, nothing captured
    "queryset_update_unchanged": ([], []),
    # reserved is inventory's column, not the catalog's
    "raw_sql_update": ([], [("CAP-1", "upsert")]),
    "raw_sql_insert": ([("CAP-R", "upsert")], [("CAP-R", "upsert")]),
    "raw_sql_delete": ([("CAP-R", "delete")], [("CAP-R", "delete")]),
    "orm_delete": ([("CAP-B2", "delete")], [("CAP-B2", "delete")]),
    "queryset_delete": (
        [("CAP-B0", "delete"), ("CAP-B1", "delete")],
        [("CAP-B0", "delete"), ("CAP-B1", "delete")],
    ),
    # a key rename is the new key's state plus the old key's deletion
    "sku_rename": (
        [("CAP-2", "upsert"), ("CAP-1", "delete")],
        [("CAP-2", "upsert"), ("CAP-1", "delete")],
    ),
    "admin_change_form": ([("CAP-2", "upsert")], [("CAP-2", "upsert")]),
    "manage_shell": ([("CAP-2", "upsert")], [("CAP-2", "upsert")]),
}


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_write_path_leaves_the_right_outbox_rows(
    captured: dict[str, list[list[Any]]], step: str
) -> None:
    catalog, inventory = EXPECTED[step]
    rows = captured[step]
    assert _ops(rows, "product-catalog") == catalog
    assert _ops(rows, "inventory") == inventory
    assert {agg for agg, *_ in rows} <= {"product-catalog", "inventory"}


def test_nothing_was_captured_before_the_first_write(
    captured: dict[str, list[list[Any]]],
) -> None:
    assert captured["before"] == []
    assert captured["_states"] == [["installed"], ["installed"]]


def test_payloads_carry_the_captured_columns_of_the_new_state(
    captured: dict[str, list[list[Any]]],
) -> None:
    (created,) = _payloads(captured["orm_create"], "product-catalog")
    assert set(created) == set(PRODUCT_COLUMNS)
    assert created["sku"] == "CAP-1"
    assert created["unit_price_cents"] == 1000
    assert created["stock"] == 5
    assert created["currency"] == "EUR"
    assert _payloads(captured["orm_create"], "inventory") == [
        {"sku": "CAP-1", "stock": 5, "reserved": 0}
    ]
    (priced,) = _payloads(captured["orm_save_price"], "product-catalog")
    assert priced["unit_price_cents"] == 1200
    assert _payloads(captured["raw_sql_update"], "inventory") == [
        {"sku": "CAP-1", "stock": 7, "reserved": 2}
    ]
    assert [p["stock"] for p in _payloads(captured["queryset_update"], "inventory")] == [
        10,
        11,
        12,
    ]
    (admin,) = _payloads(captured["admin_change_form"], "product-catalog")
    assert (admin["name"], admin["unit_price_cents"], admin["stock"]) == ("Lamp (admin)", 1500, 9)
    assert _payloads(captured["manage_shell"], "inventory") == [
        {"sku": "CAP-2", "stock": 11, "reserved": 2}
    ]


def test_a_deletion_carries_only_the_key(captured: dict[str, list[list[Any]]]) -> None:
    assert _payloads(captured["queryset_delete"], "product-catalog") == [
        {"sku": "CAP-B0"},
        {"sku": "CAP-B1"},
    ]
    upsert, delete = _payloads(captured["sku_rename"], "inventory")
    assert upsert == {"sku": "CAP-2", "stock": 7, "reserved": 2}
    assert delete == {"sku": "CAP-1"}
