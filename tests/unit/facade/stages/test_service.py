"""The service step: the chosen service called through its guard and its translator; the
answer or the failure recorded on the Exchange, never acted on here."""

from __future__ import annotations

import pytest

from facade.exchange import Exchange
from facade.stages import body, mode, route, service
from tests.support.fake_upstream import FakeAnswer, broken_off, connect_error
from tests.unit.facade.stages.pipeline import Pipeline

HOST = ("Host", "shop.example")
BEFORE_SERVICE = (route.stage, mode.stage, body.stage)


async def called(p: Pipeline, method: str, path: str, *, data: bytes | None = None) -> Exchange:
    headers = [HOST] if data is None else [HOST, ("Content-Length", str(len(data)))]
    ex = p.exchange(method, path, headers, body=data)
    assert await p.run(ex, (*BEFORE_SERVICE, service.stage)) is None
    return ex


async def test_the_monolith_chosen_means_no_service_call(p: Pipeline) -> None:
    ex = await called(p, "GET", "/catalog/1")
    assert ex.service is None
    assert p.fakes.sent == []


async def test_a_good_answer_is_recorded_with_its_small_body_read(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(200, b'{"id": 1}'))
    ex = await called(p, "GET", "/orders/1?x=1")
    assert ex.service is not None
    assert ex.service.failure is None
    answer = ex.service.answer
    assert answer is svc.answers[0]
    assert await answer.content.readany() == b""  # read already: the forward step sends it whole
    assert await answer.read() == b'{"id": 1}'
    [sent] = svc.sent
    assert (sent.method, sent.target.path, sent.target.query) == ("GET", "/orders/1", "x=1")
    assert sent.headers["X-Request-Id"] == "rid-1"


async def test_an_idempotent_request_is_retried_after_a_503(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(503), FakeAnswer(200, b"ok"))
    ex = await called(p, "GET", "/orders/1")
    assert ex.service is not None
    assert ex.service.failure is None
    assert len(svc.sent) == 2
    assert svc.answers[0].closed  # the failed answer's connection is not reused


async def test_a_post_is_not_retried_and_its_body_is_sent_whole(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(503), FakeAnswer(200))
    ex = await called(p, "POST", "/orders/1", data=b"x" * 100)  # over body_buffer: spooled
    assert ex.service is not None
    assert ex.service.failure is not None
    assert ex.service.failure.status == 503
    assert ex.service.answer is svc.answers[0]  # a 5xx answer: relayed unless a fallback
    [sent] = svc.sent
    assert sent.body == b"x" * 100
    assert sent.headers["Content-Length"] == "100"


async def test_timeouts_are_retried_then_recorded_as_the_failure(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(TimeoutError(), TimeoutError(), TimeoutError())
    ex = await called(p, "GET", "/orders/1")
    assert ex.service is not None
    assert ex.service.failure is not None
    assert ex.service.failure.reason == "timeout"
    assert not ex.service.answered
    assert len(svc.sent) == 3  # retries: 2
    assert p.state.guard(p.config, "svc").bulkhead.in_use == 0


async def test_a_refused_connection_is_a_connect_error(p: Pipeline) -> None:
    p.fakes["svc"].script(connect_error())
    ex = await called(p, "POST", "/orders/1", data=b"x")
    assert ex.service is not None
    assert ex.service.failure is not None
    assert ex.service.failure.reason == "connect_error"
    assert not ex.service.failure.delivered


async def test_a_small_answer_that_breaks_off_is_a_failure_before_anything_is_relayed(
    p: Pipeline,
) -> None:
    svc = p.fakes["svc"].script(
        FakeAnswer(200, headers=[("Content-Length", "10")], chunks=[b"12345"], error=broken_off())
    )
    ex = await called(p, "GET", "/orders/1")
    assert ex.service is not None
    assert ex.service.failure is not None
    assert ex.service.failure.reason == "upstream_error"
    assert ex.service.answer is None
    assert svc.answers[0].closed
    assert p.state.guard(p.config, "svc").bulkhead.in_use == 0


async def test_a_translated_call_sends_the_services_request_and_keeps_its_answer(
    p: Pipeline,
) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(200, b"new value"))
    ex = await called(p, "GET", "/old/5")
    [sent] = svc.sent
    assert sent.target.path == "/new/5"
    assert sent.headers["Host"] == "shop.example"
    assert ex.service is not None
    call = ex.service.translated
    assert call is not None
    assert call.answer is not None
    assert call.answer.body == b"new value"  # turned back only when relayed (forward)
    assert ex.service.answer is None


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_bulkhead_full_refuses_the_call_without_sending(p: Pipeline, method: str) -> None:
    bulkhead = p.state.guard(p.config, "svc").bulkhead
    while bulkhead.try_acquire():
        pass
    ex = await called(p, method, "/orders/1")
    assert ex.service is not None
    assert ex.service.failure is not None
    assert ex.service.failure.reason == "bulkhead_full"
    assert p.fakes["svc"].sent == []


async def test_a_request_the_translator_cannot_translate_is_a_failure_never_sent(
    p: Pipeline,
) -> None:
    ex = await called(p, "GET", "/old/unfit")
    assert ex.service is not None
    failure = ex.service.failure
    assert failure is not None
    assert failure.reason == "untranslatable_request"
    assert not failure.delivered  # the fallback step may move even a write to the monolith
    assert "request not translatable" in failure.detail
    assert p.fakes.sent == []
    assert p.state.guard(p.config, "svc").breaker.is_open() is False
