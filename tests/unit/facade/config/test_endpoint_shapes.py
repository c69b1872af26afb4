"""The inventory's endpoints that one template shape covers twice, as Django projects have
them: ``shop`` and ``shop/`` (two views: Django tells them apart, the matcher does not), and
``<int:id>`` then ``<slug:s>`` (one shape, parameters named apart: Django serves the first
that fits). Before, the first kind was a RouteConflict (the whole file refused) and the second
too (the names differ, so they were not seen as the same template)."""

from __future__ import annotations

import json

import pytest

from facade.config.endpoints import dump_inventory, parse_inventory
from facade.errors import ConfigError


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


def with_params(*entries: tuple[str, dict[str, str] | None]) -> str:
    return dump_inventory(
        [
            {"template": t, "methods": None, "view": f"v{i}", "pattern": t}
            | ({"params": p} if p is not None else {})
            for i, (t, p) in enumerate(entries)
        ]
    )


def test_a_later_converter_the_first_rejects_overlaps_it_and_is_not_shadowed() -> None:
    # path("posts/<int:pk>"), path("posts/<slug:slug>"): Django serves /posts/hello from the
    # second (int rejects "hello"); the index counts it under the first, it is live all the same
    parsed = parse_inventory(
        with_params(("/posts/{pk}", {"pk": "int"}), ("/posts/{slug}", {"slug": "slug"}))
    )
    first, second = parsed.endpoints
    assert (first.shadowed_by, first.overlaps) == (None, None)
    assert (second.shadowed_by, second.overlaps) == (None, "/posts/{pk}")
    assert second.key == "/posts/{slug} (overlaps, line 3)"
    assert not second.matchable
    assert parsed.index.match("GET", "/posts/hello") == "/posts/{pk}"


@pytest.mark.parametrize(
    ("first", "later"),
    [
        ({"id": "str"}, {"s": "slug"}),
        ({"id": "int"}, {"s": "int"}),
        ({"id": "[^/]+"}, {"s": "[0-9]+"}),
        ({"id": "int"}, {"s": "[0-9]+"}),
        (None, {"s": "uuid"}),  # an older file: no converters, any segment
    ],
    ids=["str takes slug", "same converter", "any-segment regex", "int is [0-9]+", "none given"],
)
def test_a_later_converter_the_first_accepts_all_of_is_shadowed(
    first: dict[str, str] | None, later: dict[str, str]
) -> None:
    parsed = parse_inventory(with_params(("/dup/{id}", first), ("/dup/{s}", later)))
    second = parsed.endpoints[1]
    assert (second.shadowed_by, second.overlaps) == ("/dup/{id}", None)
    assert second.key == "/dup/{s} (shadowed, line 3)"
    assert parsed.index.match("GET", "/dup/a-slug") == "/dup/{id}"


def test_a_third_pattern_is_shadowed_by_whichever_earlier_one_takes_all_of_it() -> None:
    parsed = parse_inventory(
        with_params(("/p/{a}", {"a": "int"}), ("/p/{b}", {"b": "slug"}), ("/p/{c}", {"c": "slug"}))
    )
    assert [(e.shadowed_by, e.overlaps) for e in parsed.endpoints] == [
        (None, None),
        (None, "/p/{a}"),
        ("/p/{b} (overlaps, line 3)", None),
    ]


def test_rests_compare_by_what_they_accept() -> None:
    parsed = parse_inventory(
        with_params(
            ("/f/{r:path}", {"r": ".+"}),
            ("/f/{s:path}", {"s": ".*"}),
            ("/f/{t:path}", {"t": "path"}),
        )
    )
    assert [(e.shadowed_by, e.overlaps) for e in parsed.endpoints] == [
        (None, None),
        (None, "/f/{r:path}"),  # .* also takes the empty rest, .+ does not
        ("/f/{r:path}", None),
    ]


def test_params_must_name_converters() -> None:
    with pytest.raises(ConfigError, match="params must map"):
        parse_inventory(with_params(("/a/{x}", {"x": 1})))  # type: ignore[dict-item]


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
