"""The body stage: the forwarded headers, and the body read whole within the limits."""

from __future__ import annotations

import pytest

from facade.body_spool import SpooledBody
from facade.errors import BodyTooLarge
from facade.exchange import Exchange
from facade.stages import body, route
from tests.unit.facade.stages.pipeline import Pipeline

HOST = ("Host", "shop.example")


async def read(p: Pipeline, ex: Exchange) -> None:
    assert await route.stage(ex) is None
    assert await body.stage(ex) is None


async def test_a_request_without_a_body_reads_nothing(p: Pipeline) -> None:
    ex = p.exchange("GET", "/orders/1")
    await read(p, ex)
    assert ex.body is None
    assert ex.headers is not None
    assert "Content-Length" not in ex.headers
    assert ex.headers["X-Forwarded-Host"] == "shop.example"


@pytest.mark.parametrize(
    ("framing", "data"),
    [
        (("Content-Length", "0"), b""),
        (("Content-Length", "5"), b"hello"),
        (("Transfer-Encoding", "chunked"), b"abc"),  # sent on with the size that was read
    ],
    ids=["empty", "sized", "chunked"],
)
async def test_a_small_body_is_held_in_memory_and_sent_with_its_content_length(
    p: Pipeline, framing: tuple[str, str], data: bytes
) -> None:
    ex = p.exchange("POST", "/uploads", [HOST, framing], body=data)
    await read(p, ex)
    assert ex.body == data
    assert ex.headers is not None
    assert ex.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in ex.headers


async def test_a_body_over_the_buffer_is_spooled_and_released_with_the_exchange(
    p: Pipeline,
) -> None:
    data = b"s" * 500  # body_buffer: 64 bytes; uploads' limit: 1KB
    ex = p.exchange("POST", "/uploads", [HOST, ("Content-Length", "500")], body=data)
    await read(p, ex)
    spooled = ex.body
    assert isinstance(spooled, SpooledBody)
    assert await spooled.read_all() == data
    ex.release()
    assert spooled.closed


@pytest.mark.parametrize(
    "framing",
    [("Content-Length", "2000"), ("Transfer-Encoding", "chunked")],
    ids=["sized", "chunked"],
)
async def test_a_body_over_the_routes_limit_is_refused_413(
    p: Pipeline, framing: tuple[str, str]
) -> None:
    ex = p.exchange("POST", "/uploads", [HOST, framing], body=b"x" * 2000)
    assert await route.stage(ex) is None
    with pytest.raises(BodyTooLarge):
        await body.stage(ex)
    assert p.fakes.sent == []


async def test_a_client_gone_mid_body_is_counted_499_and_answered_no_further(
    p: Pipeline,
) -> None:
    ex = p.exchange("POST", "/uploads", [HOST, ("Content-Length", "10")], body=b"")
    ex.request.content.set_exception(ConnectionResetError())
    assert await route.stage(ex) is None
    response = await body.stage(ex)
    assert response is not None
    assert ex.status == 499
