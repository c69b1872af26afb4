"""The shadow hand-off: the request and the monolith's answer offered to the shadow runner,
or dropped (and counted) when the service is failing or busy."""

from __future__ import annotations

import random
from typing import Any

import pytest

from facade.body_spool import SpooledBody
from facade.config import Config
from facade.exchange import Exchange
from facade.shadow import ShadowJob
from facade.stages import body, default_stages
from tests.support.fake_upstream import FakeAnswer
from tests.unit.facade.stages.pipeline import Pipeline, open_breaker

HOST = ("Host", "shop.example")


class Runner:
    """The shadow runner's side the hand-off uses: offers recorded, nothing run."""

    def __init__(self) -> None:
        self.offered: list[ShadowJob] = []

    def ensure_recorder(self, config: Config) -> None:
        pass

    def rules_for(self, config: Config, capability: str) -> Any:
        return None

    def offer(self, job: ShadowJob) -> None:
        self.offered.append(job)


@pytest.fixture
def runner(p: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Runner:
    fake = Runner()
    monkeypatch.setattr(p.state, "shadow", fake)
    monkeypatch.setattr(random, "random", lambda: 0.0)  # every roll shadows
    return fake


async def served(p: Pipeline, path: str, method: str = "GET") -> Exchange:
    p.fakes["legacy"].script(FakeAnswer(200, b"legacy says hi"))
    ex = p.exchange(method, path, [HOST])
    assert await p.run(ex, default_stages()) is ex.response
    return ex


def dropped(p: Pipeline, reason: str) -> float:
    value: float = p.state.metrics.shadow_dropped.labels("shadowed", reason)._value.get()
    return value


async def test_a_shadowed_request_is_offered_with_the_monolith_answer(
    p: Pipeline, runner: Runner
) -> None:
    ex = await served(p, "/shadowed/7?q=1")
    [job] = runner.offered
    assert (job.capability, job.route, job.method) == ("shadowed", "/shadowed/{id}", "GET")
    assert (job.target.path, job.target.query) == ("/shadowed/7", "q=1")
    assert (job.legacy.status, job.legacy.body) == (200, b"legacy says hi")
    assert (job.candidate.name, job.legacy_client.name) == ("svc", "legacy")
    assert job.headers is ex.headers  # what the monolith got, the service gets
    assert p.fakes["svc"].sent == []  # the call itself is the runner's, off the request path


async def test_a_request_not_shadowed_is_not_offered(p: Pipeline, runner: Runner) -> None:
    await served(p, "/catalog/1")
    await served(p, "/shadowed/1", method="POST")  # unsafe: the monolith only
    assert runner.offered == []


async def test_an_open_breaker_drops_the_copy_and_counts_it(p: Pipeline, runner: Runner) -> None:
    open_breaker(p)
    ex = await served(p, "/shadowed/1")
    assert ex.response is not None
    assert ex.response.status == 200  # the client's answer is the monolith's, whatever happens
    assert runner.offered == []
    assert dropped(p, "circuit_open") == 1


async def test_a_full_bulkhead_drops_the_copy_and_counts_it(p: Pipeline, runner: Runner) -> None:
    bulkhead = p.state.guard(p.config, "svc").bulkhead
    while bulkhead.try_acquire():
        pass
    await served(p, "/shadowed/1")
    assert runner.offered == []
    assert dropped(p, "bulkhead_full") == 1


async def test_a_spooled_body_is_offered_in_memory_and_its_file_closed_at_once(
    p: Pipeline, runner: Runner
) -> None:
    data = b"b" * 500  # over body_buffer (64 bytes): spooled
    ex = p.exchange("GET", "/shadowed/1", [HOST, ("Content-Length", "500")], body=data)
    stages = default_stages()
    split = stages.index(body.stage) + 1
    assert await p.run(ex, stages[:split]) is None
    spooled = ex.body
    assert isinstance(spooled, SpooledBody)
    assert await p.run(ex, stages[split:]) is ex.response
    assert spooled.closed
    [job] = runner.offered
    assert job.body == data
    assert p.fakes["legacy"].sent[0].body == data
