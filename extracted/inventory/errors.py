"""Errors of the inventory service; the HTTP middleware maps each to one error code.

::

    InventoryError
    ├── InvalidRequest (ValueError)        422 invalid_request, details.field
    ├── StockNotFound (LookupError)        404 stock_not_found, details.sku
    ├── ReservationNotFound (LookupError)  404 reservation_not_found, details.idempotency_key
    ├── InsufficientStock                  409 insufficient_stock, details.requested/available
    ├── ReservationCancelled               409 reservation_cancelled, details.idempotency_key
    ├── ReservationFulfilled               409 reservation_fulfilled, details.idempotency_key
    └── IdempotencyKeyReused               422 idempotency_key_reused, details.idempotency_key
"""

from __future__ import annotations


class InventoryError(Exception):
    """Root of every error the inventory service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(InventoryError, ValueError):
    """A field breaks a rule of the model; ``field`` is its JSON path (or ``body``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class StockNotFound(InventoryError, LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no stock level for sku {sku}")
        self.sku = sku


class ReservationNotFound(InventoryError, LookupError):
    def __init__(self, sku: str, key: str) -> None:
        super().__init__(f"no reservation {key!r} for sku {sku}")
        self.sku = sku
        self.key = key


class InsufficientStock(InventoryError):
    """Fewer units available than asked for; nothing was reserved."""

    def __init__(self, sku: str, *, requested: int, available: int) -> None:
        super().__init__(f"{sku}: {requested} requested, {available} available")
        self.sku = sku
        self.requested = requested
        self.available = available


class ReservationCancelled(InventoryError):
    """The idempotency key names a cancelled reservation: it can never hold stock again, so a
    late retry of a reservation that its owner already gave up cannot resurrect it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"reservation {key!r} was cancelled; use a new idempotency key")
        self.key = key


class ReservationFulfilled(InventoryError):
    """The reservation's units were shipped: it can no longer be cancelled."""

    def __init__(self, key: str) -> None:
        super().__init__(f"reservation {key!r} was fulfilled; its units have left the shelf")
        self.key = key


class IdempotencyKeyReused(InventoryError):
    """The key was first used for a different sku or quantity."""

    def __init__(self, key: str, *, first: str) -> None:
        super().__init__(f"idempotency key {key!r} was first used for {first}")
        self.key = key
