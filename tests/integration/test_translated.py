"""Extracted mode through the anti-corruption layer: the catalog service answers in its own
model, and clients of the monolith's API get exactly what the monolith would have said."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acl.catalog import product_from_legacy, product_to_service
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import processes, services
from tests.support.probe import metric
from tests.support.services import assert_an_untranslatable_answer_is_a_502, call

pytestmark = pytest.mark.integration
PRODUCTS = 20


def settled(body: bytes) -> Any:
    """The JSON, with the list's build time set aside (it differs between any two calls)."""
    return json.loads(re.sub(rb'"generated_at": ?"[^"]*"', b'"generated_at": "..."', body))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(monolith, facade, catalog service) URLs; product-catalog cut over to the service."""
    state = tmp_path_factory.mktemp("translated")
    shop = processes.monolith(state, log_dir=state, seed_args=["--products", str(PRODUCTS)])
    catalog = services.extracted_service("catalog", state_dir=state, log_dir=state)
    # the service's own database gets the monolith's rows through the ACL
    for n in range(1, PRODUCTS + 1):
        sku = f"SKU-{n:05d}"
        status, _, body = call(f"{shop.url}/api/products/{sku}")
        assert status == 200
        product = product_to_service(product_from_legacy(json.loads(body)["product"]))
        status, _, answer = call(
            f"{catalog.url}/v1/products/{sku}", method="PUT", data=json.dumps(product).encode()
        )
        assert status in (200, 201), answer
    routes = state / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{shop.url}'}}\n"
        f"services:\n  catalog: {{url: '{catalog.url}'}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: extracted\n"
        "    translator: catalog.products\n"
        "    match:\n      - {methods: [GET, HEAD], path: /api/products}\n"
        "      - {methods: [GET, HEAD], path: '/api/products/{sku}'}\n"
        "debug_headers: true\n"
    )
    facade = processes.facade(routes, log_dir=state)
    yield shop.url, facade.url, catalog.url
    facade.stop()
    catalog.stop()
    shop.stop()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/products?per_page={PRODUCTS}",  # list
        "/api/products?page=2&per_page=7&curr=eur",  # a page, a filter
        "/api/products/SKU-00003",  # detail
        "/api/products/SKU-99999",  # missing item
        "/api/products?page=abc",  # invalid input
        "/api/products?per_page=0",
    ],
)
def test_extracted_answers_equal_the_monolith_s(stack: tuple[str, str, str], path: str) -> None:
    monolith, facade, _ = stack
    direct = call(monolith + path)
    through = call(facade + path)
    assert through[1]["X-Strangler-Route"] == "product-catalog;extracted;catalog"
    assert through[0] == direct[0]
    assert through[1]["Content-Type"] == direct[1]["Content-Type"]
    assert settled(through[2]) == settled(direct[2])


def test_head_is_answered_from_the_translated_get(stack: tuple[str, str, str]) -> None:
    monolith, facade, _ = stack
    direct = call(monolith + "/api/products/SKU-00002", method="HEAD")
    through = call(facade + "/api/products/SKU-00002", method="HEAD")
    assert through[0] == direct[0] == 200
    assert through[2] == b""
    assert through[1]["Content-Length"] == direct[1]["Content-Length"]


def test_an_untranslatable_answer_is_a_502_naming_the_field(tmp_path: Path) -> None:
    assert_an_untranslatable_answer_is_a_502(
        tmp_path,
        capability="product-catalog",
        service="catalog",
        translator="catalog.products",
        match="/api/products/{sku}",
        path="/api/products/SKU-00001",
    )


def test_shadow_compares_the_candidate_in_the_legacy_vocabulary(
    stack: tuple[str, str, str], tmp_path: Path
) -> None:
    monolith, _, catalog = stack
    sku = "SKU-00005"
    status, _, body = call(f"{catalog}/v1/products/{sku}")
    assert status == 200
    original = json.loads(body)
    wrong = {**original, "price": {**original["price"], "amount": "1.00"}}
    wrong.pop("updated_at")
    call(f"{catalog}/v1/products/{sku}", method="PUT", data=json.dumps(wrong).encode())
    store = tmp_path / "evidence.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{monolith}'}}\n"
        f"services:\n  catalog: {{url: '{catalog}'}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    translator: catalog.products\n"
        "    match: [{methods: [GET], path: '/api/products/{sku}'}]\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        for n in (4, 5, 6):
            assert call(f"{facade.url}/api/products/SKU-{n:05d}")[0] == 200
    finally:
        assert facade.stop() == 0
        original.pop("updated_at")
        call(f"{catalog}/v1/products/{sku}", method="PUT", data=json.dumps(original).encode())
    db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    try:
        found = {o.path: o for o in db.observations(experiment="product-catalog")}
        summary = db.summary(datetime.now(UTC) - timedelta(hours=1))["product-catalog"]
    finally:
        db.close()
    # the two matches are tallied (counted, not stored as rows); the mismatch is a row
    assert {p: o.outcome for p, o in found.items()} == {"/api/products/SKU-00005": "mismatch"}
    assert (summary.matches, summary.mismatches) == (2, 1)
    (difference,) = found["/api/products/SKU-00005"].differences
    assert difference["path"] == "$.product.unitPrice"  # legacy names, legacy cents
    assert difference["candidate"] == 100


@pytest.mark.parametrize(("fallback", "served"), [("legacy", 200), ("error", 502)])
def test_a_request_the_translator_cannot_translate_is_the_monolith_s_to_serve(
    stack: tuple[str, str, str], tmp_path: Path, fallback: str, served: int
) -> None:
    """The catalog translator has no service request for the CSV export: the service never
    sees it, so with ``fallback: legacy`` the monolith answers it (counted as a fallback), and
    with ``fallback: error`` the client gets the 502 naming why."""
    monolith, _, catalog = stack
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{monolith}'}}\n"
        f"services:\n  catalog: {{url: '{catalog}'}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: extracted\n"
        f"    translator: catalog.products\n    fallback: {fallback}\n"
        "    match:\n      - {methods: [GET], path: '/api/products/{sku}'}\n"
        "      - {methods: [GET], path: /api/export/products.csv}\n"
        "debug_headers: true\n"
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        status, headers, body = call(f"{facade.url}/api/export/products.csv")
        fallbacks = metric(
            facade,
            'strangler_fallbacks_total{capability="product-catalog",'
            'reason="untranslatable_request"}',
        )
    finally:
        facade.stop()
    assert status == served
    if fallback == "legacy":
        assert headers["X-Strangler-Route"] == "product-catalog;extracted;legacy"
        assert body == call(f"{monolith}/api/export/products.csv")[2]
        assert fallbacks == 1
    else:
        assert headers["Content-Type"] == "application/problem+json"
        assert b"request not translatable" in body
        assert fallbacks == 0
