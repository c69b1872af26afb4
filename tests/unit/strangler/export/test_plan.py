"""The export's routing rules pick the capability the facade's matcher picks, by first match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facade.config import Config, load
from strangler.export import plan
from strangler.export.plan import ExportError, Options
from tests.support.export_routes import every_mode

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services: {s: {url: "http://127.0.0.1:8001"}}
capabilities:
  rest-a: {match: [{path: "/a/{rest:path}"}], service: s}
  param-a: {match: [{path: "/a/{x}"}, {path: "/a/{x}/c"}], service: s}
  lit-a: {match: [{methods: [GET], path: /a/b}], service: s}
  deep: {match: [{path: "/a/b/{rest:path}"}], service: s}
  posts: {match: [{methods: [POST, PUT], path: "/a/{x}/c/d"}], service: s}
  root: {match: [{path: /}], service: s}
  dotted: {match: [{path: "/v1.0/x+y/%7Euser"}], service: s}
"""


def first_match(rules: list[plan.Rule], method: str, path: str) -> str | None:
    for rule in rules:
        methods = plan.rule_methods(rule)
        if methods is not None and method not in methods:
            continue
        if re.search(plan.path_regex(rule.template), path):
            return rule.capability
    return None


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("plan") / "routes.yaml"
    path.write_text(ROUTES)
    return load(path)


SEGMENTS = st.lists(st.sampled_from(["a", "b", "c", "d", "x", "v1.0", "x+y", "~user"]), max_size=5)


@given(segments=SEGMENTS, slash=st.booleans(), method=st.sampled_from(["GET", "POST", "PUT"]))
def test_the_first_rule_that_fits_is_the_matchers_choice(
    config: Config, segments: list[str], slash: bool, method: str
) -> None:
    path = "/" + "/".join(segments) + ("/" if slash and segments else "")
    found = config.matcher.match(method, path)
    expected = found.route.capability if found else None
    assert first_match(plan.rules(config), method, path) == expected


@pytest.mark.parametrize(
    ("method", "path", "capability"),
    [
        ("GET", "/a/b", "lit-a"),
        ("POST", "/a/b", "param-a"),  # the literal route takes GET only: the matcher backtracks
        ("GET", "/a/b/c", "deep"),
        ("GET", "/a/q/c", "param-a"),
        ("POST", "/a/q/c/d", "posts"),
        ("GET", "/a/q/c/d", "rest-a"),
        ("GET", "/", "root"),
        ("GET", "/ab", None),  # segment-aware, never a string prefix
        ("GET", "/A/b", None),  # case-sensitive
        ("GET", "/v1.0/x+y/~user", "dotted"),
        ("GET", "/v1x0/x+y/~user", None),  # '.' is a literal dot, not any character
    ],
)
def test_rules_route_like_the_matcher(
    config: Config, method: str, path: str, capability: str | None
) -> None:
    assert first_match(plan.rules(config), method, path) == capability
    found = config.matcher.match(method, path)
    assert (found.route.capability if found else None) == capability


def test_each_route_is_split_into_safe_and_unsafe_methods(config: Config) -> None:
    groups = {(r.capability, r.template, r.group): r.methods for r in plan.rules(config)}
    assert groups[("lit-a", "/a/b", "safe")] == ("GET",)
    assert ("lit-a", "/a/b", "unsafe") not in groups
    assert groups[("posts", "/a/{x}/c/d", "unsafe")] == ("POST", "PUT")
    assert groups[("root", "/", "safe")] is None  # any safe method
    assert groups[("root", "/", "unsafe")] is None


def test_nginx_regexes_match_the_decoded_path(tmp_path: Path) -> None:
    assert plan.path_regex("/a%20b/{x}", decoded=True) == "^/a\\x20b/[^/]+/?$"
    assert re.search(plan.path_regex("/a%20b/{x}", decoded=True), "/a b/1")
    assert re.search(plan.path_regex("/a%20b/{x}"), "/a%20b/1")


def test_a_translated_capability_needs_a_facade(tmp_path: Path) -> None:
    config = every_mode(tmp_path)
    with pytest.raises(ExportError, match="'translated' has a translator"):
        plan.targets(config, Options())
    targets = plan.targets(config, Options(facade_url="http://127.0.0.1:9000"))
    assert targets["translated"].kind == "facade"
    assert targets["split"].kind == "canary"


def test_shadow_mirrors_ten_percent_unless_routes_yaml_says(tmp_path: Path) -> None:
    compare = Options(facade_url="http://127.0.0.1:9000", compare_url="http://127.0.0.1:9001")
    unset = plan.targets(every_mode(tmp_path), compare)["shadowed"]
    assert unset.mirror_percent == plan.DEFAULT_MIRROR_PERCENT
    told = every_mode(tmp_path, shadow="    shadow: {percent: 35}")
    assert plan.targets(told, compare)["shadowed"].mirror_percent == 35
    nowhere = Options(facade_url="http://127.0.0.1:9000")
    assert plan.targets(told, nowhere)["shadowed"].mirror_percent == 0


def test_punctuation_in_a_literal_is_matched_as_itself() -> None:
    template = "/api/v1.0/order-items/{id}/user_profile/~x/caf%C3%A9"
    decoded = plan.path_regex(template, decoded=True)  # nginx: $uri is decoded
    assert decoded == "^/api/v1\\.0/order-items/[^/]+/user_profile/~x/café/?$"
    assert re.search(decoded, "/api/v1.0/order-items/7/user_profile/~x/café")
    assert not re.search(decoded, "/api/v1x0/order-items/7/user_profile/~x/café")
    raw = plan.path_regex(template)  # Envoy: the path as sent
    assert raw == "^/api/v1\\.0/order-items/[^/]+/user_profile/~x/caf%C3%A9/?$"
    assert re.search(raw, "/api/v1.0/order-items/7/user_profile/~x/caf%C3%A9")
    # metacharacters escaped, the rest (braces, quotes, $, space) as ASCII hex
    assert plan.path_regex("/a(b)+c*|d^", decoded=True) == "^/a\\(b\\)\\+c\\*\\|d\\^/?$"
    assert plan.path_regex("/x%24%22y", decoded=True) == "^/x\\x24\\x22y/?$"


def test_only_safe_requests_are_mirrored_even_where_unsafe_ones_are_sent(tmp_path: Path) -> None:
    compare = Options(facade_url="http://127.0.0.1:9000", compare_url="http://127.0.0.1:9001")
    skip = plan.targets(every_mode(tmp_path), compare)["shadowed"]
    assert plan.mirrors(skip, "safe")
    assert not plan.mirrors(skip, "unsafe")
    send = every_mode(tmp_path, shadow="    shadow: {unsafe_methods: send}")
    # the compare service would send a mirrored write to the monolith a second time
    assert plan.mirrors(plan.targets(send, compare)["shadowed"], "safe")
    assert not plan.mirrors(plan.targets(send, compare)["shadowed"], "unsafe")


def test_writes_fall_back_only_before_cutover(tmp_path: Path) -> None:
    targets = plan.targets(every_mode(tmp_path), Options(facade_url="http://127.0.0.1:9000"))
    assert plan.falls_back(targets["moved"], "safe")
    assert not plan.falls_back(targets["moved"], "unsafe")  # extracted: the service owns writes
    assert plan.falls_back(targets["split"], "unsafe")
