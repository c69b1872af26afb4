"""Read-only catalog queries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from legacy_monolith.catalog.models import Product
from legacy_monolith.shop.errors import NotFound


@dataclass(frozen=True)
class ProductPage:
    count: int
    page: int
    per_page: int
    products: list[Product]


def product_list(
    *, page: int, per_page: int, name_contains: str = "", currency: str = ""
) -> ProductPage:
    queryset: QuerySet[Product] = Product.objects.order_by("sku")
    if name_contains:
        queryset = queryset.filter(name__icontains=name_contains)
    if currency:
        queryset = queryset.filter(currency=currency.upper())
    offset = (page - 1) * per_page
    return ProductPage(
        count=queryset.count(),
        page=page,
        per_page=per_page,
        products=list(queryset[offset : offset + per_page]),
    )


def product_get(sku: str) -> Product:
    try:
        return Product.objects.get(sku=sku)
    except Product.DoesNotExist as exc:
        raise NotFound(f"product {sku} not found") from exc


def products_by_sku(skus: Iterable[str]) -> dict[str, Product]:
    return {product.sku: product for product in Product.objects.filter(sku__in=set(skus))}


def storefront_products(limit: int = 20) -> list[Product]:
    return list(Product.objects.filter(active=True).order_by("sku")[:limit])


def products_for_export(batch_size: int = 500) -> Iterator[Product]:
    return Product.objects.order_by("sku").iterator(chunk_size=batch_size)
