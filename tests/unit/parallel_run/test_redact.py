"""Redaction: every secret SECURITY.md names is gone, everything else is kept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_run.redact import MASK, Redactor

R = Redactor(headers=["X-Internal-Token"], query_params=["sig"], json_fields=["ssn"])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer eyJhbGciOi.abc.def", "Bearer [REDACTED]"),
        ("authorization", "Basic dXNlcjpwYXNz", "Basic [REDACTED]"),
        ("AUTHORIZATION", "opaque-token-without-scheme", MASK),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz", "Basic [REDACTED]"),
        ("Cookie", "sessionid=abc; csrftoken=def", "sessionid=[REDACTED]; csrftoken=[REDACTED]"),
        ("cookie", "lonely", MASK),
        ("Set-Cookie", "sid=xyz; Path=/; HttpOnly", "sid=[REDACTED]; Path=/; HttpOnly"),
        (
            "set-cookie",
            "csrftoken=q; expires=Thu, 01 Jan 2030 00:00:00 GMT; Max-Age=31449600; SameSite=Lax",
            "csrftoken=[REDACTED]; expires=Thu, 01 Jan 2030 00:00:00 GMT; Max-Age=31449600;"
            " SameSite=Lax",
        ),
        ("X-API-Key", "k-123", MASK),
        ("x-api-key", "k-123", MASK),
        ("X-Internal-Token", "configured", MASK),
        ("Accept", "application/json", "application/json"),
        ("Content-Type", "text/html; charset=utf-8", "text/html; charset=utf-8"),
    ],
)
def test_each_secret_header_is_redacted_as_security_md_says(
    name: str, value: str, expected: str
) -> None:
    assert R.headers([(name, value)]) == ((name, expected),)


def test_headers_keep_names_order_and_repeats() -> None:
    pairs = [("Set-Cookie", "a=1"), ("Accept", "*/*"), ("Set-Cookie", "b=2; Secure")]
    assert R.headers(pairs) == (
        ("Set-Cookie", "a=[REDACTED]"),
        ("Accept", "*/*"),
        ("Set-Cookie", "b=[REDACTED]; Secure"),
    )


def test_configured_names_add_to_the_defaults() -> None:
    only_cookie = Redactor(headers=["cookie"])
    assert only_cookie.header("Authorization", "Bearer t") == "Bearer [REDACTED]"
    assert only_cookie.header("X-API-Key", "k") == MASK


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/login?token=abc", "/login?token=[REDACTED]"),
        ("/cb?code=xyz&state=s%20t", "/cb?code=[REDACTED]&state=s%20t"),
        ("/a?password=p&secret=s", "/a?password=[REDACTED]&secret=[REDACTED]"),
        ("/a?access_token=t&api_key=k", "/a?access_token=[REDACTED]&api_key=[REDACTED]"),
        ("/a?Token=T&TOKEN=U", "/a?Token=[REDACTED]&TOKEN=[REDACTED]"),
        ("/a?sig=configured&z=1", "/a?sig=[REDACTED]&z=1"),
        ("/a?api%5Fkey=k", "/a?api%5Fkey=[REDACTED]"),
        ("/a?x=1&&y=%2F&token&code=", "/a?x=1&&y=%2F&token&code=[REDACTED]"),
        ("/a?zipcode=1&tokens=2", "/a?zipcode=1&tokens=2"),
        ("/a?token=t#frag", "/a?token=[REDACTED]#frag"),
        ("/no/query", "/no/query"),
        ("/empty?", "/empty?"),
    ],
)
def test_query_values_are_redacted_and_the_rest_kept_byte_for_byte(
    target: str, expected: str
) -> None:
    assert R.target(target) == expected


def test_json_fields_are_redacted_at_any_depth() -> None:
    body = json.dumps(
        {"user": "ann", "password": "hunter2", "items": [{"SSN": "123", "n": 1}], "ok": True}
    ).encode()
    redacted = json.loads(R.body(body, "application/json; charset=utf-8"))
    assert redacted == {
        "user": "ann",
        "password": MASK,
        "items": [{"SSN": MASK, "n": 1}],
        "ok": True,
    }


def test_json_without_secrets_is_returned_as_the_same_bytes() -> None:
    body = b'{ "a" : 1.10, "b": [1, 2] }'
    assert R.body(body, "application/json") is body


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<p>password: hunter2</p>", "text/html"),
        (b'{"password": "p"', "application/json"),
        (b"\xff\xfe binary", "application/octet-stream"),
        (b'{"password": "p"}', "text/plain"),
        (b"", None),
    ],
)
def test_bodies_that_are_not_json_are_untouched(body: bytes, content_type: str | None) -> None:
    assert R.body(body, content_type) == body


def test_json_without_a_content_type_is_recognised() -> None:
    assert json.loads(R.body(b'{"password": "p"}', None)) == {"password": MASK}


def test_problem_json_is_json() -> None:
    assert json.loads(R.body(b'{"password": "p"}', "application/problem+json")) == {
        "password": MASK
    }


def test_form_bodies_lose_secret_fields() -> None:
    body = b"username=ann&password=hunter2&next=%2F"
    assert R.body(body, "application/x-www-form-urlencoded") == (
        b"username=ann&password=[REDACTED]&next=%2F"
    )


def test_diff_values_lose_secret_fields() -> None:
    assert R.value({"a": [{"password": "p"}], "b": 1}) == {"a": [{"password": MASK}], "b": 1}


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /login?token=abc123&next=/ 200", "abc123"),
        ("upstream said Authorization: Bearer eyJabc.def", "eyJabc.def"),
        ("X-API-Key: k-9876 rejected", "k-9876"),
        ("sent Cookie: sessionid=s3cr3t; theme=dark", "s3cr3t"),
        ('body {"password": "hunter2", "user": "ann"}', "hunter2"),
        ("x-internal-token=conf1gured", "conf1gured"),
    ],
)
def test_log_lines_lose_their_secrets(line: str, secret: str) -> None:
    redacted = R.text(line)
    assert secret not in redacted
    assert MASK in redacted


def test_log_lines_without_secrets_are_unchanged() -> None:
    line = "GET /api/products?page=2 200 12.5ms"
    assert R.text(line) == line


_names = st.sampled_from(
    ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-API-Key", "Accept"]
)
_values = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40)
_params = st.sampled_from(["token", "code", "page", "sig", "q", "password", "a%20b"])
_query = st.lists(st.tuples(_params, _values.map(lambda v: v.replace("&", "%26"))), max_size=5)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["password", "ssn", "id", "name"]), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.lists(st.tuples(_names, _values), max_size=6))
def test_header_redaction_is_idempotent(pairs: list[tuple[str, str]]) -> None:
    once = R.headers(pairs)
    assert R.headers(once) == once


@given(_query)
def test_target_redaction_is_idempotent(query: list[tuple[str, str]]) -> None:
    target = "/p?" + "&".join(f"{name}={value}" for name, value in query)
    once = R.target(target)
    assert R.target(once) == once
    assert once.startswith("/p?")


@given(_json)
def test_body_redaction_is_idempotent(value: object) -> None:
    once = R.body(json.dumps(value).encode(), "application/json")
    assert R.body(once, "application/json") == once


_fragments = st.sampled_from(
    [
        "token=",
        "?code=",
        "&",
        " ",
        "Bearer ",
        "Authorization: ",
        "Cookie: ",
        "a=1;",
        "; ",
        '"',
        '"password": ',
        "X-API-Key: ",
        "x",
        "=",
        ":",
        ",",
        "{",
        "}",
        "[REDACTED]",
    ]
)


@given(st.lists(_fragments | _values, max_size=12).map("".join))
def test_text_redaction_is_idempotent(line: str) -> None:
    once = R.text(line)
    assert R.text(once) == once
