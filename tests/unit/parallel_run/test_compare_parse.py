"""The comparator's fast paths (issue 17): msgspec parses bodies and settles strict equality in C.

Both must change no result: every body parses to what `json` made of it before, type for type
(or is not JSON for both), and every comparison ends as the strict walk alone ended it. The
reference is the code as it was, restated here (`json_parse`, `_same` alone).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parallel_run.compare as compare_module
from parallel_run.compare import (
    _DECODER,
    _NOT_JSON,
    CompareRules,
    HttpAnswer,
    _parse,
    _same,
    _same_encoding,
    _without_booleans,
    compare_http,
)


def json_parse(body: bytes) -> Any:
    """`_parse` as it was before msgspec: json alone."""
    head = body[:64].lstrip()
    if not head or (head[0] < 0x80 and head[0] not in compare_module._JSON_STARTS):
        return _NOT_JSON
    try:
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):
        return _NOT_JSON


def identical(a: Any, b: Any) -> bool:
    """Equal type for type: `1` is not `1.0` nor `true`, `0.0` is not `-0.0`; keys in order."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is float:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def assert_parses_as_json_did(body: bytes) -> None:
    ours, reference = _parse(body), json_parse(body)
    if reference is _NOT_JSON or ours is _NOT_JSON:
        assert ours is reference, (body[:200], ours, reference)
    else:
        assert identical(ours, reference), (body[:200], ours, reference)


# -- the awkward cases, one by one -------------------------------------------------------------

AWKWARD = {
    "u64 max": b"18446744073709551615",
    "beyond 64 bits": b"18446744073709551616",
    "below i64": b"-9223372036854775809",
    "30 digits in a list": b'[123456789012345678901234567890, {"n": -99999999999999999999}]',
    "4,300 digits (int's limit)": b"7" * 4300,
    "4,301 digits (beyond it: not JSON)": b"7" * 4301,
    "long fraction": b"1.0000000000000000000000000001",
    "long float digits": b"0." + b"3" * 400,
    "subnormal": b"4.9e-324",
    "rounding edge": b"2.2250738585072011e-308",
    "1e400 (json: inf)": b"[1e400]",
    "just past the largest float (json: inf)": b"[1.7976931348623159e308]",
    "the largest float": b"[1.7976931348623157e308, -1.7976931348623157e308]",
    "half the smallest subnormal": b"[2.4703282292062328e-324, 2.4703282292062327e-324]",
    "halfway between two floats": b"[9007199254740993, 9007199254740993.0, 9007199254740993e0]",
    "-1e400": b'{"x": -1e400}',
    "1e-400 (zero)": b"1e-400",
    "negative zero": b"[-0.0, -0, 0.0, 0]",
    "exponent ints are floats": b"[1E2, 1e+2, 1.5E-3]",
    "NaN": b"[NaN]",
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b"-Infinity",
    "lone high surrogate escape": b'["\\ud800"]',
    "lone low surrogate escape": b'"\\udc00x"',
    "reversed pair": b'"\\udc00\\ud800"',
    "valid pair": b'"\\ud83d\\ude00"',
    "surrogate in UTF-8 bytes": b'"\xed\xa0\x80"',
    "invalid UTF-8": b'{"a": "\xff"}',
    "overlong UTF-8": b'"\xc0\xaf"',
    "duplicate keys": b'{"a": 1, "b": 2, "a": true}',
    "duplicate nested keys": b'{"a": {"x": 1, "x": [2]}, "a": {"y": 3}}',
    "UTF-8 BOM": b'\xef\xbb\xbf{"a": 1}',
    "UTF-16-LE BOM": '{"a": "é"}'.encode("utf-16"),
    "UTF-16-BE": '{"a": "é"}'.encode("utf-16-be"),
    "UTF-16-LE": '["é"]'.encode("utf-16-le"),
    "UTF-32": '{"a": [1, 2]}'.encode("utf-32"),
    "UTF-32-LE": "[1]".encode("utf-32-le"),
    "whitespace": b' \t\r\n{ "a" :\t[ 1 , 2 ] }\n',
    "form feed is not whitespace": b"[1]\x0c",
    "NUL after the value": b"[1]\x00",
    "control character in a string": b'"a\x01b"',
    "DEL in a string": b'"a\x7fb"',
    "escaped NUL": b'"\\u0000"',
    "escapes": b'"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    "invalid escape": b'"\\x41"',
    "trailing comma": b"[1,]",
    "leading zero": b"012",
    "bare dot": b"1.",
    "plus sign": b"+1",
    "hex": b"0x10",
    "single quotes": b"{'a': 1}",
    "two values": b"1 2",
    "empty containers": b'[{}, [], "", 0]',
    "literals": b"[true, false, null]",
    "truncated": b'{"a": [1, 2',
}


@pytest.mark.parametrize("body", AWKWARD.values(), ids=AWKWARD.keys())
def test_an_awkward_body_parses_as_json_parsed_it(body: bytes) -> None:
    assert_parses_as_json_did(body)


def test_the_awkward_bodies_keep_their_values() -> None:
    """What the cases above pin, spelled out: exact integers, json's inf, NaN refused."""
    assert _parse(AWKWARD["beyond 64 bits"]) == 2**64
    assert type(_parse(AWKWARD["beyond 64 bits"])) is int
    assert _parse(AWKWARD["1e400 (json: inf)"]) == [math.inf]
    assert _parse(AWKWARD["NaN"]) is _NOT_JSON
    assert _parse(AWKWARD["4,301 digits (beyond it: not JSON)"]) is _NOT_JSON
    assert _parse(AWKWARD["lone high surrogate escape"]) == ["\ud800"]
    assert _parse(AWKWARD["duplicate keys"]) == {"a": True, "b": 2}
    assert _parse(AWKWARD["UTF-16-LE BOM"]) == {"a": "é"}


def _at_stack_depth(frames: int, call: Callable[[], Any]) -> Any:
    if frames:
        return _at_stack_depth(frames - 1, call)
    return call()


def _deepest(parse: Callable[[bytes], Any], opener: bytes, closer: bytes, inner: bytes) -> int:
    deepest = 0
    for depth in range(700, 1100):
        if parse(opener * depth + inner + closer * depth) is _NOT_JSON:
            break
        deepest = depth
    return deepest


@pytest.mark.parametrize("frames", [0, 25, 200])
@pytest.mark.parametrize(
    ("opener", "closer", "inner"), [(b"[", b"]", b""), (b'{"a":', b"}", b"1"), (b"[ ", b" ]", b"")]
)
def test_nesting_is_refused_exactly_where_json_refused_it(
    frames: int, opener: bytes, closer: bytes, inner: bytes
) -> None:
    """Both decoders draw on the recursion budget: the deepest body each parses, however deep
    the caller's stack, is the same (json gave up first by a few levels, unless msgspec is
    called as deep as json's scanner runs)."""
    ours = _at_stack_depth(frames, lambda: _deepest(_parse, opener, closer, inner))
    reference = _at_stack_depth(frames, lambda: _deepest(json_parse, opener, closer, inner))
    assert ours == reference
    assert 700 < ours < 1099  # the boundary was inside the range probed


# -- random bodies -----------------------------------------------------------------------------

AWKWARD_LEAVES = st.sampled_from(
    [
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "-0.0",
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        '"\\ud800"',
        '"\\udfff"',
        '"\\ud83d\\ude00"',
        "1E5",
        "0.1",
        "true",
        "false",
        "null",
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def json_texts(draw: st.DrawFn) -> bytes:
    """A value serialized some way, perhaps with an awkward token spliced in, a duplicate key,
    a stray byte, in some encoding json detects."""
    value = draw(json_values)
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 1, "\t"])),
        sort_keys=draw(st.booleans()),
    )
    edit = draw(st.integers(0, 4))
    if edit == 1:  # an awkward leaf in a list
        text = f"[{text}, {draw(AWKWARD_LEAVES)}]"
    elif edit == 2:  # a duplicate key
        text = f'{{"k": {text}, "j": 1, "k": {draw(AWKWARD_LEAVES)}}}'
    elif edit == 3 and text:  # a byte changed or cut somewhere
        at = draw(st.integers(0, len(text) - 1))
        text = (
            text[:at]
            + draw(st.sampled_from(["", "\x00", "\x7f", "\ufeff", "]", ",", " "]))
            + text[at + 1 :]
        )
    encoding = draw(
        st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
    )
    return text.encode(encoding, "surrogatepass")


@settings(max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_texts())
def test_a_random_json_text_parses_as_json_parsed_it(body: bytes) -> None:
    assert_parses_as_json_did(body)


@settings(max_examples=1_000, deadline=None)
@given(st.binary(max_size=64) | st.lists(st.sampled_from(list(AWKWARD.values()))).map(b"".join))
def test_random_bytes_parse_as_json_parsed_them(body: bytes) -> None:
    assert_parses_as_json_did(body)


# -- strict equality in C ----------------------------------------------------------------------

numbers_and_bools = st.one_of(
    st.booleans(),
    st.sampled_from([0, 1, -1, 0.0, -0.0, 1.0, 2**64, float(2**64), math.inf, None]),
    st.integers(-3, 3),
)
look_alike_values = st.recursive(
    numbers_and_bools | st.sampled_from(["a", "\ud800"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=3_000, deadline=None)
@given(look_alike_values, look_alike_values)
def test_equal_encodings_of_equal_values_are_strictly_equal(a: Any, b: Any) -> None:
    """Values Python calls equal (`true == 1 == 1.0`) with equal canonical encodings are equal
    JSON; the strict walk agrees whenever the encodings say so."""
    if a == b and _same_encoding(a, b):
        assert _same(a, b, 0.0)


def test_the_encoding_never_decides_unequal() -> None:
    """`1` and `1.0`, `0.0` and `-0.0` encode differently and are equal JSON: the walk decides."""
    pairs = [([1], [1.0]), ({"a": 0.0}, {"a": -0.0}), ([2**64], [float(2**64)])]
    for a, b in pairs:
        assert not _same_encoding(a, b)
        assert compare_http(
            HttpAnswer(200, (), json.dumps(a).encode()), HttpAnswer(200, (), json.dumps(b).encode())
        ).equal


@pytest.mark.parametrize(
    ("control", "candidate", "equal"),
    [
        (b'{"a": true, "b": 2}', b'{"b": 2, "a": 1}', False),
        (b"[false]", b"[0.0]", False),
        (b'{"a": 1, "b": [1.0, 0.0]}', b'{"b": [1, -0.0], "a": 1.0}', True),
        (b"[18446744073709551616]", b"[ 18446744073709551616 ]", True),
        (b"[18446744073709551616]", b"[18446744073709551617]", False),
        (b"[1e400]", b"[null]", False),
        (b"[1e400]", b"[ 1e400 ]", True),
        (b'["\\ud800", 1]', b'[ "\\ud800", 1.0 ]', True),
        (b'["\\ud800", true]', b'[ "\\ud800", 1 ]', False),
        # no boolean on either side: C's == decides alone
        (b'{"a": [1, 2.5], "b": null}', b'{"b": null, "a": [1.0, 2.5]}', True),
        (b'{"a": [1, 2.5]}', b'{"a": [1, 2.4]}', False),
        # a boolean in other encodings, where b"true" is not spelled so: not taken for none
        ("[true]".encode("utf-16-le"), b"[1]", False),
        (b"[0]", "[false]".encode("utf-32"), False),
        ('{"a": true}'.encode("utf-16"), b'{"a": true}', True),
    ],
)
def test_strictness_holds_on_the_fast_paths(control: bytes, candidate: bytes, equal: bool) -> None:
    result = compare_http(HttpAnswer(200, (), control), HttpAnswer(200, (), candidate))
    assert result.equal is equal
    assert result.method == ("parsed" if equal else "deepdiff")


def test_booleans_are_looked_for_in_every_body_and_encoding() -> None:
    assert _without_booleans((b'{"a": 1}', b"[null]"))
    assert not _without_booleans((b'{"a": 1}', b'"not false"'))
    assert not _without_booleans(("[1]".encode("utf-16-le"), b"[1]"))
    assert not _without_booleans(())


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    look_alike_values,
    look_alike_values,
    st.sampled_from([0.0, 0.5]),
    st.booleans(),
    st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-32-le"]),
)
def test_a_comparison_ends_as_it_did_with_json_and_the_walk_alone(
    a: Any, b: Any, tolerance: float, same: bool, encoding: str
) -> None:
    """The whole comparator, with both fast paths and without them (json's parse, the strict
    walk alone): the same verdict, method and differences."""
    if same:
        b = a
    control = HttpAnswer(200, (), json.dumps(a).encode())
    candidate = HttpAnswer(200, (), json.dumps(b, indent=1, sort_keys=True).encode(encoding))
    rules = CompareRules(numeric_tolerance=tolerance, max_differences=10_000)
    fast = compare_http(control, candidate, rules=rules)
    with (
        mock.patch.object(compare_module, "_parse", json_parse),
        mock.patch.object(compare_module, "_same_encoding", return_value=False),
        mock.patch.object(compare_module, "_without_booleans", return_value=False),
    ):
        reference = compare_http(control, candidate, rules=rules)
    assert fast == reference
