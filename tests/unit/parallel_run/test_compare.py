"""The HTTP comparator: each rule as a table, the fast paths, grouping, and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_run import compare as compare_module
from parallel_run.compare import (
    CompareRules,
    Comparison,
    ComparisonError,
    Difference,
    HttpAnswer,
    compare_http,
)
from parallel_run.jsonpath import JsonPathError, PathMatcher, parse, render, render_template

JSON = (("Content-Type", "application/json"),)
RAW = object()


def answer(
    body: Any = RAW, *, status: int = 200, headers: Any = JSON, raw: bytes = b""
) -> HttpAnswer:
    """An answer whose body is `body` as JSON, or the bytes `raw`."""
    data = raw if body is RAW else json.dumps(body).encode()
    return HttpAnswer(status, tuple(headers), data)


def found(comparison: Comparison) -> list[tuple[str, str, Any, Any]]:
    return [(d.path, d.kind, d.control, d.candidate) for d in comparison.differences]


@pytest.fixture
def no_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("deepdiff must not run on this comparison")

    monkeypatch.setattr(compare_module, "DeepDiff", refuse)


# -- JSON paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "path", "template"),
    [
        ([], "$", "$"),
        (["product", "unitPrice"], "$.product.unitPrice", "$.product.unitPrice"),
        (["items", 3, "sku_item"], "$.items[3].sku_item", "$.items[*].sku_item"),
        (["a b"], "$['a b']", "$['a b']"),
        (["it's"], "$['it\\'s']", "$['it\\'s']"),
        (["back\\slash"], "$['back\\\\slash']", "$['back\\\\slash']"),
        (["3"], "$['3']", "$['3']"),  # a key that looks like an index stays a key
        ([""], "$['']", "$['']"),
        (["a.b", 0, 1], "$['a.b'][0][1]", "$['a.b'][*][*]"),
        (["line\nbreak"], "$['line\\nbreak']", "$['line\\nbreak']"),
        (["*"], "$['*']", "$['*']"),  # a key named * is not the wildcard
        (["ünï"], "$['ünï']", "$['ünï']"),
    ],
)
def test_locations_render_as_json_paths(
    location: list[str | int], path: str, template: str
) -> None:
    assert render(location) == path
    assert render_template(location) == template


@pytest.mark.parametrize(
    ("pattern", "location", "matches"),
    [
        ("$.generated_at", ["generated_at"], True),
        ("$.generated_at", ["meta", "generated_at"], False),
        ("$..generated_at", ["generated_at"], True),
        ("$..generated_at", ["meta", "page", 2, "generated_at"], True),
        ("$..generated_at", ["meta", "generated_at_utc"], False),
        ("$.items[*].id", ["items", 7, "id"], True),
        ("$.items[*].id", ["items", "7", "id"], True),  # * takes keys as well as indices
        ("$.items[*].id", ["items", 7, "sku"], False),
        ("$.items[2]", ["items", 2], True),
        ("$.items[2]", ["items", 3], False),
        ("$.items[2]", ["items", "2"], False),  # an index never matches a key
        ("$['a b'].c", ["a b", "c"], True),
        ('$["a b"]', ["a b"], True),
        ("$.*", ["anything"], True),
        ("$.*", ["a", "b"], False),
        ("$..*", ["a", "b", 3], True),
        ("$..[*].id", ["x", 0, "id"], True),
        ("$..['it\\'s']", ["deep", "it's"], True),
        ("$", [], True),
    ],
)
def test_patterns_match_locations(pattern: str, location: list[str | int], matches: bool) -> None:
    assert PathMatcher([pattern]).matches(location) is matches


def test_a_pattern_covers_what_is_below_its_match() -> None:
    matcher = PathMatcher(["$.meta"])
    assert matcher.covers(["meta", "generated_at"])
    assert not matcher.matches(["meta", "generated_at"])
    assert not matcher.covers(["data", "meta"])


@pytest.mark.parametrize(
    "pattern",
    [
        "generated_at",
        "$.",
        "$..",
        "$.a..",
        "$[",
        "$[01]",
        "$['a",
        "$['a']x",
        "$.a b",
        "$[-1]",
        "$['\\q']",
    ],
)
def test_patterns_outside_the_subset_are_refused(pattern: str) -> None:
    with pytest.raises(JsonPathError) as caught:
        parse(pattern)
    assert repr(pattern) in str(caught.value)


keys = st.text(max_size=6)
locations = st.lists(st.one_of(keys, st.integers(min_value=0, max_value=10_000)), max_size=6)


@given(locations)
def test_every_rendered_path_parses_back_and_matches_its_location(
    location: list[str | int],
) -> None:
    assert PathMatcher([render(location)]).matches(location)
    assert PathMatcher([render_template(location)]).matches(location)


# -- answers -----------------------------------------------------------------------------------


def test_headers_are_read_case_insensitively_in_the_order_received() -> None:
    received = HttpAnswer(
        200,
        (
            ("Set-Cookie", "a=1"),
            ("content-TYPE", "Application/JSON; charset=utf-8"),
            ("set-cookie", "b=2"),
        ),
    )
    assert received.header("set-cookie") == "a=1"
    assert received.header_values("SET-COOKIE") == ("a=1", "b=2")
    assert received.header("etag") is None
    assert received.content_type == "application/json"
    assert received.is_json


@pytest.mark.parametrize(
    ("status", "error"), [(None, None), (200, "timeout")], ids=["neither", "both"]
)
def test_an_answer_has_a_status_or_an_error(status: int | None, error: str | None) -> None:
    with pytest.raises(ComparisonError):
        HttpAnswer(status, error=error)


# -- the rules, one table each -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "candidate", "expected"),
    [
        (answer({"a": 1}), answer({"a": 1}, status=200), []),
        (answer({"a": 1}), answer({"a": 1}, status=404), [("status", "status", 200, 404)]),
        (
            answer({"a": 1}, status=200),
            answer({"a": 2}, status=500),
            [("status", "status", 200, 500), ("$.a", "value", 1, 2)],
        ),
    ],
)
def test_status_codes_are_compared(
    control: HttpAnswer, candidate: HttpAnswer, expected: list[tuple[str, str, Any, Any]]
) -> None:
    assert found(compare_http(control, candidate)) == expected


@pytest.mark.parametrize(
    ("ours", "theirs", "rules", "expected"),
    [
        # default: content-type only; request ids, dates, servers differ legitimately
        (
            [("Content-Type", "application/json"), ("X-Request-Id", "1"), ("Date", "Mon")],
            [("content-type", "application/json"), ("X-Request-Id", "2"), ("Date", "Tue")],
            CompareRules(),
            [],
        ),
        (
            [("Content-Type", "application/json")],
            [("Content-Type", "text/html")],
            CompareRules(),
            [("header:content-type", "header", "application/json", "text/html")],
        ),
        (
            [("Content-Type", "application/json")],
            [],
            CompareRules(),
            [("header:content-type", "header", "application/json", None)],
        ),
        # JSON is UTF-8 by definition; case, quotes and spacing do not matter either
        (
            [("Content-Type", "application/json")],
            [("Content-Type", 'Application/JSON ; charset="UTF-8"')],
            CompareRules(),
            [],
        ),
        (
            [("Content-Type", "text/html; charset=utf-8")],
            [("Content-Type", "text/html; charset=latin-1")],
            CompareRules(),
            [
                (
                    "header:content-type",
                    "header",
                    "text/html; charset=utf-8",
                    "text/html; charset=latin-1",
                )
            ],
        ),
        (
            [("ETag", '"1"')],
            [("etag", '"2"')],
            CompareRules(compare_headers=("etag",)),
            [("header:etag", "header", '"1"', '"2"')],
        ),
        (
            [("ETag", '"1"')],
            [("etag", '"2"')],
            CompareRules(compare_headers=("ETag",), ignore_headers=("etag",)),
            [],
        ),
        # "*": every header but the ignored and the transport ones
        (
            [("Date", "Mon"), ("Cache-Control", "no-store"), ("Content-Length", "10")],
            [("Date", "Tue"), ("Cache-Control", "max-age=60"), ("Transfer-Encoding", "chunked")],
            CompareRules(compare_headers=("*",), ignore_headers=("date",)),
            [("header:cache-control", "header", "no-store", "max-age=60")],
        ),
        (
            [("Vary", "Accept"), ("Vary", "Cookie")],
            [("Vary", "Accept")],
            CompareRules(compare_headers=("vary",)),
            [("header:vary", "header", "Accept, Cookie", "Accept")],
        ),
    ],
)
def test_chosen_headers_are_compared_and_ignored_ones_are_not(
    ours: list[tuple[str, str]],
    theirs: list[tuple[str, str]],
    rules: CompareRules,
    expected: list[tuple[str, str, Any, Any]],
) -> None:
    result = compare_http(
        answer(raw=b"same", headers=ours), answer(raw=b"same", headers=theirs), rules=rules
    )
    assert found(result) == expected


@pytest.mark.parametrize(
    ("ignore", "ours", "theirs", "expected"),
    [
        (
            ["$.generated_at"],
            {"generated_at": "10:00", "total": 3},
            {"generated_at": "10:01", "total": 3},
            [],
        ),
        (
            ["$.generated_at"],
            {"generated_at": "10:00", "total": 3},
            {"total": 3},  # missing on one side is ignored too
            [],
        ),
        (
            ["$.generated_at"],
            {"meta": {"generated_at": "10:00"}},
            {"meta": {"generated_at": "10:01"}},
            [("$.meta.generated_at", "value", "10:00", "10:01")],
        ),
        (
            ["$..generated_at"],
            {"generated_at": 1, "meta": {"generated_at": 1}, "pages": [{"generated_at": 1}]},
            {"generated_at": 2, "meta": {"generated_at": 2}, "pages": [{"generated_at": 2}]},
            [],
        ),
        (
            ["$.items[*].id"],
            {"items": [{"id": 1, "sku": "A"}, {"id": 2, "sku": "B"}]},
            {"items": [{"id": 8, "sku": "A"}, {"id": 9, "sku": "C"}]},
            [("$.items[1].sku", "value", "B", "C")],
        ),
        (
            ["$.items[0]"],
            {"items": ["x", "same"]},
            {"items": ["y", "same"]},
            [],
        ),
        (
            ["$.meta"],  # a whole subtree
            {"meta": {"a": 1, "b": [1]}, "data": 1},
            {"meta": {"a": 2}, "data": 1},
            [],
        ),
        (
            ["$['a b']"],
            {"a b": 1, "c": 1},
            {"a b": 2, "c": 1},
            [],
        ),
        (
            ["$.*"],
            {"a": 1, "b": 2},
            {"a": 3, "c": 4},
            [],
        ),
        (
            ["$"],
            {"a": 1},
            [1, 2],
            [],
        ),
    ],
)
def test_ignored_paths_leave_the_comparison(
    ignore: list[str], ours: Any, theirs: Any, expected: list[tuple[str, str, Any, Any]]
) -> None:
    result = compare_http(
        answer(ours), answer(theirs), rules=CompareRules(ignore_paths=tuple(ignore))
    )
    assert found(result) == expected
    assert result.equal is (not expected)


@pytest.mark.parametrize(
    ("unordered", "ours", "theirs", "expected"),
    [
        (["$.tags"], {"tags": ["a", "b", "c"]}, {"tags": ["c", "a", "b"]}, []),
        (
            [],
            {"tags": ["a", "b"]},
            {"tags": ["b", "a"]},
            [("$.tags[0]", "value", "a", "b"), ("$.tags[1]", "value", "b", "a")],
        ),
        # a multiset, not a set: how often an element occurs still matters
        (
            ["$.tags"],
            {"tags": ["a", "a", "b"]},
            {"tags": ["b", "a", "b"]},
            [("$.tags[1]", "value", "a", "b")],
        ),
        (["$.tags"], {"tags": ["a", "b"]}, {"tags": ["b"]}, [("$.tags[0]", "missing", "a", None)]),
        (["$.tags"], {"tags": ["a"]}, {"tags": ["b", "a"]}, [("$.tags[1]", "extra", None, "b")]),
        (
            ["$.items[*].tags"],
            {"items": [{"tags": [1, 2]}, {"tags": [3, 4]}]},
            {"items": [{"tags": [2, 1]}, {"tags": [4, 3]}]},
            [],
        ),
        (
            # only the declared list: the outer one keeps its order
            ["$.items[*].tags"],
            {"items": [{"tags": [1]}, {"tags": [2]}]},
            {"items": [{"tags": [2]}, {"tags": [1]}]},
            [("$.items[0].tags[0]", "value", 1, 2), ("$.items[1].tags[0]", "value", 2, 1)],
        ),
        (
            # a changed element faces its closest counterpart: one change, at the control's index
            ["$.items"],
            {"items": [{"id": 1, "price": 10}, {"id": 2, "price": 20}, {"id": 3, "price": 30}]},
            {"items": [{"id": 3, "price": 30}, {"id": 1, "price": 10}, {"id": 2, "price": 25}]},
            [("$.items[1].price", "value", 20, 25)],
        ),
    ],
)
def test_lists_declared_unordered_compare_as_multisets(
    unordered: list[str], ours: Any, theirs: Any, expected: list[tuple[str, str, Any, Any]]
) -> None:
    rules = CompareRules(unordered_paths=tuple(unordered))
    assert found(compare_http(answer(ours), answer(theirs), rules=rules)) == expected


@pytest.mark.parametrize(
    ("tolerance", "ours", "theirs", "expected"),
    [
        (0.0, {"p": 1}, {"p": 1.0}, []),  # one JSON number, whatever its spelling
        (0.0, {"p": 1.5}, {"p": 1.5000001}, [("$.p", "value", 1.5, 1.5000001)]),
        (0.01, {"p": 1.5}, {"p": 1.505}, []),
        (0.01, {"p": 1}, {"p": 1.005}, []),  # int against float, within tolerance
        (0.01, {"p": 1}, {"p": 1.5}, [("$.p", "value", 1, 1.5)]),  # not a type change
        (0.01, {"p": [1.0, 2.0]}, {"p": [1.001, 2.5]}, [("$.p[1]", "value", 2.0, 2.5)]),
        (0.0, {"flag": True}, {"flag": 1}, [("$.flag", "type", True, 1)]),  # Python says equal
        (0.0, {"flag": False}, {"flag": 0}, [("$.flag", "type", False, 0)]),
        (0.0, {"n": None}, {"n": 0}, [("$.n", "type", None, 0)]),
        (0.0, {"s": "1"}, {"s": 1}, [("$.s", "type", "1", 1)]),
    ],
)
def test_numbers_compare_by_value_within_the_tolerance(
    tolerance: float, ours: Any, theirs: Any, expected: list[tuple[str, str, Any, Any]]
) -> None:
    rules = CompareRules(numeric_tolerance=tolerance)
    assert found(compare_http(answer(ours), answer(theirs), rules=rules)) == expected


def test_numeric_tolerance_holds_inside_unordered_lists() -> None:
    rules = CompareRules(unordered_paths=("$.prices",), numeric_tolerance=0.01)
    result = compare_http(
        answer({"prices": [1.0, 2.0, 5.0]}), answer({"prices": [2.001, 1.001, 5.0]}), rules=rules
    )
    assert result.equal


@pytest.mark.parametrize(
    ("ours", "theirs", "path", "kind", "control", "candidate"),
    [
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, "$.a.c", "extra", None, 2),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, "$.a.c", "missing", 2, None),
        ({"x": 1}, {"y": 1}, "$.x", "missing", 1, None),  # disjoint keys: named, not "whole object"
        ({"a": [1, 2]}, {"a": {"0": 1}}, "$.a", "type", [1, 2], {"0": 1}),
        ([1], {"a": 1}, "$", "type", [1], {"a": 1}),
        ({"a b": {"it's": 1}}, {"a b": {"it's": 2}}, "$['a b']['it\\'s']", "value", 1, 2),
        ({"7": 1}, {"7": 2}, "$['7']", "value", 1, 2),
    ],
)
def test_json_differences_name_the_path_and_both_values(
    ours: Any, theirs: Any, path: str, kind: str, control: Any, candidate: Any
) -> None:
    result = compare_http(answer(ours), answer(theirs))
    assert (path, kind, control, candidate) in found(result)
    assert result.method == "deepdiff"


def test_list_differences_carry_a_template_path() -> None:
    result = compare_http(
        answer({"items": [{"sku_item": "a"}, {"sku_item": "b"}]}),
        answer({"items": [{"sku_item": "a"}, {"sku_item": "c"}]}),
    )
    [difference] = result.differences
    assert difference.path == "$.items[1].sku_item"
    assert difference.template_path == "$.items[*].sku_item"


def digest(body: bytes) -> dict[str, Any]:
    import hashlib

    return {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}


HTML = (("Content-Type", "text/html"),)


@pytest.mark.parametrize(
    ("ours", "theirs", "method", "expected"),
    [
        (b"<p>hi</p>", b"<p>hi</p>", "bytes", []),
        (
            b"<p>hi</p>",
            b"<p>ho</p>",
            "hash",
            [("body", "body", digest(b"<p>hi</p>"), digest(b"<p>ho</p>"))],
        ),
        (b"", b"", "bytes", []),
        (b"", b"{}", "hash", [("body", "body", digest(b""), digest(b"{}"))]),
        (
            b'{"a": 1}',
            b"<html>",
            "hash",
            [("body", "body", digest(b'{"a": 1}'), digest(b"<html>"))],
        ),
        (
            b'{"a": NaN}',
            b'{"a": NaN }',
            "hash",
            [("body", "body", digest(b'{"a": NaN}'), digest(b'{"a": NaN }'))],
        ),
        (
            b"\xff\xfe\x00",
            b"\xff\xfe\x01",
            "hash",
            [("body", "body", digest(b"\xff\xfe\x00"), digest(b"\xff\xfe\x01"))],
        ),
    ],
)
def test_bodies_that_are_not_json_compare_by_bytes_and_report_hashes(
    ours: bytes, theirs: bytes, method: str, expected: list[tuple[str, str, Any, Any]]
) -> None:
    result = compare_http(answer(raw=ours, headers=HTML), answer(raw=theirs, headers=HTML))
    assert result.method == method
    assert found(result) == expected
    assert "hi" not in json.dumps(result.to_dict())  # hashes, never the bytes


def test_json_without_a_json_content_type_is_still_compared_as_json() -> None:
    text = (("Content-Type", "text/plain"),)
    result = compare_http(
        answer(raw=b'{"a": 1, "b": 2}', headers=text), answer(raw=b'{"b": 2, "a": 1}', headers=text)
    )
    assert result.equal
    assert result.method == "parsed"


def test_bodies_above_the_limit_are_compared_by_hash_without_parsing(no_deepdiff: None) -> None:
    big = {"rows": list(range(5000))}
    ours, theirs = json.dumps(big).encode(), json.dumps({**big, "extra": 1}).encode()
    rules = CompareRules(max_body_compare=1000)
    result = compare_http(answer(raw=ours), answer(raw=theirs), rules=rules)
    assert result.method == "hash"
    assert found(result) == [("body", "body", digest(ours), digest(theirs))]
    assert compare_http(answer(raw=ours), answer(raw=ours), rules=rules).equal


@pytest.mark.parametrize(
    ("control", "candidate", "expected"),
    [
        (HttpAnswer.failed("timeout"), answer({"a": 1}), [("error", "error", "timeout", None)]),
        (answer({"a": 1}), HttpAnswer.failed("timeout"), [("error", "error", None, "timeout")]),
        (HttpAnswer.failed("timeout"), HttpAnswer.failed("timeout"), []),
        (
            HttpAnswer.failed("ConnectionResetError: [Errno 104] by peer"),
            HttpAnswer.failed("ConnectionResetError: [Errno 104] Connection reset"),
            [],
        ),
        (
            HttpAnswer.failed("timeout"),
            HttpAnswer.failed("ConnectionRefusedError: nope"),
            [("error", "error", "timeout", "ConnectionRefusedError: nope")],
        ),
    ],
)
def test_a_failed_side_is_an_error_difference(
    control: HttpAnswer, candidate: HttpAnswer, expected: list[tuple[str, str, Any, Any]]
) -> None:
    result = compare_http(control, candidate)
    assert found(result) == expected
    assert result.method == "none"


@pytest.mark.parametrize(
    "rules",
    [
        {"ignore_paths": ("generated_at",)},
        {"unordered_paths": ("$.[",)},
        {"numeric_tolerance": -0.1},
        {"numeric_tolerance": float("nan")},
        {"max_body_compare": -1},
        {"max_differences": 0},
    ],
)
def test_rules_that_make_no_sense_are_refused(rules: dict[str, Any]) -> None:
    with pytest.raises(ComparisonError):
        CompareRules(**rules)


def test_rules_accept_lists_from_a_config_and_stay_hashable() -> None:
    rules = CompareRules(ignore_paths=["$.a"], ignore_headers=["Date"])  # type: ignore[arg-type]
    assert rules.ignore_paths == ("$.a",)
    assert hash(rules) == hash(CompareRules(ignore_paths=("$.a",), ignore_headers=("Date",)))


# -- fast paths --------------------------------------------------------------------------------


def catalog_page(n: int = 30) -> dict[str, Any]:
    return {
        "generated_at": "2024-05-01T10:00:00Z",
        "count": n,
        "items": [
            {
                "sku": f"SKU-{i:04d}",
                "name": f"Product {i}",
                "price": i * 1.25,
                "in_stock": i % 2 == 0,
            }
            for i in range(n)
        ],
    }


def test_identical_bytes_are_equal_without_parsing(
    no_deepdiff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps(catalog_page()).encode()
    assert len(body) > 2000
    monkeypatch.setattr(compare_module, "_parse", lambda body: pytest.fail("parsed"))
    result = compare_http(answer(raw=body), answer(raw=body))
    assert result == Comparison(True, (), "bytes")


def test_equal_values_in_different_bytes_never_reach_deepdiff(no_deepdiff: None) -> None:
    page = catalog_page()
    ours = json.dumps(page).encode()
    theirs = json.dumps(page, indent=2, sort_keys=True).encode()
    result = compare_http(answer(raw=ours), answer(raw=theirs))
    assert result == Comparison(True, (), "parsed")


def test_values_equal_once_ignored_paths_are_dropped_never_reach_deepdiff(
    no_deepdiff: None,
) -> None:
    ours, theirs = catalog_page(), catalog_page()
    theirs["generated_at"] = "2024-05-01T10:00:07Z"
    theirs["items"] = list(reversed(theirs["items"]))
    rules = CompareRules(ignore_paths=("$.generated_at",), unordered_paths=("$.items",))
    assert compare_http(answer(ours), answer(theirs), rules=rules) == Comparison(True, (), "parsed")


def test_a_real_difference_goes_through_deepdiff() -> None:
    ours, theirs = catalog_page(), catalog_page()
    theirs["items"][3]["price"] = 99.0
    result = compare_http(answer(ours), answer(theirs))
    assert result.method == "deepdiff"
    assert found(result) == [("$.items[3].price", "value", 3.75, 99.0)]


# -- grouping and limits -----------------------------------------------------------------------


def test_one_bug_is_one_signature_however_many_elements_it_touched() -> None:
    def priced_wrong(indices: list[int]) -> Comparison:
        ours, theirs = catalog_page(), catalog_page()
        for i in indices:
            theirs["items"][i]["price"] += 1
        return compare_http(answer(ours), answer(theirs))

    assert (
        priced_wrong([1]).signature() == priced_wrong([4, 7, 9]).signature() == "$.items[*].price"
    )

    ours, theirs = catalog_page(), catalog_page()
    theirs["items"][0]["name"] = "?"
    theirs["count"] = 0
    other = compare_http(answer(ours), answer(theirs), rules=CompareRules())
    assert other.signature() == "$.count\n$.items[*].name"
    assert Comparison(True).signature() == ""


def test_the_difference_cap_keeps_one_of_every_path() -> None:
    ours, theirs = catalog_page(50), catalog_page(50)
    for item in theirs["items"]:
        item["price"] += 1
    theirs["count"] = 0
    result = compare_http(answer(ours), answer(theirs), rules=CompareRules(max_differences=5))
    assert len(result.differences) == 5
    assert result.omitted == 46
    assert result.signature() == "$.count\n$.items[*].price"


def test_a_comparison_serializes_to_plain_json() -> None:
    result = compare_http(answer({"a": 1}, status=200), answer({"a": "1"}, status=201))
    assert json.loads(json.dumps(result.to_dict())) == {
        "equal": False,
        "method": "deepdiff",
        "omitted": 0,
        "differences": [
            {
                "path": "status",
                "template_path": "status",
                "kind": "status",
                "control": 200,
                "candidate": 201,
            },
            {"path": "$.a", "template_path": "$.a", "kind": "type", "control": 1, "candidate": "1"},
        ],
    }


def test_equal_and_differences_agree() -> None:
    with pytest.raises(ComparisonError):
        Comparison(True, (Difference("status", "status", "status", 200, 500),))
    with pytest.raises(ComparisonError):
        Comparison(False, ())


# -- properties --------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
MIRROR = {"missing": "extra", "extra": "missing"}


@given(json_values, st.booleans())
def test_an_answer_always_equals_itself_however_it_is_spelled(value: Any, pretty: bool) -> None:
    ours = json.dumps(value).encode()
    theirs = json.dumps(
        value, indent=2 if pretty else None, sort_keys=pretty, ensure_ascii=not pretty
    ).encode()
    result = compare_http(answer(raw=ours), answer(raw=theirs))
    assert result.equal, result


@given(json_values, json_values)
@settings(max_examples=300)
def test_swapping_sides_mirrors_the_differences(ours: Any, theirs: Any) -> None:
    forward = compare_http(answer(ours), answer(theirs), rules=CompareRules(max_differences=10_000))
    backward = compare_http(
        answer(theirs), answer(ours), rules=CompareRules(max_differences=10_000)
    )
    assert forward.equal == backward.equal
    assert forward.template_paths() == backward.template_paths()
    assert {(d.template_path, MIRROR.get(d.kind, d.kind)) for d in forward.differences} == {
        (d.template_path, d.kind) for d in backward.differences
    }


@given(json_values, json_values)
@settings(max_examples=300)
def test_ignoring_every_differing_path_makes_the_answers_equal(ours: Any, theirs: Any) -> None:
    result = compare_http(answer(ours), answer(theirs), rules=CompareRules(max_differences=10_000))
    ignoring = CompareRules(ignore_paths=tuple(sorted(result.template_paths())))
    assert compare_http(answer(ours), answer(theirs), rules=ignoring).equal
