"""The loop side: admission per service, the bounded hand-off, pools kept while in use."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from facade.metrics import Metrics
from facade.shadow import ShadowJob
from facade.shadow.caller import ShadowCaller
from facade.shadow.handoff import Handoff
from parallel_run.compare import HttpAnswer
from tests.unit.facade.shadow.support import answer, client, compared, job, routes


def dropped(metrics: Metrics, reason: str) -> float:
    value: float = metrics.shadow_dropped.labels("c", reason)._value.get()
    return value


async def test_calls_beyond_the_services_connections_are_dropped_not_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics()
    handoff = Handoff()
    caller = ShadowCaller(metrics, handoff, twins={})
    release = asyncio.Event()

    async def slow(_job: ShadowJob, _client: Any) -> HttpAnswer:
        await release.wait()
        return answer(id=1)

    monkeypatch.setattr(caller, "_fetch", slow)
    loaded = routes(tmp_path)
    jobs = [job(loaded, legacy=answer(id=1)) for _ in range(3)]  # the service holds 2
    assert [caller.offer(j) for j in jobs] == [True, True, False]
    assert dropped(metrics, "busy") == 1
    assert caller.in_flight("s") == 2
    release.set()
    await caller.close()
    assert caller.in_flight("s") == 0
    assert handoff.queued == 2  # both finished calls wait for the worker


def test_the_hand_off_refuses_past_its_count_and_frees_the_bytes_of_what_it_refused(
    tmp_path: Path,
) -> None:
    loaded = routes(tmp_path)
    handoff = Handoff(maxsize=1)
    item = compared(loaded, legacy=answer(id=1), candidate=answer(id=1))
    assert handoff.put(item)
    assert not handoff.put(item)
    assert handoff.queued_bytes == item.size
    assert handoff.get(timeout=0) is item
    assert handoff.queued_bytes == 0


async def test_pools_of_a_configuration_reloaded_away_close_once_no_job_holds_it(
    tmp_path: Path,
) -> None:
    caller = ShadowCaller(Metrics(), Handoff(), twins={})
    caller._loop = asyncio.get_running_loop()  # as the first offer() sets it
    old = routes(tmp_path)
    in_flight = job(old, legacy=answer(id=1))  # a shadow call still running under it
    pool = caller.pool(old, client("s"))
    assert caller.pool(old, client("s")) is pool  # kept alive between calls
    new = routes(tmp_path, name="reloaded.yaml")
    assert caller.pool(new, client("s")) is not pool
    del old
    gc.collect()
    await asyncio.sleep(0)
    assert not pool.closed  # the job still calls through it
    assert caller.pool(in_flight.config, client("s")) is pool
    del in_flight
    gc.collect()
    await asyncio.sleep(0)  # the close is handed to the loop
    assert pool.closed
    assert caller.pool_sets() == 1  # the configuration in force only
