"""Stock levels and reservations: value objects, validated on creation.

A stock level counts the units ``on_hand`` (on the shelf, reserved ones included: they leave
only when shipped) and ``reserved`` (promised to open orders); ``available`` is the difference.
The invariant ``0 <= reserved <= on_hand`` holds in every state, and the database checks it too.

A reservation is named by its client's idempotency key: placing it twice reserves once,
cancelling it gives its units back once, fulfilling it (the goods shipped) takes its units off
the shelf once. A cancelled or fulfilled key stays so for good.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from extracted.inventory.errors import InsufficientStock, InvalidRequest

SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
# quantities fit a signed 64-bit column with room for a sum of two
MAX_QUANTITY = 2**62


class ReservationStatus(StrEnum):
    HELD = "held"  # units promised, still on the shelf
    CANCELLED = "cancelled"  # units given back (or a key cancelled before it was used)
    FULFILLED = "fulfilled"  # units gone: shipped, off the shelf


def _check_sku(sku: object) -> None:
    if not isinstance(sku, str) or SKU_PATTERN.fullmatch(sku) is None:
        raise InvalidRequest(
            f"sku must be 1-64 letters, digits, '.', '_' or '-', not {sku!r}", field="sku"
        )


def _check_count(value: object, *, field: str, minimum: int) -> None:
    if type(value) is not int or not minimum <= value <= MAX_QUANTITY:
        raise InvalidRequest(
            f"{field} must be an integer from {minimum} to {MAX_QUANTITY}, not {value!r}",
            field=field,
        )


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidRequest(f"{field} must be timezone-aware", field=field)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    on_hand: int
    reserved: int
    updated_at: datetime

    def __post_init__(self) -> None:
        _check_sku(self.sku)
        _check_count(self.on_hand, field="on_hand", minimum=0)
        _check_count(self.reserved, field="reserved", minimum=0)
        if self.reserved > self.on_hand:
            raise InvalidRequest(
                f"reserved ({self.reserved}) cannot exceed on_hand ({self.on_hand})",
                field="reserved",
            )
        object.__setattr__(self, "updated_at", _aware(self.updated_at, "updated_at"))

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def reserve(self, quantity: int, *, at: datetime) -> StockLevel:
        """The level after holding ``quantity`` more units, or InsufficientStock."""
        _check_count(quantity, field="quantity", minimum=1)
        if quantity > self.available:
            raise InsufficientStock(self.sku, requested=quantity, available=self.available)
        return dataclasses.replace(self, reserved=self.reserved + quantity, updated_at=at)

    def release(self, quantity: int, *, at: datetime) -> StockLevel:
        """The level after giving back ``quantity`` held units (a cancelled reservation)."""
        _check_count(quantity, field="quantity", minimum=0)
        return dataclasses.replace(self, reserved=max(self.reserved - quantity, 0), updated_at=at)

    def ship(self, quantity: int, *, at: datetime) -> StockLevel:
        """The level after ``quantity`` reserved units left the shelf."""
        _check_count(quantity, field="quantity", minimum=0)
        return dataclasses.replace(
            self,
            on_hand=self.on_hand - quantity,
            reserved=self.reserved - quantity,
            updated_at=at,
        )

    def same_counts(self, other: StockLevel) -> bool:
        return (self.sku, self.on_hand, self.reserved) == (other.sku, other.on_hand, other.reserved)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units of one sku held under the client's ``key``; a tombstone (a key cancelled before
    any reservation arrived) has quantity 0."""

    key: str
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or KEY_PATTERN.fullmatch(self.key) is None:
            raise InvalidRequest(
                f"idempotency_key must be 1-128 printable ASCII characters, not {self.key!r}",
                field="idempotency_key",
            )
        _check_sku(self.sku)
        _check_count(self.quantity, field="quantity", minimum=0)
        if not isinstance(self.status, ReservationStatus):
            raise InvalidRequest(f"unknown status {self.status!r}", field="status")
        object.__setattr__(self, "created_at", _aware(self.created_at, "created_at"))
        object.__setattr__(self, "updated_at", _aware(self.updated_at, "updated_at"))

    def cancelled(self, *, at: datetime) -> Reservation:
        return dataclasses.replace(self, status=ReservationStatus.CANCELLED, updated_at=at)

    def fulfilled(self, *, at: datetime) -> Reservation:
        return dataclasses.replace(self, status=ReservationStatus.FULFILLED, updated_at=at)
