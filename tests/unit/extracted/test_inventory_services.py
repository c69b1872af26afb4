"""Inventory use cases on the in-memory fake: reservations, idempotency, cancellation, upserts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extracted.inventory.domain.model import ReservationStatus, StockLevel
from extracted.inventory.errors import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidRequest,
    ReservationCancelled,
    ReservationFulfilled,
    ReservationNotFound,
    StockNotFound,
)
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import PlaceReservation, SetStock
from extracted.inventory.testing import FakeUnitOfWork

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def clock() -> datetime:
    return T0


def _uow(on_hand: int = 5, reserved: int = 0) -> FakeUnitOfWork:
    return FakeUnitOfWork([StockLevel("SKU-1", on_hand, reserved, T0)])


def test_a_reservation_holds_units_and_says_what_is_left() -> None:
    uow = _uow(on_hand=5, reserved=1)
    result = services.reservation_place(uow, PlaceReservation("SKU-1", 3, "k1"), clock=clock)
    assert result.created
    assert result.reservation.status is ReservationStatus.HELD
    assert (result.level.reserved, result.level.available) == (4, 1)
    assert services.stock_get(uow, "SKU-1").reserved == 4


def test_more_than_available_reserves_nothing() -> None:
    uow = _uow(on_hand=2)
    with pytest.raises(InsufficientStock) as caught:
        services.reservation_place(uow, PlaceReservation("SKU-1", 3, "k1"), clock=clock)
    assert (caught.value.requested, caught.value.available) == (3, 2)
    assert services.stock_get(uow, "SKU-1").reserved == 0
    assert uow.commits == 0


def test_the_same_key_reserves_once() -> None:
    uow = _uow(on_hand=5)
    first = services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    again = services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    assert not again.created
    assert again.reservation == first.reservation
    assert services.stock_get(uow, "SKU-1").reserved == 2


def test_a_key_reused_for_another_quantity_is_refused() -> None:
    uow = _uow(on_hand=5)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    with pytest.raises(IdempotencyKeyReused):
        services.reservation_place(uow, PlaceReservation("SKU-1", 3, "k1"), clock=clock)


def test_cancelling_gives_the_units_back_once() -> None:
    uow = _uow(on_hand=5)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    first = services.reservation_cancel(uow, "SKU-1", "k1", clock=clock)
    again = services.reservation_cancel(uow, "SKU-1", "k1", clock=clock)
    assert first.created
    assert not again.created
    assert again.reservation.status is ReservationStatus.CANCELLED
    assert services.stock_get(uow, "SKU-1").reserved == 0


def test_a_key_cancelled_before_its_reservation_arrives_never_holds_stock() -> None:
    uow = _uow(on_hand=5)
    tombstone = services.reservation_cancel(uow, "SKU-1", "late", clock=clock)
    assert tombstone.reservation.quantity == 0
    with pytest.raises(ReservationCancelled):
        services.reservation_place(uow, PlaceReservation("SKU-1", 2, "late"), clock=clock)
    assert services.stock_get(uow, "SKU-1").reserved == 0


def test_unknown_sku() -> None:
    uow = _uow()
    with pytest.raises(StockNotFound):
        services.reservation_place(uow, PlaceReservation("SKU-2", 1, "k"), clock=clock)
    with pytest.raises(StockNotFound):
        services.stock_get(uow, "SKU-2")


def test_upserts_are_idempotent_and_report_what_changed() -> None:
    uow = FakeUnitOfWork()
    created = services.stock_upsert(uow, SetStock("SKU-9", 10, 2), clock=clock)
    same = services.stock_upsert(uow, SetStock("SKU-9", 10, 2), clock=clock)
    changed = services.stock_upsert(uow, SetStock("SKU-9", 11, 2), clock=clock)
    assert (created.created, created.changed) == (True, True)
    assert (same.created, same.changed) == (False, False)
    assert (changed.created, changed.changed) == (False, True)
    assert services.stock_get(uow, "SKU-9").on_hand == 11


@pytest.mark.parametrize(
    ("on_hand", "reserved", "field"),
    [(-1, 0, "on_hand"), (1, 2, "reserved"), (1, -1, "reserved"), (True, 0, "on_hand")],
)
def test_a_stock_level_keeps_its_invariant(on_hand: object, reserved: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        SetStock("SKU-1", on_hand, reserved)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(("quantity", "key"), [(0, "k"), (1, ""), (1, "has space"), (1, "x" * 129)])
def test_a_reservation_needs_a_positive_quantity_and_a_usable_key(quantity: int, key: str) -> None:
    with pytest.raises(InvalidRequest):
        PlaceReservation("SKU-1", quantity, key)


def test_fulfilling_takes_the_units_off_the_shelf_once() -> None:
    uow = _uow(on_hand=5)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    first = services.reservation_fulfil(uow, "SKU-1", "k1", clock=clock)
    again = services.reservation_fulfil(uow, "SKU-1", "k1", clock=clock)
    assert first.created
    assert not again.created
    assert again.reservation.status is ReservationStatus.FULFILLED
    level = services.stock_get(uow, "SKU-1")
    assert (level.on_hand, level.reserved) == (3, 0)
    with pytest.raises(ReservationFulfilled):
        services.reservation_cancel(uow, "SKU-1", "k1", clock=clock)


def test_only_a_held_reservation_can_be_fulfilled() -> None:
    uow = _uow(on_hand=5)
    with pytest.raises(ReservationNotFound):
        services.reservation_fulfil(uow, "SKU-1", "never", clock=clock)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    services.reservation_cancel(uow, "SKU-1", "k1", clock=clock)
    with pytest.raises(ReservationCancelled):
        services.reservation_fulfil(uow, "SKU-1", "k1", clock=clock)
    assert services.stock_get(uow, "SKU-1").on_hand == 5


# -- the outbox: every change of a stock level is recorded once, with its commit -------------


def test_each_use_case_that_changes_a_level_records_its_sku_once() -> None:
    uow = _uow(on_hand=5)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)  # replay
    services.reservation_cancel(uow, "SKU-1", "k1", clock=clock)
    services.reservation_place(uow, PlaceReservation("SKU-1", 1, "k2"), clock=clock)
    services.reservation_fulfil(uow, "SKU-1", "k2", clock=clock)
    services.stock_upsert_many(uow, [SetStock("SKU-1", 9), SetStock("SKU-2", 3)], clock=clock)
    services.stock_upsert(uow, SetStock("SKU-2", 3), clock=clock)  # the same counts: no change
    assert uow.outbox == [
        ("stock", "SKU-1", "upsert"),  # reserved
        ("stock", "SKU-1", "upsert"),  # released
        ("stock", "SKU-1", "upsert"),  # reserved again
        ("stock", "SKU-1", "upsert"),  # shipped
        ("stock", "SKU-1", "upsert"),  # set
        ("stock", "SKU-2", "upsert"),  # created
    ]


def test_what_changed_nothing_records_nothing() -> None:
    uow = _uow(on_hand=2)
    with pytest.raises(InsufficientStock):
        services.reservation_place(uow, PlaceReservation("SKU-1", 3, "k1"), clock=clock)
    services.reservation_cancel(uow, "SKU-1", "never-seen", clock=clock)  # a tombstone only
    services.stock_get(uow, "SKU-1")
    assert uow.outbox == []


def test_a_unit_of_work_with_capture_off_records_nothing() -> None:
    uow = FakeUnitOfWork([StockLevel("SKU-1", 5, 0, T0)], capture=False)
    services.reservation_place(uow, PlaceReservation("SKU-1", 2, "k1"), clock=clock)
    services.stock_upsert(uow, SetStock("SKU-1", 7), clock=clock)
    assert services.stock_get(uow, "SKU-1").on_hand == 7
    assert uow.outbox == []
