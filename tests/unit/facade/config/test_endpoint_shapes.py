"""The inventory's endpoints that one template shape covers twice, as Django projects have
them: ``shop`` and ``shop/`` (two views: Django tells them apart, the matcher does not), and
``<int:id>`` then ``<slug:s>`` (one shape, parameters named apart: Django serves the first
that fits). Before, the first kind was a RouteConflict (the whole file refused) and the second
too (the names differ, so they were not seen as the same template)."""

from __future__ import annotations

import json

import pytest

from facade.config.endpoints import dump_inventory, parse_inventory


def inventory(*entries: tuple[str, list[str] | None]) -> str:
    return dump_inventory(
        [
            {"template": t, "methods": m, "view": f"v{i}", "pattern": t}
            for i, (t, m) in enumerate(entries)
        ]
    )


def test_a_final_slash_tells_two_endpoints_apart() -> None:
    parsed = parse_inventory(inventory(("/shop", ["GET", "HEAD"]), ("/shop/", None)))
    assert [e.shadowed_by for e in parsed.endpoints] == [None, None]
    assert [e.key for e in parsed.endpoints] == ["/shop", "/shop/"]
    index = parsed.index
    assert index.match("GET", "/shop") == "/shop"
    assert index.match("GET", "/shop/") == "/shop/"
    assert index.match("POST", "/shop/") == "/shop/"  # the storefront takes any method
    assert index.match("POST", "/shop") is None  # the redirect does not
    assert index.match("GET", "/shop/x") is None


def test_the_slash_twins_keep_their_order_and_root_is_no_twin() -> None:
    parsed = parse_inventory(inventory(("/a/", ["POST"]), ("/a", ["GET"]), ("/", None)))
    index = parsed.index
    assert index.match("POST", "/a/") == "/a/"
    assert index.match("GET", "/a") == "/a"
    assert index.match("GET", "/a/") is None  # /a/ answers POST only
    assert index.match("GET", "/") == "/"


def test_parameters_named_apart_are_one_template_the_first_serves() -> None:
    parsed = parse_inventory(inventory(("/dup/{id}", None), ("/dup/{s}", ["GET"])))
    first, second = parsed.endpoints
    assert (first.shadowed_by, second.shadowed_by) == (None, "/dup/{id}")
    assert second.key == "/dup/{s} (shadowed, line 3)"
    assert parsed.index.match("GET", "/dup/a-slug") == "/dup/{id}"


@pytest.mark.parametrize(
    "second", ["/shop", "/shop/"], ids=["same template", "same template and slash"]
)
def test_a_repeated_slash_twin_is_shadowed(second: str) -> None:
    parsed = parse_inventory(inventory(("/shop", None), ("/shop/", None), (second, None)))
    assert parsed.endpoints[2].shadowed_by == second
    assert parsed.index.match("GET", second) == second


def test_rest_and_param_shapes_stay_apart() -> None:
    parsed = parse_inventory(inventory(("/f/{x}", None), ("/f/{x:path}", None)))
    assert [e.shadowed_by for e in parsed.endpoints] == [None, None]
    assert parsed.index.match("GET", "/f/a") == "/f/{x}"
    assert parsed.index.match("GET", "/f/a/b") == "/f/{x:path}"
    assert json.loads(dump_inventory([]))["endpoints"] == []
