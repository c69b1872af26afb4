"""Capture specs from Django models (``strangler_django.capture``), as the shop's data sync
plugins build them: table and column names from ``_meta``, the shop's ``STRANGLER_CAPTURE``,
and ``DjangoTx``, the sync's SQL run on Django's own connection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from legacy_monolith.catalog.models import Product
from legacy_monolith.data import (
    PRODUCT_COLUMNS,
    STOCK_COLUMNS,
    product_capture,
    stock_capture,
)
from legacy_monolith.orders.models import OrderLine
from legacy_monolith.shop.settings import legacy_database_url
from strangler_django.capture import DjangoTx, capture_spec, configured
from strangler_django.checks import check_capture
from strangler_sync import CapturedTable, CaptureError, CaptureSpec
from tests.support.shop_sync import SHOP_SPECS


def test_a_spec_names_the_models_table_and_columns() -> None:
    spec = capture_spec(Product, key="sku", fields=["sku", "unit_price_cents"], capability="p")
    table = CapturedTable("catalog_product", "sku", ("sku", "unit_price_cents"))
    assert spec == CaptureSpec("p", (table,))


def test_the_key_is_captured_first_even_when_the_fields_leave_it_out() -> None:
    spec = capture_spec(Product, key="sku", fields=["stock", "reserved"], capability="inventory")
    assert spec.tables[0].columns == ("sku", "stock", "reserved")


def test_a_foreign_key_is_captured_as_its_column() -> None:
    spec = capture_spec(OrderLine, key="id", fields=["product", "qty"], capability="lines")
    assert spec.tables[0].columns == ("id", "product_id", "qty")


@pytest.mark.parametrize(
    ("model", "field", "problem"),
    [
        (Product, "price", "catalog.Product has no field 'price' to capture"),
        (Product, "order_lines", "catalog.Product.order_lines is not a column of its table"),
    ],
)
def test_a_field_that_is_no_column_is_a_capture_error(model: Any, field: str, problem: str) -> None:
    with pytest.raises(CaptureError, match=re.escape(problem)):
        capture_spec(model, key="sku", fields=[field], capability="p")


def test_the_shops_plugins_capture_what_its_sources_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRANGLER_LEGACY_DB", str(tmp_path / "shop.sqlite3"))
    monkeypatch.delenv("STRANGLER_LEGACY_DATABASE_URL", raising=False)
    products, counters = product_capture(), stock_capture()
    assert products.url == counters.url == f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    assert legacy_database_url() == products.url
    assert (products.spec.capability, counters.spec.capability) == ("product-catalog", "inventory")
    # a column the relay re-reads but no trigger watches would go stale without a word
    assert products.spec.tables == (CapturedTable("catalog_product", "sku", PRODUCT_COLUMNS),)
    assert counters.spec.tables == (CapturedTable("catalog_product", "sku", STOCK_COLUMNS),)
    assert (products.spec, counters.spec) == SHOP_SPECS  # what the sync tests install
    monkeypatch.setenv("STRANGLER_LEGACY_DATABASE_URL", "postgresql+psycopg://u@db:5432/shop")
    assert product_capture().url == "postgresql+psycopg://u@db:5432/shop"


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        (["x"], "STRANGLER_CAPTURE must be a dict"),
        ({"p": ("catalog.Product", "sku")}, "STRANGLER_CAPTURE['p'] must be (model label"),
        ({"p": ("catalog.Product", "sku", "name")}, "must be (model label, key field, [fields])"),
        (
            {"p": ("catalog.Nope", "sku", ["name"])},
            "STRANGLER_CAPTURE['p']: no model 'catalog.Nope'",
        ),
        ({"p": ("catalog.Product", "sku", ["nope"])}, "has no field 'nope' to capture"),
        ({"p": ("catalog.Product", "sku", ["sku"])}, "has no capability q (it has: p)"),
    ],
)
def test_a_wrong_strangler_capture_entry_is_named(
    settings: Any, declared: object, problem: str
) -> None:
    settings.STRANGLER_CAPTURE = declared
    with pytest.raises(ImproperlyConfigured, match=re.escape(problem)):
        configured(["q"] if "has no capability" in problem else ["p"])


def test_the_command_refuses_a_capability_strangler_capture_does_not_name() -> None:
    with pytest.raises(CommandError, match="has no capability nope"):
        call_command("strangler_capture", "status", "nope")


@pytest.mark.django_db
def test_django_tx_runs_named_parameters_and_literal_percents() -> None:
    tx = DjangoTx(connection)
    assert tx.dialect == "sqlite"
    assert tx.execute("SELECT :a || '%', :b", {"a": "50", "b": 7}) == [("50%", 7)]
    assert tx.execute("SELECT '100%'") == [("100%",)]
    assert tx.execute("CREATE TEMP TABLE t (x TEXT)") == []
    tx.execute("INSERT INTO t (x) VALUES (:x)", {"x": "12:30"})
    assert tx.execute("SELECT x FROM t WHERE x = :x", {"x": "12:30"}) == [("12:30",)]


def test_the_system_check_reports_a_wrong_entry_and_passes_the_shops(settings: Any) -> None:
    assert check_capture() == []  # the shop's own STRANGLER_CAPTURE
    settings.STRANGLER_CAPTURE = {"p": ("catalog.Product", "sku", ["nope"])}
    (error,) = check_capture()
    assert error.id == "strangler.E008"
    assert "has no field 'nope'" in error.msg
