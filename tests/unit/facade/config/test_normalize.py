"""Request-target normalization (SECURITY.md P1-P15) at the pure-function level.

The integration twin, tests/integration/test_security_boundary.py, sends the same cases through
a running facade; here each case is pinned on ``normalize_target``/``normalize_path`` and on the
matcher fed with their output, plus properties that hold for any input.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from facade.config.matching import Matcher, Route
from facade.config.normalize import Target, normalize_path, normalize_target
from facade.errors import PathRejected

ORDERS = Matcher([Route("orders", "/orders"), Route("orders", "/orders/{id}")])


def routed_to(path: str) -> str:
    match = ORDERS.match("GET", path)
    return match.route.capability if match is not None else "legacy"


# -- what a path becomes (and where it then goes) --------------------------------------------

NORMALIZED = [
    pytest.param("/legacy/../orders/1", "/orders/1", "orders", id="P1-dot-dot"),
    pytest.param("/legacy/./../orders/./1", "/orders/1", "orders", id="P1-dot-and-dot-dot"),
    pytest.param("/legacy/%2e%2e/orders/1", "/orders/1", "orders", id="P2-lower-hex"),
    pytest.param("/legacy/%2E%2E/orders/1", "/orders/1", "orders", id="P2-upper-hex"),
    pytest.param("/legacy/.%2e/orders/1", "/orders/1", "orders", id="P2-mixed"),
    pytest.param("/orders/%2e/1", "/orders/1", "orders", id="P2-single-encoded-dot"),
    pytest.param("//orders//1", "/orders/1", "orders", id="P4-double-slashes"),
    pytest.param("///orders///", "/orders/", "orders", id="P4-many-slashes"),
    pytest.param("/orders\\..\\admin", "/orders\\..\\admin", "legacy", id="P6-raw-backslash"),
    pytest.param("/ORDERS/1", "/ORDERS/1", "legacy", id="P8-case-sensitive"),
    pytest.param("/ordersXYZ", "/ordersXYZ", "legacy", id="P9-longer-segment"),
    pytest.param("/orders-admin", "/orders-admin", "legacy", id="P9-dash-suffix"),
    pytest.param("/orders", "/orders", "orders", id="P10-no-trailing-slash"),
    pytest.param("/orders/", "/orders/", "orders", id="P10-trailing-slash"),
    pytest.param("/orders/1/.", "/orders/1/", "orders", id="P10-trailing-dot"),
    pytest.param("/orders/1/..", "/orders/", "orders", id="P10-trailing-dot-dot"),
    pytest.param("/%6Frders/1", "/orders/1", "orders", id="P11-unreserved-decoded"),
    pytest.param("/%6frders/%31", "/orders/1", "orders", id="P11-lower-hex"),
    pytest.param("/%7Euser/a%2Db%5Fc", "/~user/a-b_c", "legacy", id="P11-tilde-dash-underscore"),
    pytest.param(
        "/orders%252F..%252Fadmin", "/orders%252F..%252Fadmin", "legacy", id="P12-once-only"
    ),
    pytest.param("/orders/%252e%252e", "/orders/%252e%252e", "orders", id="P12-encoded-dots"),
    pytest.param("/a%3Bb/%3f", "/a%3Bb/%3F", "legacy", id="reserved-escapes-stay-encoded"),
    pytest.param("/caf%c3%a9", "/caf%C3%A9", "legacy", id="hex-upper-cased"),
    pytest.param("/café", "/caf%C3%A9", "legacy", id="non-ascii-encoded"),
    pytest.param("/a b", "/a%20b", "legacy", id="space-encoded"),
    pytest.param("/a;b=c,d:e@f!$&'()*+", "/a;b=c,d:e@f!$&'()*+", "legacy", id="sub-delims-raw"),
    pytest.param("/", "/", "legacy", id="root"),
]


@pytest.mark.parametrize(("raw", "expected", "capability"), NORMALIZED)
def test_the_normalized_path_is_what_gets_matched_and_forwarded(
    raw: str, expected: str, capability: str
) -> None:
    path = normalize_path(raw)
    assert path == expected
    assert routed_to(path) == capability


@pytest.mark.parametrize(("raw", "expected", "capability"), NORMALIZED)
def test_normalizing_a_normalized_path_changes_nothing(
    raw: str, expected: str, capability: str
) -> None:
    assert normalize_path(expected) == expected


# -- what is refused ----------------------------------------------------------------------

REJECTED = [
    pytest.param("/../../etc/passwd", id="P3-above-root"),
    pytest.param("/..", id="P3-root-parent"),
    pytest.param("/a/../../b", id="P3-climbs-after-descending"),
    pytest.param("/%2e%2e/etc/passwd", id="P3-encoded"),
    pytest.param("/orders%2F1", id="P5-encoded-slash"),
    pytest.param("/legacy%2Forders", id="P5-encoded-slash-legacy"),
    pytest.param("/orders%2f1", id="P5-lower-hex"),
    pytest.param("/orders%5C..%5Cadmin", id="P6-encoded-backslash"),
    pytest.param("/orders%5c1", id="P6-lower-hex"),
    pytest.param("/orders/..;/admin", id="P7-tomcat"),
    pytest.param("/orders/.;/admin", id="P7-single-dot"),
    pytest.param("/orders/..;jsessionid=1/admin", id="P7-with-parameter"),
    pytest.param("/orders/%2e%2e;/admin", id="P7-encoded"),
    pytest.param("/orders%00", id="P13-nul"),
    pytest.param("/orders%0d%0aX-Injected:%201", id="P13-crlf"),
    pytest.param("/orders%0a", id="P13-lf"),
    pytest.param("/orders%09", id="P13-tab"),
    pytest.param("/orders%7F", id="P13-del"),
    pytest.param("/orders\x00", id="P13-raw-nul"),
    pytest.param("/orders\r\n", id="P13-raw-crlf"),
    pytest.param("/orders%", id="malformed-escape-truncated"),
    pytest.param("/orders%2", id="malformed-escape-one-digit"),
    pytest.param("/orders%zz", id="malformed-escape-not-hex"),
    pytest.param("/orders\ud800", id="lone-surrogate"),
    pytest.param("orders/1", id="relative"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("raw", REJECTED)
def test_an_unsafe_path_is_rejected(raw: str) -> None:
    with pytest.raises(PathRejected):
        normalize_path(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("/legacy/../orders/1", id="P1-dot-dot"),
        pytest.param("/legacy/%2e%2e/orders/1", id="P2-encoded-dot-dot"),
        pytest.param("/orders/./1", id="single-dot"),
        pytest.param("/orders/%2E/1", id="encoded-single-dot"),
        pytest.param("/orders/1/.", id="trailing-dot"),
        pytest.param("/orders/1/..", id="trailing-dot-dot"),
        pytest.param("/../../etc/passwd", id="P3-above-root"),
    ],
)
def test_strict_mode_rejects_every_dot_segment(raw: str) -> None:
    with pytest.raises(PathRejected):
        normalize_path(raw, dot_segments="reject")


@pytest.mark.parametrize("raw", ["//orders//1", "/%6Frders/1", "/orders/", "/a..b/.c/d."])
def test_strict_mode_still_accepts_paths_without_dot_segments(raw: str) -> None:
    assert normalize_path(raw, dot_segments="reject") == normalize_path(raw)


# -- request-targets: the query and the forms that are not a path --------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("http://evil.example/admin", id="P14-absolute-form"),
        pytest.param("https://127.0.0.1:8000/orders/1", id="P14-absolute-form-upstream"),
        pytest.param("*", id="asterisk-form"),
        pytest.param("evil.example:443", id="authority-form"),
        pytest.param("/orders#fragment", id="fragment"),
        pytest.param("/orders?next=a#b", id="fragment-after-query"),
    ],
)
def test_a_target_that_is_not_an_origin_form_path_is_rejected(raw: str) -> None:
    with pytest.raises(PathRejected):
        normalize_target(raw)


def test_a_leading_double_slash_is_a_path_never_an_authority() -> None:
    # '//evil.example/admin' on the request line is origin-form with an empty first segment
    assert normalize_target("//evil.example/admin?x") == Target("/evil.example/admin", "x")


@pytest.mark.parametrize(
    ("raw", "path", "query"),
    [
        pytest.param("/orders?next=/../admin", "/orders", "next=/../admin", id="P15-dot-dot"),
        pytest.param(
            "/orders/./1?a=%2F&b=%2e%2E&c=%zz&d=a+b&d=",
            "/orders/1",
            "a=%2F&b=%2e%2E&c=%zz&d=a+b&d=",
            id="P15-escapes-untouched",
        ),
        pytest.param("/orders?", "/orders", "", id="empty-query-kept"),
        pytest.param("/orders??x=?", "/orders", "?x=?", id="question-marks-in-query"),
        pytest.param("/orders", "/orders", None, id="no-query"),
    ],
)
def test_the_query_is_never_matched_and_is_forwarded_byte_for_byte(
    raw: str, path: str, query: str | None
) -> None:
    target = normalize_target(raw)
    assert target == Target(path, query)
    assert target.path_qs == (path if query is None else f"{path}?{query}")
    assert routed_to(target.path) == "orders"


def test_the_query_cannot_hide_an_unsafe_path() -> None:
    with pytest.raises(PathRejected):
        normalize_target("/orders%2F..%2Fadmin?x=1")


# -- properties ----------------------------------------------------------------------------

# the pieces attacks are made of, plus anything a wire could carry (bytes decoded the way
# aiohttp decodes a request-target: UTF-8 with surrogateescape)
_PIECES = st.sampled_from(
    [
        "/", "//", ".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%2f", "%2F", "%5c", "%5C", "\\",
        "%25", "%252F", "%252e", "%", "%6F", "%7e", "%41", "%3B", ";", "..;", "%00", "%0a",
        "\r", "\x7f", "\x85", "é", "~", "orders", "1", "a", "-", "_", " ", "?", "#", "%C3%A9",
    ]
)  # fmt: skip
_WIRE = st.binary(max_size=24).map(lambda b: b.decode("utf-8", "surrogateescape"))
RAW_PATHS = st.lists(_PIECES | _WIRE, max_size=12).map(lambda parts: "/" + "".join(parts))
_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _normalized_or_none(raw: str, **kwargs: str) -> str | None:
    try:
        return normalize_path(raw, **kwargs)  # type: ignore[arg-type]
    except PathRejected:
        return None


@given(RAW_PATHS)
@example("/legacy/%2e%2e/orders/1")
@example("/orders%252F..%252Fadmin")
def test_normalize_path_is_idempotent_on_its_own_output(raw: str) -> None:
    path = _normalized_or_none(raw)
    if path is not None:
        assert normalize_path(path) == path


@given(RAW_PATHS)
@example("/a/%2e%2e/%2E/./b//c/")
def test_normalize_path_output_has_no_dot_segment_double_slash_or_ambiguous_escape(
    raw: str,
) -> None:
    path = _normalized_or_none(raw)
    if path is None:
        return
    assert path.startswith("/")
    assert "//" not in path
    segments = path.split("/")[1:]
    assert "." not in segments
    assert ".." not in segments
    upper = path.upper()
    assert "%2F" not in upper
    assert "%2E" not in upper
    assert "%5C" not in upper
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in path)
    # every '%' starts a well-formed upper-case escape, so the upstream decodes what we matched
    assert _ESCAPE.sub("", path).count("%") == 0
    assert path.isascii()


@given(RAW_PATHS)
def test_strict_mode_accepts_a_path_only_when_resolving_would_not_change_its_meaning(
    raw: str,
) -> None:
    strict = _normalized_or_none(raw, dot_segments="reject")
    if strict is not None:
        assert strict == normalize_path(raw)
