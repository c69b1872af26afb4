"""Under ``--workers N`` each worker publishes, unasked, what a scrape answered by another
worker reads from its file: the breaker states, and the store's counters and state."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from facade import config
from facade.app import Facade
from facade.server import _publish_metrics
from parallel_run.recorder import RecorderStats


def routes(tmp_path: Path) -> config.Config:
    path = tmp_path / "routes.yaml"
    path.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    return config.load(path)


async def test_a_worker_publishes_its_store_counters_without_being_scraped(
    tmp_path: Path,
) -> None:
    facade = Facade(routes(tmp_path), watch=False)
    stats = RecorderStats(submitted=7, written=5, dropped={"c": 2}, store_ok=True)
    asked = asyncio.Event()

    def read() -> RecorderStats:
        asked.set()
        return stats

    facade.state.shadow.worker.store.stats = read  # type: ignore[method-assign]
    metrics = facade.state.metrics
    task = asyncio.get_running_loop().create_task(_publish_metrics(facade))
    try:
        async with asyncio.timeout(10):
            await asked.wait()  # resumes once the publisher waits for its next round
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert metrics.store_written._value.get() == 5
    assert metrics.store_up._value.get() == 1
    assert metrics.store_dropped.labels("c")._value.get() == 2
