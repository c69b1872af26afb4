"""The ``inventory`` seam: where a stock reservation is made.

``catalog.services.reserve_stock`` reserves in the monolith's product table (legacy) or in the
inventory service (new), whose answer is read through the ACL (``acl.inventory``): the same
``StockLevel`` comes back, and "insufficient stock" or "not found" are the same legacy errors.

Side effects, the reason this seam is more than a switch:

- The service's reservations are outside the monolith's database transaction. Every one made
  inside a ``reservation_scope()`` (``place_order`` opens one around its transaction) is
  cancelled if the block fails: an order whose second line is refused gives the first line's
  units back in the service as the rollback does in the monolith. The idempotency key is
  registered *before* the call, so a call that timed out is cancelled too; the service keeps a
  cancelled key as a tombstone and refuses a reservation that arrives after it.
- In ``experiment`` mode the candidate reserves for real, but in the service's own database
  only: the monolith's stock, which is authoritative, is touched only by the legacy side. The
  two stores stay in step as long as they agree, and where they do not, that is the evidence
  the experiment is for. The same compensation applies, so a failed order leaves neither store
  holding units.
- In ``new`` mode a service that cannot answer is a 503 (``on_failure="error"``), never a
  fall back to the monolith's table: two places taking reservations for the same shelf
  would oversell.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from acl.errors import TranslationError
from acl.http import HttpRequestData
from acl.inventory import (
    Shortage,
    StockLevel,
    cancel_request,
    fulfil_outcome,
    fulfil_request,
    release_outcome,
    reserve_outcome,
    reserve_request,
)
from legacy_monolith.seams.errors import ServiceUnavailable
from legacy_monolith.seams.service_client import send
from legacy_monolith.shop.errors import Conflict, NotFound
from strangler_django import Endpoint, NotInService, SeamCallFailed, seam
from strangler_django import ServiceUnavailable as SeamUnavailable

log = logging.getLogger("strangler.seams")

_Pending = tuple[Endpoint, str, str]  # service, sku, idempotency key
_scope: contextvars.ContextVar[list[_Pending] | None] = contextvars.ContextVar(
    "strangler_reservation_scope", default=None
)


@contextmanager
def reservation_scope() -> Iterator[None]:
    """Cancel the service reservations made inside if the block raises (nested: the outer
    scope decides)."""
    if _scope.get() is not None:
        yield
        return
    pending: list[_Pending] = []
    token = _scope.set(pending)
    try:
        yield
    except BaseException:
        _compensate(pending)
        raise
    finally:
        _scope.reset(token)


def reserve(
    sku: str, qty: int, *, key: str | None = None, legacy: Callable[[], StockLevel]
) -> StockLevel:
    """Reserve ``qty`` units of ``sku`` by whichever implementation the seam says; ``key``
    names the reservation in the service (an order line's, so it can be released or
    fulfilled later), a fresh one if None."""
    with reservation_scope():
        return _run(
            legacy=legacy,
            new=lambda endpoint: reserve_in_service(endpoint, sku, qty, key=key),
            keys={"sku": sku},
            clean=asdict,
            call=f"reserve_stock {sku} x{qty}",
        )


def release(sku: str, qty: int, *, key: str, legacy: Callable[[], StockLevel]) -> StockLevel:
    """Give back the reservation ``key`` (an order cancelled)."""
    return _run(
        legacy=legacy,
        new=lambda endpoint: _settle(endpoint, sku, qty, cancel_request(sku, key=key)),
        keys={"sku": sku},
        clean=asdict,
        call=f"release_stock {sku} x{qty}",
    )


def consume(sku: str, qty: int, *, key: str, legacy: Callable[[], StockLevel]) -> StockLevel:
    """Take the reservation ``key``'s units off the shelf (an order shipped)."""
    return _run(
        legacy=legacy,
        new=lambda endpoint: _settle(endpoint, sku, qty, fulfil_request(sku, key=key)),
        keys={"sku": sku},
        clean=asdict,
        call=f"consume_stock {sku} x{qty}",
    )


def _run(
    *,
    legacy: Callable[[], StockLevel],
    new: Callable[[Endpoint], StockLevel],
    keys: dict[str, str],
    clean: Callable[[StockLevel], object],
    call: str,
) -> StockLevel:
    """Through the ``inventory`` seam; a failed service is a 503 (``on_failure="error"``),
    never the legacy table: two places taking reservations for one shelf would oversell."""
    try:
        return seam("inventory").run(
            legacy=legacy, new=new, keys=keys, clean=clean, call=call, on_failure="error"
        )
    except SeamUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc


def _settle(endpoint: Endpoint, sku: str, qty: int, request: HttpRequestData) -> StockLevel:
    """A cancellation (DELETE) or fulfilment (POST) in the service, in legacy terms."""
    answer = send(endpoint.name, endpoint.settings, request, seam="inventory")
    outcome = release_outcome if request.method == "DELETE" else fulfil_outcome
    try:
        level = outcome(sku, qty, answer)
    except TranslationError as exc:
        raise SeamCallFailed(endpoint.name, f"answer not translatable: {exc}") from exc
    if level is None:
        raise NotInService(f"{endpoint.name} holds no reservation at {request.path}")
    return level


def reserve_in_service(
    endpoint: Endpoint, sku: str, qty: int, *, key: str | None = None
) -> StockLevel:
    """The new implementation: a reservation in the inventory service, in legacy terms."""
    key = key or f"monolith-{uuid.uuid4().hex}"
    pending = _scope.get()
    if pending is not None:
        pending.append((endpoint, sku, key))
    answer = send(
        endpoint.name, endpoint.settings, reserve_request(sku, qty, key=key), seam="inventory"
    )
    try:
        outcome = reserve_outcome(sku, qty, answer)
    except TranslationError as exc:
        raise SeamCallFailed(endpoint.name, f"answer not translatable: {exc}") from exc
    if outcome is None:
        raise NotFound(f"product {sku} not found")
    if isinstance(outcome, Shortage):
        raise Conflict(outcome.legacy_message())
    return outcome


def _compensate(pending: list[_Pending]) -> None:
    for endpoint, sku, key in reversed(pending):
        try:
            answer = send(
                endpoint.name, endpoint.settings, cancel_request(sku, key=key), seam="inventory"
            )
        except SeamCallFailed as exc:
            log.error("seam inventory: reservation %s of %s not cancelled: %s", key, sku, exc)
            continue
        if answer.status not in (200, 404):
            log.error(
                "seam inventory: reservation %s of %s not cancelled: answered %s",
                key,
                sku,
                answer.status,
            )
