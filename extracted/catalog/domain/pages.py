"""What a list query asks for and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass

from extracted.catalog.domain.model import Currency, Product

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """Filters and one page of the product list, ordered by sku; ``size`` already clamped."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE
    name_contains: str | None = None
    currency: Currency | None = None

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: tuple[Product, ...]
    number: int
    size: int
    total_items: int
