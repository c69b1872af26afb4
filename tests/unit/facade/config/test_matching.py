"""The compiled matcher: segment-aware, most-specific-wins, cost independent of route count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facade.config import matching
from facade.config.matching import Matcher, Route, RouteConflict, TemplateError, parse_template

ROUTES = [
    Route("catalog", "/api/products", frozenset({"GET", "HEAD"})),
    Route("catalog", "/api/products/{sku}", frozenset({"GET", "HEAD"})),
    Route("exports", "/api/products/export", frozenset({"GET"})),
    Route("orders", "/orders"),
    Route("orders", "/orders/{id}"),
    Route("files", "/files/{rest:path}", frozenset({"GET"})),
]
MATCHER = Matcher(ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "capability", "params"),
    [
        ("GET", "/api/products", "catalog", {}),
        ("HEAD", "/api/products/", "catalog", {}),  # P10: trailing slash, same resource
        ("GET", "/api/products/SKU-1", "catalog", {"sku": "SKU-1"}),
        ("GET", "/api/products/export", "exports", {}),  # a literal beats {sku}
        ("DELETE", "/orders/7", "orders", {"id": "7"}),  # no methods: any method
        ("GET", "/files/a/b/c.txt", "files", {"rest": "a/b/c.txt"}),
        ("GET", "/api/products/a%20b", "catalog", {"sku": "a%20b"}),  # captured as forwarded
    ],
)
def test_requests_match_the_most_specific_route(
    method: str, path: str, capability: str, params: dict[str, str]
) -> None:
    match = MATCHER.match(method, path)
    assert match is not None
    assert match.route.capability == capability
    assert match.params == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ordersXYZ"),  # P9: never a string prefix
        ("GET", "/orders-admin"),
        ("GET", "/ORDERS/1"),  # P8: case-sensitive
        ("POST", "/api/products"),  # method not routed: the monolith keeps it
        ("POST", "/api/products/export"),  # the literal exists for GET only; {sku} is GET only
        ("GET", "/orders/1/lines"),  # deeper than any template
        ("GET", "/files"),  # {rest:path} needs at least one segment
        ("GET", "/"),
    ],
)
def test_requests_outside_every_capability_belong_to_the_monolith(method: str, path: str) -> None:
    assert MATCHER.match(method, path) is None


def test_a_literal_route_falls_back_to_a_param_route_for_other_methods() -> None:
    match = MATCHER.match("HEAD", "/api/products/export")
    assert match is not None
    assert (match.route.capability, match.params) == ("catalog", {"sku": "export"})


def test_template_literals_are_normalized_like_request_paths() -> None:
    matcher = Matcher([Route("c", "/%6Frders/{id}")])
    assert matcher.match("GET", "/orders/1") is not None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Route("a", "/x/{id}"), Route("b", "/x/{other}")),
        (Route("a", "/x", frozenset({"GET"})), Route("b", "/x/", frozenset({"GET", "POST"}))),
        (Route("a", "/x"), Route("b", "/x", frozenset({"DELETE"}))),
        (Route("a", "/x/{rest:path}", frozenset({"GET"})), Route("b", "/x/{p:path}")),
    ],
)
def test_routes_that_fit_the_same_requests_conflict(first: Route, second: Route) -> None:
    with pytest.raises(RouteConflict) as caught:
        Matcher([first, second])
    assert caught.value.first == first
    assert caught.value.second == second


def test_same_shape_with_disjoint_methods_is_not_a_conflict() -> None:
    matcher = Matcher(
        [Route("read", "/x", frozenset({"GET"})), Route("write", "/x", frozenset({"POST"}))]
    )
    assert matcher.match("POST", "/x").route.capability == "write"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "template",
    ["api", "/a/{rest:path}/b", "/a/{x", "/a/{x}{y}", "/a/../b", "/a//b", "/a/{x}/{x}", "/a%2Fb"],
)
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)


def test_lookup_cost_does_not_grow_with_the_number_of_capabilities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def steps(route_count: int) -> int:
        routes = [Route(f"cap{i}", f"/svc{i}/items/{{id}}") for i in range(route_count)]
        matcher = Matcher(routes)
        calls = 0
        original = Matcher._walk

        def counting(self: Matcher, *args: object) -> object:
            nonlocal calls
            calls += 1
            return original(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(Matcher, "_walk", counting)
        assert matcher.match("GET", "/svc3/items/9") is not None
        assert matcher.match("GET", "/nowhere/items/9") is None
        monkeypatch.undo()
        return calls

    assert steps(10) == steps(2000)


segment = st.text(alphabet="abcxyz019-_~", min_size=1, max_size=8)


@given(st.lists(segment, min_size=1, max_size=6))
def test_a_param_route_captures_exactly_the_segment_it_stands_for(segments: list[str]) -> None:
    template = "/" + "/".join([*segments[:-1], "{last}"])
    matcher = Matcher([Route("c", template)])
    match = matcher.match("GET", "/" + "/".join(segments))
    assert match is not None
    assert match.params == {"last": segments[-1]}


@pytest.mark.parametrize(
    "template",
    ["/", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/.well-known/x", "/a/b.c", "/a/%41",
     "/a b", "/a/{x}", "/x:y@z", "/a/.", "/..", "/a;b=c", "/~user", "/A-Z_0.9/", "/api/v1/items"],
)  # fmt: skip
def test_a_plain_template_parses_as_the_segment_by_segment_parse_does(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parsed() -> object:
        try:
            return matching.parse_template.__wrapped__(template)
        except TemplateError as exc:
            return str(exc)

    fast = parsed()
    monkeypatch.setattr(matching, "_PLAIN", frozenset())  # every template segment by segment
    assert parsed() == fast
