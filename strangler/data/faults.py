"""What a failure means for a relay, and what it does about it.

- A **row** that cannot move (unreadable, untranslatable, refused by the target) is parked at
  once with its stage and reason, and the rows behind it flow (``relay.py`` does that).
- A **batch** that fails because a side is down or locked backs off: full jitter, growing with
  each failure in a row, up to ``cap``; logged once per ``log_interval`` with how many failures
  the line stands for. The batch is retried whole.
- A batch that fails for itself (a side answers, but this batch breaks it: an integrity error,
  a plugin's bug) ``POISON_AFTER`` times in a row is **bisected**: halves, then quarters, down to
  single keys; a key failing alone ``POISON_AFTER`` times is parked with the error's text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from facade.resilience.backoff import Uniform, backoff_delay
from facade.throttle import LogThrottle

FailureKind = Literal["locked", "unavailable", "batch"]
Stage = Literal["source", "translate", "target"]
POISON_AFTER = 3
BACKOFF_BASE = 0.2  # seconds
BACKOFF_CAP = 30.0
LOG_INTERVAL = 30.0

_T = TypeVar("_T")


class BatchFailed(Exception):
    """A batch failed at ``stage``; the cause is the original error."""

    def __init__(self, stage: Stage, cause: BaseException) -> None:
        super().__init__(f"{stage}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, BatchFailed):
            current = current.cause
        else:
            current = current.__cause__ or current.__context__
    return seen


# PostgreSQL's query_canceled (statement_timeout): an OperationalError, but it is the batch
# that is too slow, and backing off would retry the same batch forever; a half may pass
_QUERY_CANCELED = "57014"


def _canceled(error: BaseException) -> bool:
    return any(
        getattr(e, "sqlstate", None) == _QUERY_CANCELED
        for e in (error, getattr(error, "orig", None))
    )


def classify(exc: BaseException) -> FailureKind:
    """``unavailable`` or ``locked``: a side cannot be reached or written now (wait, never
    bisect: every half would fail too); ``batch``: this batch breaks (bisect it)."""
    for error in _chain(exc):
        if _canceled(error):
            return "batch"
        if isinstance(error, OperationalError | InterfaceError | DisconnectionError | OSError):
            return "locked" if "locked" in str(error).lower() else "unavailable"
    return "batch"


def describe(exc: BaseException) -> str:
    """One line naming the error a relay met (what the log, health and parked rows show)."""
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def halves(items: Sequence[_T]) -> tuple[Sequence[_T], Sequence[_T]]:
    middle = len(items) // 2
    return items[:middle], items[middle:]


class Backoff:
    """The wait after each failed batch, and the throttled log line about it."""

    def __init__(
        self,
        *,
        log: Callable[[str], None],
        base: float = BACKOFF_BASE,
        cap: float = BACKOFF_CAP,
        log_interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        uniform: Uniform = random.uniform,
    ) -> None:
        self._log = log
        self._base = base
        self._cap = cap
        self._uniform = uniform
        self._throttle = LogThrottle(interval=log_interval, clock=clock)
        self.failures = 0  # in a row
        self.last_error: str | None = None

    def failed(self, what: str, exc: BaseException) -> float:
        """Count a failure, maybe log it; the seconds to wait before the next try."""
        self.last_error = f"{classify(exc)}: {describe(exc)}"
        delay = backoff_delay(self.failures, base=self._base, cap=self._cap, uniform=self._uniform)
        self.failures += 1
        count = self._throttle.due()
        if count is not None:
            times = f" ({count} failures since the last line)" if count > 1 else ""
            self._log(f"{what}: {self.last_error}{times}; retrying with back-off")
        return delay

    def succeeded(self, what: str) -> None:
        if self.failures:
            self._log(f"{what}: working again after {self.failures} failed tries")
        self.failures = 0
        self.last_error = None


class PoisonWatch:
    """Which batches and keys keep failing for themselves (``batch`` failures only)."""

    def __init__(self, *, after: int = POISON_AFTER) -> None:
        self._after = after
        self.batch_failures = 0
        self._key_failures: dict[str, int] = {}

    @property
    def bisecting(self) -> bool:
        return self.batch_failures >= self._after

    def batch_failed(self) -> None:
        self.batch_failures += 1

    def key_failed(self, key: str) -> bool:
        """Count a failure of ``key`` alone; True when it is time to park it."""
        failures = self._key_failures.get(key, 0) + 1
        if failures >= self._after:
            self._key_failures.pop(key, None)
            return True
        self._key_failures[key] = failures
        return False

    def clean_batch(self) -> None:
        """A batch went through with no failure: the poison, if any, is parked or gone."""
        self.batch_failures = 0
        self._key_failures.clear()
