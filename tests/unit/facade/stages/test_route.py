"""The route stage: the Host checked, the target normalized, reserved paths answered, the
capability found."""

from __future__ import annotations

import pytest

from facade.errors import RequestRejected
from facade.stages import route
from tests.unit.facade.stages.pipeline import Pipeline


@pytest.mark.parametrize(
    "hosts",
    [(), ("a@b",), ("evil.example/x",), ("shop.example", "other.example")],
    ids=["missing", "userinfo", "path", "two"],
)
async def test_a_bad_host_is_rejected_400(p: Pipeline, hosts: tuple[str, ...]) -> None:
    ex = p.exchange("GET", "/orders/1", [("Host", host) for host in hosts])
    with pytest.raises(RequestRejected) as caught:
        await route.stage(ex)
    assert caught.value.status == 400
    assert ex.match is None


async def test_a_reserved_path_is_answered_by_the_facade(p: Pipeline) -> None:
    ex = p.exchange("GET", "/healthz")
    response = await route.stage(ex)
    assert response is not None
    assert response.status == 200
    assert ex.answered_locally
    assert ex.served_by == "facade"
    assert p.fakes.sent == []


async def test_a_matching_path_finds_its_capability_on_the_normalized_target(
    p: Pipeline,
) -> None:
    ex = p.exchange("GET", "/x/../orders/7?q=1")
    assert await route.stage(ex) is None
    assert ex.target is not None
    assert (ex.target.path, ex.target.query) == ("/orders/7", "q=1")
    assert ex.capability_name == "orders"
    assert ex.capability is p.config.routes.capabilities["orders"]
    assert ex.public_host == "shop.example"


async def test_a_path_no_capability_matches_goes_on_to_the_monolith(p: Pipeline) -> None:
    ex = p.exchange("GET", "/anything/else")
    assert await route.stage(ex) is None
    assert ex.match is None
    assert ex.capability is None
    assert ex.capability_name == "-"


async def test_a_method_the_rule_does_not_list_does_not_match(p: Pipeline) -> None:
    ex = p.exchange("GET", "/uploads")  # uploads matches POST and PUT only
    assert await route.stage(ex) is None
    assert ex.match is None
