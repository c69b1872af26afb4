"""A ``SyncTarget`` wrapper that logs what the ledger admitted, for tests of the relay.

``target: tests.support.sync_targets:recorded_products`` in routes.yaml: the catalog's own
target, and after each apply has committed one line ``key epoch seq ROW`` per written change
(ROW: the written row as JSON, ``null`` for a delete), appended to
``$STRANGLER_TEST_APPLIED_LOG``. A relay killed between the commit and the line loses the
line, never invents one, so "no key applied out of order" holds on the log if it holds at all,
and so does "each version was written with the state the monolith held at that seq".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from acl.catalog import minor_to_amount
from acl.data import Applied, Change, Key, Ledger, Row, Upserted
from extracted.catalog.data import ProductTarget, products

LOG_ENV = "STRANGLER_TEST_APPLIED_LOG"


class RecordedTarget:
    """The catalog's target (copy and verify go straight through), ``apply`` logged."""

    def __init__(self, inner: ProductTarget, log_path: str) -> None:
        self._inner = inner
        self._log_path = log_path
        self.url = inner.url  # the service database: copy and status read its sync ledger

    def prepare(self) -> None:
        self._inner.prepare()

    def count(self) -> int:
        return self._inner.count()

    def upsert(self, rows: Sequence[tuple[Key, Row]]) -> Upserted:
        return self._inner.upsert(rows)

    def read(self, *, after: Key | None, limit: int) -> Sequence[tuple[Key, Row]]:
        return self._inner.read(after=after, limit=limit)

    def apply(self, changes: Sequence[Change], *, ledger: Ledger) -> Applied:
        applied = self._inner.apply(changes, ledger=ledger)
        if applied.admission is not None and applied.admission.write:
            refused = {r.key for r in applied.rejected}
            lines = "".join(
                f"{c.key} {c.version.epoch} {c.version.seq} {json.dumps(c.row, sort_keys=True)}\n"
                for c in applied.admission.write
                if c.key not in refused
            )
            with open(self._log_path, "a", encoding="utf-8") as log:
                log.write(lines)
        return applied

    def close(self) -> None:
        self._inner.close()


def recorded_products() -> RecordedTarget:
    return RecordedTarget(products(), os.environ[LOG_ENV])


def out_of_order(lines: Sequence[str]) -> list[str]:
    """Keys whose logged versions do not strictly increase (in one epoch)."""
    last: dict[str, tuple[str, int]] = {}
    bad: list[str] = []
    for line in lines:
        key, epoch, seq, _ = line.split(" ", 3)
        previous = last.get(key)
        if previous is not None and previous[0] == epoch and previous[1] >= int(seq):
            bad.append(f"{key}: {previous[1]} then {seq}")
        last[key] = (epoch, int(seq))
    return bad


def not_as_captured(
    lines: Sequence[str], captured: Mapping[tuple[str, int], tuple[str, Any]]
) -> list[str]:
    """Logged writes whose row is not the monolith's state at their version: ``captured``
    maps ``(key, seq)`` to that outbox row's ``(type, payload)`` (capture with ``payload:
    row``, the product-catalog spec's columns). A state read under one version and labelled
    with a newer one (a fence bug) keeps versions increasing but fails here."""
    bad: list[str] = []
    for line in lines:
        key, _epoch, seq, written = line.split(" ", 3)
        entry = captured.get((key, int(seq)))
        if entry is None:
            bad.append(f"{key}@{seq}: no outbox row of {key} has that seq")
            continue
        kind, payload = entry
        row = json.loads(written)
        expected = None if kind == "delete" else _catalog_fields(payload)
        got = None if row is None else _service_fields(row)
        if got != expected:
            bad.append(f"{key}@{seq}: wrote {got}, the monolith held {expected}")
    return bad


def _catalog_fields(payload: Mapping[str, Any]) -> dict[str, object]:
    """The captured columns of ``catalog_product``, as the catalog's row shows them."""
    return {
        "name": payload["name"],
        "amount": minor_to_amount(int(payload["unit_price_cents"]), payload["currency"]),
        "currency": payload["currency"],
        "on_hand": int(payload["stock"]),
        "status": "active" if payload["active"] else "inactive",
    }


def _service_fields(row: Mapping[str, Any]) -> dict[str, object]:
    return {
        "name": row["name"],
        "amount": row["price"]["amount"],
        "currency": row["price"]["currency"],
        "on_hand": row["stock"]["on_hand"],
        "status": row["status"],
    }
