"""Products, their prices as ``Money`` and their status: value objects, validated on creation.

Money is an integer count of the currency's minor units; its amount crosses the API as a
decimal string with exactly that many decimals ("19.99"), never as a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from extracted.catalog.errors import InvalidProduct

SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_MAX_LENGTH = 200
# a price above this is a typo, and it keeps minor units inside a signed 64-bit column
MAX_MINOR_UNITS = 10**15


class Currency(StrEnum):
    EUR = "EUR"
    GBP = "GBP"
    USD = "USD"

    @property
    def minor_units(self) -> int:
        """Decimals of the currency (ISO 4217 exponent): 2 for every currency we sell in."""
        return 2


class ProductStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


def parse_currency(value: object, *, field: str = "price.currency") -> Currency:
    if isinstance(value, str):
        try:
            return Currency(value)
        except ValueError:
            pass
    allowed = ", ".join(c.value for c in Currency)
    raise InvalidProduct(f"currency must be one of {allowed}, not {value!r}", field=field)


@dataclass(frozen=True, slots=True)
class Money:
    """A non-negative amount in ``currency``, counted in its minor units (cents)."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        if type(self.minor) is not int or not 0 <= self.minor <= MAX_MINOR_UNITS:
            raise InvalidProduct(
                f"amount must be 0..{MAX_MINOR_UNITS} minor units, not {self.minor!r}",
                field="price.amount",
            )
        if not isinstance(self.currency, Currency):
            raise InvalidProduct(f"unknown currency {self.currency!r}", field="price.currency")

    @classmethod
    def parse(cls, amount: object, currency: object) -> Money:
        """``Money.parse("19.99", "EUR")``; the amount must be a string with exactly the
        currency's decimals: "19.9", "1.999", "-1.00", "1e3" and floats are rejected."""
        unit = parse_currency(currency)
        if not isinstance(amount, str):
            raise InvalidProduct(
                f'amount must be a decimal string such as "19.99", not {amount!r}',
                field="price.amount",
            )
        decimals = unit.minor_units
        pattern = r"(0|[1-9][0-9]*)" + (rf"\.([0-9]{{{decimals}}})" if decimals else "")
        match = re.fullmatch(pattern, amount, flags=re.ASCII)
        if match is None:
            raise InvalidProduct(
                f"amount must be a non-negative decimal string with exactly {decimals} "
                f"decimals for {unit.value}, not {amount!r}",
                field="price.amount",
            )
        whole = int(match.group(1))
        fraction = int(match.group(2)) if decimals else 0
        return cls(whole * 10**decimals + fraction, unit)

    @property
    def amount(self) -> str:
        """The amount as the API writes it: "19.99", "0.05", "1200.00"."""
        decimals = self.currency.minor_units
        if not decimals:
            return str(self.minor)
        whole, fraction = divmod(self.minor, 10**decimals)
        return f"{whole}.{fraction:0{decimals}d}"


@dataclass(frozen=True, slots=True)
class Product:
    """One sellable product. ``updated_at`` is an aware UTC datetime set by the catalog."""

    sku: str
    name: str
    price: Money
    on_hand: int
    status: ProductStatus
    updated_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.sku, str) or SKU_PATTERN.fullmatch(self.sku) is None:
            raise InvalidProduct(
                f"sku must be 1-64 letters, digits, '.', '_' or '-', not {self.sku!r}",
                field="sku",
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidProduct("name must be a non-empty string", field="name")
        if len(self.name) > NAME_MAX_LENGTH:
            raise InvalidProduct(f"name is longer than {NAME_MAX_LENGTH} characters", field="name")
        if type(self.on_hand) is not int or self.on_hand < 0:
            raise InvalidProduct(
                f"on_hand must be a non-negative integer, not {self.on_hand!r}",
                field="stock.on_hand",
            )
        if not isinstance(self.status, ProductStatus):
            raise InvalidProduct(f"unknown status {self.status!r}", field="status")
        if self.updated_at.tzinfo is None:
            raise InvalidProduct("updated_at must be timezone-aware", field="updated_at")
        object.__setattr__(self, "updated_at", self.updated_at.astimezone(UTC))

    def same_content(self, other: Product) -> bool:
        """True when ``other`` differs at most in ``updated_at``: a replay changes nothing."""
        return (self.sku, self.name, self.price, self.on_hand, self.status) == (
            other.sku,
            other.name,
            other.price,
            other.on_hand,
            other.status,
        )


def parse_status(value: object) -> ProductStatus:
    if isinstance(value, str):
        try:
            return ProductStatus(value)
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in ProductStatus)
    raise InvalidProduct(f"status must be one of {allowed}, not {value!r}", field="status")
