"""The mode stage: who serves (the monolith, or the capability's service), and shadowing."""

from __future__ import annotations

import random

import pytest

from facade.exchange import Exchange
from facade.stages import mode, route
from tests.unit.facade.stages.pipeline import Pipeline, canary_user

HOST = ("Host", "shop.example")


async def decided(
    p: Pipeline, path: str, *headers: tuple[str, str], method: str = "GET"
) -> Exchange:
    ex = p.exchange(method, path, [HOST, *headers])
    assert await route.stage(ex) is None
    assert await mode.stage(ex) is None
    return ex


async def test_no_capability_is_served_by_the_monolith(p: Pipeline) -> None:
    ex = await decided(p, "/elsewhere")
    assert (ex.mode, ex.upstream, ex.served_by) == ("legacy", None, "legacy")


async def test_a_legacy_capability_is_served_by_the_monolith(p: Pipeline) -> None:
    ex = await decided(p, "/catalog/1")
    assert (ex.mode, ex.upstream, ex.shadow) == ("legacy", None, False)


async def test_an_extracted_capability_is_served_by_its_service(p: Pipeline) -> None:
    ex = await decided(p, "/orders/1")
    assert ex.mode == "extracted"
    assert ex.upstream is p.fakes["svc"]
    assert ex.served_by == "svc"


@pytest.mark.parametrize(("roll", "shadowed"), [(0.1, True), (0.3, False)])  # percent: 25
async def test_shadow_mode_keeps_the_monolith_and_rolls_for_a_copy(
    p: Pipeline, monkeypatch: pytest.MonkeyPatch, roll: float, shadowed: bool
) -> None:
    monkeypatch.setattr(random, "random", lambda: roll)
    ex = await decided(p, "/shadowed/1")
    assert (ex.mode, ex.upstream, ex.shadow) == ("shadow", None, shadowed)


async def test_shadow_mode_leaves_a_write_to_the_monolith_alone(p: Pipeline) -> None:
    ex = await decided(p, "/shadowed/1", method="POST")
    assert (ex.upstream, ex.shadow) == (None, False)


@pytest.mark.parametrize("inside", [True, False], ids=["in-share", "out-of-share"])
async def test_a_canary_is_sticky_on_its_key(p: Pipeline, inside: bool) -> None:
    user = canary_user(inside)
    served = set()
    for _ in range(5):
        ex = await decided(p, "/canary/1", ("X-User", user))
        assert ex.mode == "canary"
        served.add(ex.served_by)
    assert served == {"svc" if inside else "legacy"}


async def test_a_canary_is_sticky_on_a_cookie_or_else_the_client_address(p: Pipeline) -> None:
    ex = p.exchange("GET", "/canary/1", [HOST, ("Cookie", "uid=u-42")])
    ex.request = ex.request.clone(remote="198.51.100.4")
    assert mode.sticky_key(ex, "cookie:uid") == "u-42"
    assert mode.sticky_key(ex, "header:X-User") == "198.51.100.4"
    assert mode.sticky_key(ex, "client_ip") == "198.51.100.4"
