"""routes.yaml translator specs -> translators."""

from __future__ import annotations

import pytest

from acl.catalog import Products
from acl.errors import TranslationError, TranslatorNotFound
from acl.inventory import Stock
from acl.registry import load_translator
from tests.unit.acl import plugin_translators

PLUGIN = "tests.unit.acl.plugin_translators"


def test_catalog_products_is_built_in() -> None:
    assert isinstance(load_translator("catalog.products"), Products)


def test_inventory_stock_is_built_in() -> None:
    assert isinstance(load_translator("inventory.stock"), Stock)


def test_the_built_in_also_loads_by_its_dotted_name() -> None:
    assert isinstance(load_translator("acl.catalog:Products"), Products)


def test_a_plugin_class_is_instantiated() -> None:
    translator = load_translator(f"{PLUGIN}:Echo")
    assert isinstance(translator, plugin_translators.Echo)
    assert translator is not plugin_translators.ECHO


def test_a_plugin_instance_is_used_as_is() -> None:
    assert load_translator(f"{PLUGIN}:ECHO") is plugin_translators.ECHO


def test_a_plugin_factory_is_called() -> None:
    assert isinstance(load_translator(f"{PLUGIN}:make_echo"), plugin_translators.Echo)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("catalog.orders", "neither a built-in translator (catalog.products, inventory.stock)"),
        ("", "neither a built-in translator"),
        ("pkg.module:", "neither a built-in translator"),
        (":Name", "neither a built-in translator"),
        ("no_such_pkg.acl:Products", "cannot import no_such_pkg.acl"),
        (f"{PLUGIN}:Missing", f"{PLUGIN} has no Missing"),
        (f"{PLUGIN}:NeedsArguments", "cannot call NeedsArguments()"),
        (f"{PLUGIN}:NOT_A_TRANSLATOR", "NOT_A_TRANSLATOR has no request_to_service"),
    ],
)
def test_a_spec_that_names_no_translator_is_reported_with_the_spec(spec: str, reason: str) -> None:
    with pytest.raises(TranslatorNotFound) as caught:
        load_translator(spec)
    assert caught.value.spec == spec
    assert caught.value.field == "translator"
    assert reason in caught.value.reason
    assert repr(spec) in str(caught.value)
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, TranslationError)
