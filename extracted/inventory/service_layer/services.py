"""The inventory's use cases, each in one unit of work.

``stock_upsert`` / ``stock_upsert_many`` are the entry points for moving data in (``strangler
data copy``, ``--seed-from-json``): idempotent, a replay changes nothing.

Every use case that changes a stock level marks its sku (``uow.changed(STOCK, sku)``): the
unit of work writes it to the service's outbox at commit, and ``strangler data sync
inventory`` carries it back to the monolith's counters (the way back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from extracted.inventory.domain.model import Reservation, ReservationStatus, StockLevel
from extracted.inventory.errors import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidRequest,
    ReservationCancelled,
    ReservationFulfilled,
    ReservationNotFound,
    StockNotFound,
)
from extracted.inventory.service_layer.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]

STOCK = "stock"
"""The aggregate of the outbox rows of stock levels (``data.sync.back.aggregate``)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SetStock:
    """A stock level as a data move or an operator sends it: counts, no timestamp."""

    sku: str
    on_hand: int
    reserved: int = 0

    def __post_init__(self) -> None:
        self.to_level(updated_at=datetime(2000, 1, 1, tzinfo=UTC))  # the model's own rules

    def to_level(self, *, updated_at: datetime) -> StockLevel:
        return StockLevel(self.sku, self.on_hand, self.reserved, updated_at)


@dataclass(frozen=True, slots=True)
class PlaceReservation:
    sku: str
    quantity: int
    key: str

    def __post_init__(self) -> None:
        at = datetime(2000, 1, 1, tzinfo=UTC)
        Reservation(self.key, self.sku, self.quantity, ReservationStatus.HELD, at, at)
        if self.quantity < 1:
            raise InvalidRequest("quantity must be >= 1", field="quantity")


@dataclass(frozen=True, slots=True)
class Upserted:
    level: StockLevel
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class Reserved:
    reservation: Reservation
    level: StockLevel
    created: bool  # False: a replay of the same key, nothing reserved again


def stock_get(uow: UnitOfWork, sku: str) -> StockLevel:
    with uow:
        level = uow.stock.get(sku)
    if level is None:
        raise StockNotFound(sku)
    return level


def stock_upsert(uow: UnitOfWork, command: SetStock, *, clock: Clock = utc_now) -> Upserted:
    """Create or replace one stock level; sending the same counts again changes nothing."""
    return stock_upsert_many(uow, [command], clock=clock)[0]


def stock_upsert_many(
    uow: UnitOfWork, commands: Iterable[SetStock], *, clock: Clock = utc_now
) -> list[Upserted]:
    """``stock_upsert`` for a batch, in one transaction (all or nothing)."""
    with uow:
        results = stock_levels_set(uow, commands, clock=clock)
        uow.commit()
    return results


def stock_levels_set(
    uow: UnitOfWork, commands: Iterable[SetStock], *, clock: Clock = utc_now
) -> list[Upserted]:
    """The writes of ``stock_upsert_many`` inside a unit of work its caller opened and
    commits (a data sync's apply, whose transaction the sync's ledger shares)."""
    batch = list(commands)
    results: list[Upserted] = []
    existing = uow.stock.get_many(c.sku for c in batch)
    now = clock()
    changed: list[StockLevel] = []
    for command in batch:
        before = existing.get(command.sku)
        level = command.to_level(updated_at=now)
        if before is not None and before.same_counts(level):
            results.append(Upserted(before, created=False, changed=False))
            continue
        changed.append(level)
        uow.changed(STOCK, command.sku)
        existing[command.sku] = level
        results.append(Upserted(level, created=before is None, changed=True))
    uow.stock.save_many(changed)  # in order: a sku twice in a batch ends as its last
    return results


def reservation_place(
    uow: UnitOfWork, command: PlaceReservation, *, clock: Clock = utc_now
) -> Reserved:
    """Hold ``quantity`` units under ``key``, or raise InsufficientStock reserving nothing.

    Idempotent: the same key with the same sku and quantity answers the first reservation
    again; with another sku or quantity it is IdempotencyKeyReused; a cancelled key is
    ReservationCancelled.
    """
    with uow:
        known = uow.reservations.get(command.key)
        if known is not None:
            if known.status is ReservationStatus.CANCELLED:
                raise ReservationCancelled(command.key)
            if (known.sku, known.quantity) != (command.sku, command.quantity):
                first = f"{known.quantity} x {known.sku}"
                raise IdempotencyKeyReused(command.key, first=first)
            level = uow.stock.get(command.sku)
            if level is None:
                raise StockNotFound(command.sku)
            return Reserved(known, level, created=False)
        level = uow.stock.get(command.sku)
        if level is None:
            raise StockNotFound(command.sku)
        now = clock()
        after = level.reserve(command.quantity, at=now)  # InsufficientStock on stale-free data
        if not uow.stock.hold(command.sku, command.quantity, at=now):
            # another writer got there between our read and our write (server databases)
            fresh = uow.stock.get(command.sku)
            available = 0 if fresh is None else fresh.available
            raise InsufficientStock(command.sku, requested=command.quantity, available=available)
        uow.changed(STOCK, command.sku)
        reservation = Reservation(
            command.key, command.sku, command.quantity, ReservationStatus.HELD, now, now
        )
        uow.reservations.add(reservation)
        uow.commit()
        return Reserved(reservation, after, created=True)


def reservation_get(uow: UnitOfWork, sku: str, key: str) -> Reserved:
    with uow:
        reservation = uow.reservations.get(key)
        level = uow.stock.get(sku)
    if reservation is None or reservation.sku != sku:
        raise ReservationNotFound(sku, key)
    if level is None:
        raise StockNotFound(sku)
    return Reserved(reservation, level, created=False)


def reservation_cancel(uow: UnitOfWork, sku: str, key: str, *, clock: Clock = utc_now) -> Reserved:
    """Give a held reservation's units back; idempotent.

    A key never seen is recorded as cancelled (a tombstone of quantity 0), so a reservation
    that arrives late under that key (a retry still in flight when its owner gave up) is
    refused rather than holding stock nobody will release. ``created`` is True when this
    call changed something.
    """
    with uow:
        level = uow.stock.get(sku)
        if level is None:
            raise StockNotFound(sku)
        now = clock()
        known = uow.reservations.get(key)
        if known is None:
            tombstone = Reservation(key, sku, 0, ReservationStatus.CANCELLED, now, now)
            uow.reservations.add(tombstone)
            uow.commit()
            return Reserved(tombstone, level, created=True)
        if known.sku != sku:
            raise ReservationNotFound(sku, key)
        if known.status is ReservationStatus.CANCELLED:
            return Reserved(known, level, created=False)
        if known.status is ReservationStatus.FULFILLED:
            raise ReservationFulfilled(key)
        uow.stock.unhold(sku, known.quantity, at=now)
        uow.changed(STOCK, sku)
        uow.reservations.set_status(key, ReservationStatus.CANCELLED, at=now)
        uow.commit()
        return Reserved(known.cancelled(at=now), level.release(known.quantity, at=now), True)


def reservation_fulfil(uow: UnitOfWork, sku: str, key: str, *, clock: Clock = utc_now) -> Reserved:
    """The reservation's units left the shelf (shipped): on hand and reserved both drop, once.

    Idempotent: fulfilling again answers the fulfilled reservation. A key never seen is
    ReservationNotFound (nothing to ship), a cancelled one ReservationCancelled.
    """
    with uow:
        level = uow.stock.get(sku)
        if level is None:
            raise StockNotFound(sku)
        known = uow.reservations.get(key)
        if known is None or known.sku != sku:
            raise ReservationNotFound(sku, key)
        if known.status is ReservationStatus.FULFILLED:
            return Reserved(known, level, created=False)
        if known.status is ReservationStatus.CANCELLED:
            raise ReservationCancelled(key)
        now = clock()
        if not uow.stock.ship(sku, known.quantity, at=now):
            # only a PUT that lowered `reserved` below what reservations hold gets here
            raise InsufficientStock(sku, requested=known.quantity, available=level.reserved)
        uow.changed(STOCK, sku)
        uow.reservations.set_status(key, ReservationStatus.FULFILLED, at=now)
        uow.commit()
        return Reserved(known.fulfilled(at=now), level.ship(known.quantity, at=now), True)
