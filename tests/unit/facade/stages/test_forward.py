"""The forward step: the monolith called and its answer relayed, or the service's answer
(obtained by the service step) relayed or turned back through its translator."""

from __future__ import annotations

import random

import pytest
from aiohttp import web

from facade.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from facade.exchange import Exchange
from facade.stages import default_stages, forward, shadow
from tests.support.fake_upstream import FakeAnswer, broken_off, connect_error
from tests.unit.facade.stages.pipeline import LEGACY_URL, SERVICE_URL, Pipeline, written

HOST = ("Host", "shop.example")
THROUGH_FORWARD = tuple(s for s in default_stages() if s is not shadow.stage)


async def forwarded(p: Pipeline, method: str, path: str, *headers: tuple[str, str]) -> Exchange:
    ex = p.exchange(method, path, [HOST, *headers])
    assert await p.run(ex, THROUGH_FORWARD) is ex.response
    assert ex.response is not None
    return ex


async def test_a_small_answer_leaves_in_one_write(p: Pipeline) -> None:
    legacy = p.fakes["legacy"].script(FakeAnswer(201, b"created", headers=[("X-A", "1")]))
    ex = await forwarded(p, "GET", "/elsewhere")
    response = ex.response
    assert isinstance(response, web.Response)  # aiohttp writes headers and body together
    assert (response.status, response.body) == (201, b"created")
    assert response.headers["X-A"] == "1"
    assert response.headers["X-Strangler-Route"] == "-;legacy;legacy"
    assert ex.status == 201
    assert legacy.answers[0].released
    ex.request.writer.write_headers.assert_not_awaited()  # type: ignore[attr-defined]


async def test_a_large_or_unsized_answer_streams_chunk_by_chunk(p: Pipeline) -> None:
    chunks = [b"a" * 10, b"b" * 10, b"c" * 10]
    p.fakes["legacy"].script(FakeAnswer(200, chunks=chunks, sized=False))
    ex = await forwarded(p, "GET", "/elsewhere")
    assert type(ex.response) is web.StreamResponse
    assert written(ex) == b"".join(chunks)
    assert ex.request.writer.write.await_count == 3  # type: ignore[attr-defined]
    ex.request.writer.write_eof.assert_awaited()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
async def test_a_bodiless_answer_is_relayed_without_a_body(
    p: Pipeline, method: str, status: int
) -> None:
    p.fakes["legacy"].script(FakeAnswer(status, headers=[("Content-Length", "42")]))
    ex = await forwarded(p, method, "/elsewhere")
    assert ex.response is not None
    assert ex.response.status == status
    assert written(ex) == b""
    ex.request.writer.write_eof.assert_awaited()  # type: ignore[attr-defined]


async def test_an_answer_broken_off_mid_stream_cuts_the_client_connection(p: Pipeline) -> None:
    p.fakes["legacy"].script(FakeAnswer(200, chunks=[b"part"], error=broken_off(), sized=False))
    ex = await forwarded(p, "GET", "/elsewhere")
    assert written(ex) == b"part"
    assert ex.status == 502
    ex.request.transport.abort.assert_called_once()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raised", "error"), [(TimeoutError(), UpstreamTimeout), (connect_error(), UpstreamUnavailable)]
)
async def test_a_monolith_that_does_not_answer_is_an_upstream_error(
    p: Pipeline, raised: BaseException, error: type[UpstreamError]
) -> None:
    p.fakes["legacy"].script(raised)
    ex = p.exchange("GET", "/elsewhere", [HOST])
    with pytest.raises(error) as caught:
        await p.run(ex, THROUGH_FORWARD)
    assert caught.value.upstream == "legacy"


@pytest.mark.parametrize(
    ("location", "rewritten"),
    [
        (f"{LEGACY_URL}/landed?x=1", "http://shop.example/landed?x=1"),
        (LEGACY_URL, "http://shop.example"),
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
        (f"{LEGACY_URL}.evil/x", f"{LEGACY_URL}.evil/x"),
    ],
)
async def test_the_monolith_naming_itself_in_a_redirect_is_rewritten_to_the_public_origin(
    p: Pipeline, location: str, rewritten: str
) -> None:
    p.fakes["legacy"].script(FakeAnswer(302, headers=[("Location", location)]))
    ex = await forwarded(p, "GET", "/elsewhere")
    assert ex.response is not None
    assert ex.response.headers["Location"] == rewritten


async def test_a_service_answer_is_relayed_with_its_own_origin_rewritten(p: Pipeline) -> None:
    svc = p.fakes["svc"].script(FakeAnswer(302, headers=[("Location", f"{SERVICE_URL}/o/2")]))
    ex = await forwarded(p, "GET", "/orders/1")
    assert ex.response is not None
    assert ex.response.headers["Location"] == "http://shop.example/o/2"
    assert ex.response.headers["X-Strangler-Route"] == "orders;extracted;svc"
    assert p.fakes["legacy"].sent == []
    assert svc.answers[0].released  # its connection back in the pool
    assert p.state.guard(p.config, "svc").bulkhead.in_use == 0


async def test_a_large_service_answer_streams(p: Pipeline) -> None:
    p.fakes["svc"].script(FakeAnswer(200, chunks=[b"x" * 70_000, b"y"]))
    ex = await forwarded(p, "GET", "/orders/1")
    assert type(ex.response) is web.StreamResponse
    assert written(ex) == b"x" * 70_000 + b"y"


async def test_after_a_fallback_the_monolith_serves_and_is_named(p: Pipeline) -> None:
    p.fakes["svc"].script(FakeAnswer(503), FakeAnswer(503), FakeAnswer(503))
    p.fakes["legacy"].script(FakeAnswer(200, b"from the monolith"))
    ex = await forwarded(p, "GET", "/orders/1")
    assert isinstance(ex.response, web.Response)
    assert ex.response.body == b"from the monolith"
    assert ex.response.headers["X-Strangler-Route"] == "orders;extracted;legacy"
    assert [s.upstream for s in p.fakes.sent] == ["svc", "svc", "svc", "legacy"]


async def test_a_translated_answer_is_turned_back_into_the_legacy_api(p: Pipeline) -> None:
    p.fakes["svc"].script(FakeAnswer(200, b"new value"))
    ex = await forwarded(p, "GET", "/old/1")
    assert isinstance(ex.response, web.Response)
    assert ex.response.body == b"old value"
    assert ex.response.headers["X-Translated"] == "1"
    assert ex.response.headers["X-Strangler-Route"] == "translated;extracted;svc"


async def test_an_untranslatable_answer_is_an_upstream_error_never_half_an_answer(
    p: Pipeline,
) -> None:
    p.fakes["svc"].script(FakeAnswer(200, b"unfit"))
    ex = p.exchange("GET", "/old/1", [HOST])
    with pytest.raises(UpstreamError) as caught:
        await p.run(ex, THROUGH_FORWARD)
    assert caught.value.status == 502
    assert "no legacy equivalent" in caught.value.detail


async def test_a_shadowed_request_keeps_the_monolith_answer_for_comparison(
    p: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)
    p.fakes["legacy"].script(FakeAnswer(200, chunks=[b"one ", b"two"], sized=False))
    ex = await forwarded(p, "GET", "/shadowed/1")
    assert ex.shadow
    assert ex.legacy_answer is not None
    assert (ex.legacy_answer.status, ex.legacy_answer.body) == (200, b"one two")
    assert written(ex) == b"one two"


@pytest.mark.parametrize("ending", ["client gone", "monolith broke off"])
async def test_a_shadowed_answer_not_relayed_whole_is_not_compared(
    p: Pipeline, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    # half the monolith's body against the whole candidate's would be recorded as a mismatch
    monkeypatch.setattr(random, "random", lambda: 0.0)
    error = broken_off() if ending == "monolith broke off" else None
    p.fakes["legacy"].script(FakeAnswer(200, chunks=[b"one ", b"two"], error=error, sized=False))
    ex = p.exchange("GET", "/shadowed/1", [HOST])
    if ending == "client gone":
        ex.request.writer.write.side_effect = ConnectionResetError()  # type: ignore[attr-defined]
    await p.run(ex, THROUGH_FORWARD)
    assert ex.status in (499, 502)
    assert ex.legacy_answer is None
    assert not ex.shadow


async def test_an_unshadowed_request_keeps_nothing(p: Pipeline) -> None:
    p.fakes["legacy"].script(FakeAnswer(200, b"x"))
    ex = await forwarded(p, "GET", "/elsewhere")
    assert ex.legacy_answer is None


async def test_a_client_gone_mid_stream_is_counted_499(p: Pipeline) -> None:
    p.fakes["legacy"].script(FakeAnswer(200, chunks=[b"a", b"b"], sized=False))
    ex = p.exchange("GET", "/elsewhere", [HOST])
    ex.request.writer.write.side_effect = ConnectionResetError()  # type: ignore[attr-defined]
    await p.run(ex, THROUGH_FORWARD)
    assert ex.status == 499


def test_forward_is_the_step_that_answers() -> None:
    stages = default_stages()
    assert stages.index(forward.stage) == len(stages) - 2  # only the shadow hand-off after it
