"""The expect stage: ``Expect: 100-continue`` answered by the facade, after the route."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import HttpVersion10

from facade.stages import expect, route
from tests.unit.facade.stages.pipeline import Pipeline

HOST = ("Host", "shop.example")


async def test_an_expectation_other_than_100_continue_is_answered_417(p: Pipeline) -> None:
    ex = p.exchange("POST", "/uploads", [HOST, ("Expect", "something-else")])
    await route.stage(ex)
    response = await expect.stage(ex)
    assert response is not None
    assert response.status == 417
    assert ex.answered_locally
    ex.request.writer.write.assert_not_called()  # type: ignore[attr-defined]


async def test_a_body_announced_over_the_routes_limit_is_refused_413_without_a_100(
    p: Pipeline,
) -> None:
    headers = [HOST, ("Expect", "100-continue"), ("Content-Length", "2000")]
    ex = p.exchange("POST", "/uploads", headers)  # uploads: max_body 1KB
    await route.stage(ex)
    response = await expect.stage(ex)
    assert response is not None
    assert response.status == 413
    assert response.keep_alive is False  # the unsent body makes the connection unusable
    ex.request.writer.write.assert_not_called()  # type: ignore[attr-defined]


async def test_a_body_within_the_limit_is_invited_with_100_continue(p: Pipeline) -> None:
    headers = [HOST, ("Expect", "100-Continue"), ("Content-Length", "1000")]
    ex = p.exchange("POST", "/uploads", headers)
    await route.stage(ex)
    assert await expect.stage(ex) is None
    ex.request.writer.write.assert_awaited_once_with(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[attr-defined]
    assert ex.request.writer.output_size == 0


async def test_the_limit_comes_from_the_routes_match_without_matching_again(p: Pipeline) -> None:
    headers = [HOST, ("Expect", "100-continue"), ("Content-Length", "2000")]
    ex = p.exchange("POST", "/uploads", headers)
    await route.stage(ex)
    with mock.patch.object(p.config.matcher, "match", side_effect=AssertionError("again")):
        response = await expect.stage(ex)
    assert response is not None
    assert response.status == 413


@pytest.mark.parametrize("version", [HttpVersion10, None], ids=["http-1.0", "no-expect"])
async def test_nothing_to_do_without_an_http_1_1_expect(p: Pipeline, version: object) -> None:
    headers = [HOST, ("Content-Length", "2000")]
    if version is not None:
        headers.append(("Expect", "100-continue"))
    ex = p.exchange("POST", "/uploads", headers, **({"version": version} if version else {}))  # type: ignore[arg-type]
    await route.stage(ex)
    assert await expect.stage(ex) is None
    ex.request.writer.write.assert_not_called()  # type: ignore[attr-defined]
