"""``ShadowRunner``: the per-process machinery behind shadow mode, started and closed with the
facade. It only wires the two halves together: the loop side (``caller``) and the compare
worker (``worker``), joined by a bounded ``Handoff``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from facade.config import Config
from facade.metrics import Metrics
from facade.shadow.caller import ShadowCaller
from facade.shadow.handoff import Handoff
from facade.shadow.job import CLOSE_WAIT, ShadowJob
from facade.shadow.store import StoreFollower
from facade.shadow.worker import CompareWorker


class ShadowRunner:
    """Shadow calls on the loop, comparisons in a thread, records through the store in force.

    ``current`` returns the configuration in force: its ``store:`` settings decide where and
    how observations are recorded (``facade.shadow.store``)."""

    def __init__(self, metrics: Metrics, *, current: Callable[[], Config]) -> None:
        self._metrics = metrics
        handoff = Handoff()
        twins: dict[tuple[str, str], int] = {}
        self.caller = ShadowCaller(metrics, handoff, twins=twins)
        self.worker = CompareWorker(metrics, handoff, StoreFollower(current), twins=twins)

    def start(self) -> None:
        """Start the compare worker (idempotent; ``offer`` starts it too)."""
        self.worker.start()

    def offer(self, job: ShadowJob) -> bool:
        """Start the candidate call in the background, or count the job as dropped."""
        self.worker.start()
        return self.caller.offer(job)

    def export_stats(self) -> None:
        """Copy the recorder's counters into the metrics (called when /metrics is scraped)."""
        stats = self.worker.store.stats()
        if stats is None:
            return
        self._metrics.store_written.set(stats.written)
        self._metrics.store_up.set(1 if stats.store_ok else 0)
        for capability, count in stats.dropped.items():
            self._metrics.store_dropped.labels(capability).set(count)
        for capability, count in stats.examples_dropped.items():
            self._metrics.store_examples_dropped.labels(capability).set(count)
        self._metrics.store_counted_only.set(stats.counted_only)

    async def close(self) -> None:
        """Let in-flight candidate calls finish (briefly), then flush comparisons and records."""
        await self.caller.close()
        await asyncio.to_thread(self.worker.stop, CLOSE_WAIT)
        await asyncio.to_thread(self.worker.store.close, CLOSE_WAIT)
