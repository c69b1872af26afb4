"""The whole pipeline, through ``Facade.handle``, on fake upstreams: the order of the steps,
and requests that take every one of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from facade.app import Facade
from facade.stages import (
    body,
    default_stages,
    expect,
    fallback,
    forward,
    mode,
    route,
    service,
    shadow,
)
from facade.upstream import Upstreams
from tests.support.fake_upstream import FakeAnswer
from tests.unit.facade.stages.pipeline import Pipeline

HOST = ("Host", "shop.example")


def test_default_stages_name_every_step_in_order() -> None:
    assert default_stages() == [
        route.stage,
        expect.stage,
        mode.stage,
        body.stage,
        service.stage,
        fallback.stage,
        forward.stage,
        shadow.stage,
    ]


@pytest.fixture
async def facade(p: Pipeline) -> AsyncIterator[Facade]:
    made = Facade(p.config, watch=False)
    made.state.upstreams = Upstreams(p.fakes.factory)
    yield made
    await made.close()


def requests_total(facade: Facade, *labels: str) -> float:
    value: float = facade.state.metrics.requests.labels(*labels)._value.get()
    return value


async def test_a_request_of_no_capability_passes_through_to_the_monolith(
    p: Pipeline, facade: Facade
) -> None:
    p.fakes["legacy"].script(FakeAnswer(200, b"hello", headers=[("Content-Type", "text/plain")]))
    response = await facade.handle(p.exchange("GET", "/anything?x=1", [HOST]).request)
    assert isinstance(response, web.Response)
    assert (response.status, response.body) == (200, b"hello")
    assert response.headers["X-Strangler-Route"] == "-;legacy;legacy"
    [sent] = p.fakes.sent
    assert (sent.upstream, sent.target.path_qs) == ("legacy", "/anything?x=1")
    assert sent.headers["X-Forwarded-Host"] == "shop.example"
    assert requests_total(facade, "-", "legacy", "legacy", "200") == 1


async def test_a_fallback_is_counted_as_served_by_the_monolith(p: Pipeline, facade: Facade) -> None:
    p.fakes["svc"].script(FakeAnswer(500))
    response = await facade.handle(p.exchange("GET", "/orders/1", [HOST]).request)
    assert response.status == 200
    assert response.headers["X-Strangler-Route"] == "orders;extracted;legacy"
    assert requests_total(facade, "orders", "extracted", "legacy", "200") == 1
    assert requests_total(facade, "orders", "extracted", "svc", "500") == 0


async def test_a_body_invited_with_100_continue_reaches_the_service(
    p: Pipeline, facade: Facade
) -> None:
    headers = [HOST, ("Expect", "100-continue"), ("Content-Length", "4")]
    request = p.exchange("PUT", "/orders/1", headers, body=b"data").request
    response = await facade.handle(request)
    assert response.status == 200
    request.writer.write.assert_awaited_once_with(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[attr-defined]
    [sent] = p.fakes.sent
    assert (sent.upstream, sent.body) == ("svc", b"data")
    assert "Expect" not in sent.headers


async def test_an_expectation_refused_is_counted_under_its_capabilitys_mode(
    p: Pipeline, facade: Facade
) -> None:
    # the expect step halts before the mode step: its answer still names the capability's
    # mode, as the body step's 413 for the same request does (not "orders;legacy;facade")
    headers = [HOST, ("Expect", "something-else"), ("Content-Length", "4")]
    response = await facade.handle(p.exchange("PUT", "/orders/1", headers, body=b"data").request)
    assert response.status == 417
    assert response.headers["X-Strangler-Route"] == "orders;extracted;facade"
    assert requests_total(facade, "orders", "extracted", "facade", "417") == 1
    assert p.fakes.sent == []


async def test_a_request_the_translator_cannot_translate_is_served_by_the_monolith(
    p: Pipeline, facade: Facade
) -> None:
    p.fakes["legacy"].script(FakeAnswer(200, b"legacy answer"))
    response = await facade.handle(p.exchange("GET", "/old/unfit", [HOST]).request)
    assert isinstance(response, web.Response)
    assert (response.status, response.body) == (200, b"legacy answer")
    assert response.headers["X-Strangler-Route"] == "translated;extracted;legacy"
    assert [sent.upstream for sent in p.fakes.sent] == ["legacy"]
    fallbacks = facade.state.metrics.fallbacks.labels("translated", "untranslatable_request")
    assert fallbacks._value.get() == 1
