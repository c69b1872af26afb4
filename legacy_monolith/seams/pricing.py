"""The ``pricing`` seam: where an order's list prices come from.

``orders.services.price_order_lines`` applies the shop's pricing rules (VIP discount, one
currency per order) to list prices it gets from a ``PriceLookup``: the legacy one reads the
monolith's product table, the new one asks the catalog service (``GET /v1/products/<sku>``)
and reads its answer through the ACL (``acl.catalog.product_from_service``). The rules stay
in the monolith; only the source of the data moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from acl.catalog import product_from_service
from acl.errors import TranslationError
from acl.http import HttpRequestData
from legacy_monolith.catalog.selectors import products_by_sku
from legacy_monolith.seams.service_client import send
from strangler_django import Endpoint, SeamCallFailed


@dataclass(frozen=True)
class ListPrice:
    """What pricing needs of a product; field names as on the monolith's ``Product``."""

    sku: str
    unit_price_cents: int
    currency: str
    active: bool


PriceLookup = Callable[[Iterable[str]], dict[str, ListPrice]]


def monolith_prices(skus: Iterable[str]) -> dict[str, ListPrice]:
    """The legacy lookup: the monolith's own product table."""
    return {
        sku: ListPrice(p.sku, p.unit_price_cents, p.currency, p.active)
        for sku, p in products_by_sku(skus).items()
    }


def catalog_prices(endpoint: Endpoint) -> PriceLookup:
    """The new lookup: the catalog service, one read per distinct sku; an unknown sku is
    simply absent, as in the legacy lookup."""

    def lookup(skus: Iterable[str]) -> dict[str, ListPrice]:
        found: dict[str, ListPrice] = {}
        for sku in dict.fromkeys(skus):
            request = HttpRequestData(
                "GET", f"/v1/products/{quote(sku, safe='')}", (), (("Accept", "application/json"),)
            )
            answer = send(endpoint.name, endpoint.settings, request, seam="pricing")
            if answer.status not in (200, 404):
                raise SeamCallFailed(endpoint.name, f"GET {request.path} answered {answer.status}")
            try:
                body = _json(answer.body)
                if answer.status == 404:
                    _expect_not_found(body)
                    continue  # unknown to the catalog: absent, as from the monolith's table
                product = product_from_service(body)
            except TranslationError as exc:
                raise SeamCallFailed(endpoint.name, f"answer not translatable: {exc}") from exc
            found[sku] = ListPrice(
                product.sku, product.price_minor, product.currency, product.active
            )
        return found

    return lookup


def _expect_not_found(body: dict[str, object]) -> None:
    """A 404 means "no such product" only with the catalog's own code (not a wrong URL)."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if code != "product_not_found":
        raise TranslationError(field="$.error.code", value=code, reason="not product_not_found")


def _json(body: bytes) -> dict[str, object]:
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise TranslationError(field="$", value=body[:80], reason="not JSON") from exc
    if not isinstance(parsed, dict):
        raise TranslationError(field="$", value=parsed, reason="not a JSON object")
    return parsed
