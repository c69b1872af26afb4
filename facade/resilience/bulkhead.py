"""The bulkhead: at most ``limit`` calls to one service at once; the next is refused at once.

Refusing (rather than queueing) keeps a slow service from holding the facade's requests, and
its connections, hostage: the refused request falls back to the monolith, or is answered 503.
One event loop per process updates it, so a plain counter needs no lock.
"""

from __future__ import annotations


class Bulkhead:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def try_acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)

    @property
    def full(self) -> bool:
        return self.in_use >= self.limit
