"""Whatever clients do, in whatever order, the stock adds up (hypothesis).

Any sequence of reservations (new keys and replays), cancellations and fulfilments on the
in-memory fake keeps ``0 <= reserved <= on_hand``, and the level always equals what the
reservations say: reserved = the sum of held reservations, on hand = the start minus the sum
of fulfilled ones. Refused operations change nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from extracted.inventory.domain.model import ReservationStatus, StockLevel
from extracted.inventory.errors import InventoryError
from extracted.inventory.service_layer import services
from extracted.inventory.service_layer.services import PlaceReservation
from extracted.inventory.testing import FakeUnitOfWork

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
keys = st.sampled_from([f"k{n}" for n in range(6)])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), keys, st.integers(min_value=1, max_value=8)),
        st.tuples(st.just("cancel"), keys, st.just(0)),
        st.tuples(st.just("fulfil"), keys, st.just(0)),
    ),
    max_size=40,
)


@given(st.integers(min_value=0, max_value=30), operations)
def test_the_stock_always_adds_up(start: int, ops: list[tuple[str, str, int]]) -> None:
    uow = FakeUnitOfWork([StockLevel("SKU-1", start, 0, T0)])
    for op, key, quantity in ops:
        before = services.stock_get(uow, "SKU-1")
        try:
            if op == "reserve":
                services.reservation_place(uow, PlaceReservation("SKU-1", quantity, key))
            elif op == "cancel":
                services.reservation_cancel(uow, "SKU-1", key)
            else:
                services.reservation_fulfil(uow, "SKU-1", key)
        except InventoryError:
            after = services.stock_get(uow, "SKU-1")
            assert (after.on_hand, after.reserved) == (before.on_hand, before.reserved)
        level = services.stock_get(uow, "SKU-1")
        assert 0 <= level.reserved <= level.on_hand
        held = uow.committed_reservations.reservations.values()
        assert level.reserved == sum(r.quantity for r in held if r.status is ReservationStatus.HELD)
        assert level.on_hand == start - sum(
            r.quantity for r in held if r.status is ReservationStatus.FULFILLED
        )
