"""The fallback step: after a failed service call, the monolith serves (when the capability
and the method allow it), or the failure's error is the answer."""

from __future__ import annotations

import logging

import pytest

from facade.app import Facade
from facade.errors import UpstreamRefused, UpstreamTimeout
from facade.exchange import Exchange
from facade.stages import body, fallback, mode, route, service
from facade.upstream import Upstreams
from tests.support.fake_upstream import FakeAnswer, connect_error
from tests.unit.facade.stages.pipeline import Pipeline, canary_user

HOST = ("Host", "shop.example")
UP_TO_FALLBACK = (route.stage, mode.stage, body.stage, service.stage, fallback.stage)


def fill_bulkhead(p: Pipeline) -> None:
    bulkhead = p.state.guard(p.config, "svc").bulkhead
    while bulkhead.try_acquire():
        pass


def fallbacks(p: Pipeline, capability: str, reason: str) -> float:
    value: float = p.state.metrics.fallbacks.labels(capability, reason)._value.get()
    return value


async def through(p: Pipeline, method: str, path: str, *headers: tuple[str, str]) -> Exchange:
    ex = p.exchange(method, path, [HOST, *headers])
    assert await p.run(ex, UP_TO_FALLBACK) is None
    return ex


async def test_a_call_that_did_not_fail_is_left_alone(p: Pipeline) -> None:
    p.fakes["svc"].script(FakeAnswer(200, b"ok"))
    ex = await through(p, "GET", "/orders/1")
    assert not ex.fell_back
    assert ex.served_by == "svc"


async def test_a_failed_get_falls_back_counted_and_logged(
    p: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    p.fakes["svc"].script(TimeoutError(), TimeoutError(), TimeoutError())
    with caplog.at_level(logging.WARNING, "strangler.forward"):
        ex = await through(p, "GET", "/orders/1")
    assert ex.fell_back
    assert ex.upstream is p.fakes["svc"]  # mode's decision stands; the fallback is its own
    assert ex.served_by == "legacy"
    assert fallbacks(p, "orders", "timeout") == 1
    assert "served by the monolith" in caplog.text


async def test_a_5xx_answer_replaced_by_the_monolith_is_closed_unread(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(500, b"boom"))
    ex = await through(p, "GET", "/orders/1")
    assert ex.fell_back
    assert svc.answers[0].closed
    assert p.state.guard(p.config, "svc").bulkhead.in_use == 0


async def test_a_refusal_falls_back_counted_but_not_logged(
    p: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    fill_bulkhead(p)
    with caplog.at_level(logging.WARNING, "strangler.forward"):
        ex = await through(p, "GET", "/orders/1")
    assert ex.fell_back
    assert fallbacks(p, "orders", "bulkhead_full") == 1
    assert "served by the monolith" not in caplog.text


async def test_a_write_the_service_never_got_falls_back_before_cutover(p: Pipeline) -> None:
    p.fakes["svc"].script(connect_error())
    ex = await through(p, "POST", "/canary/1", ("X-User", canary_user(inside=True)))
    assert ex.upstream is p.fakes["svc"]
    assert ex.fell_back
    assert fallbacks(p, "canaried", "connect_error") == 1


async def test_a_refused_write_after_cutover_is_503_with_retry_after(p: Pipeline) -> None:
    fill_bulkhead(p)  # extracted: fallback_unsafe defaults to error
    ex = p.exchange("POST", "/orders/1", [HOST])
    with pytest.raises(UpstreamRefused) as refused:
        await p.run(ex, UP_TO_FALLBACK)
    assert refused.value.retry_after is not None
    assert not ex.fell_back
    assert fallbacks(p, "orders", "bulkhead_full") == 0


async def test_the_refusal_reaches_the_client_as_problem_json_with_retry_after(
    p: Pipeline,
) -> None:
    facade = Facade(p.config, watch=False)
    facade.state.upstreams = Upstreams(p.fakes.factory)
    bulkhead = facade.state.guard(p.config, "svc").bulkhead
    while bulkhead.try_acquire():
        pass
    try:
        response = await facade.handle(p.exchange("POST", "/orders/1", [HOST]).request)
    finally:
        await facade.close()
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert response.content_type == "application/problem+json"
    assert response.headers["X-Strangler-Route"] == "orders;extracted;svc"
    assert p.fakes["legacy"].sent == []


async def test_fallback_error_answers_the_failures_error(p: Pipeline) -> None:
    p.fakes["svc"].script(TimeoutError(), TimeoutError(), TimeoutError())
    ex = p.exchange("GET", "/strict/1", [HOST])
    with pytest.raises(UpstreamTimeout):
        await p.run(ex, UP_TO_FALLBACK)
    assert not ex.fell_back


async def test_fallback_error_relays_a_5xx_answer_as_it_is(p: Pipeline) -> None:
    p.fakes["svc"].script(FakeAnswer(500, b"the service's own error"))
    ex = await through(p, "GET", "/strict/1")
    assert not ex.fell_back
    assert ex.service is not None
    assert ex.service.answer is not None
    assert ex.service.answer.status == 500
