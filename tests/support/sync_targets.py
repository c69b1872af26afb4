"""A ``SyncTarget`` wrapper that logs what the ledger admitted, for tests of the relay.

``target: tests.support.sync_targets:recorded_products`` in routes.yaml: the catalog's own
target, and after each apply has committed one line ``key seq`` per written change, appended
to ``$STRANGLER_TEST_APPLIED_LOG``. A relay killed between the commit and the line loses the
line, never invents one, so "no key applied out of order" holds on the log if it holds at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

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
                f"{c.key} {c.version.epoch} {c.version.seq}\n"
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
        key, epoch, seq = line.split()
        previous = last.get(key)
        if previous is not None and previous[0] == epoch and previous[1] >= int(seq):
            bad.append(f"{key}: {previous[1]} then {seq}")
        last[key] = (epoch, int(seq))
    return bad
