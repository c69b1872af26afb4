"""A capture removed with its outbox and installed again starts a new epoch; the service's
ledger still holds the old one. ``data status`` says a copy is due, and after ``data copy``
(which moves the ledger to the new epoch) it no longer does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.sync_shop import SyncShop, captured_and_copied, seeded_monolith

pytestmark = pytest.mark.integration

ASKS = "capture re-created: run `strangler data copy product-catalog` once"


@pytest.fixture
def shop(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> SyncShop:
    template = seeded_monolith(tmp_path_factory.mktemp("shop"), products=20)
    return captured_and_copied(tmp_path, template, batch=100)


def _status(shop: SyncShop) -> tuple[str, bool | None]:
    text = shop.run("status", "product-catalog")
    as_json = shop.run("status", "product-catalog", "--json")
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    [forward] = json.loads(as_json.stdout)["capabilities"][0]["directions"]
    return text.stdout, forward["capture_recreated"]


def _synced(shop: SyncShop) -> None:
    shop.sql("UPDATE catalog_product SET unit_price_cents = unit_price_cents + 1")
    done = shop.run("sync", "product-catalog", "--once")
    assert done.returncode == 0, done.stderr


def test_status_asks_for_one_copy_after_the_capture_was_re_created(shop: SyncShop) -> None:
    _synced(shop)  # the ledger holds versions of the first epoch
    text, recreated = _status(shop)
    assert (ASKS in text, recreated) == (False, False)

    for verb in (["capture", "--remove", "--drop-outbox"], ["capture"]):
        done = shop.run(*verb, "product-catalog")
        assert done.returncode == 0, done.stderr
    text, recreated = _status(shop)
    assert (ASKS in text, recreated) == (True, True), text

    copied = shop.run("copy", "product-catalog", "--restart")
    assert copied.returncode == 0, copied.stderr
    text, recreated = _status(shop)
    assert (ASKS in text, recreated) == (False, False), text
    _synced(shop)  # the new epoch's changes still apply after the restamp
    verified = shop.run("verify", "product-catalog")
    assert verified.returncode == 0, verified.stdout + verified.stderr
