"""Header policy at the boundary (SECURITY.md H1-H8 and framing) at the pure-function level.

The integration twin, tests/integration/test_security_boundary.py, checks what a real upstream
receives through a running facade; here each case is pinned on ``facade.headers``, plus a
property over arbitrary header lists and the start-up check that the C parser is in use.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp.http_parser
import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from facade import config as config_module
from facade.errors import RequestRejected
from facade.exchange import Exchange
from facade.headers import (
    Peer,
    downstream_response_headers,
    forwarded_for,
    request_id_from,
    traceparent_from,
    upstream_request_headers,
)
from facade.server import ParserError, check_c_parser
from facade.stages import route
from facade.state import FacadeState, LiveConfig

PEER = Peer(address="203.0.113.7", scheme="http", host="shop.example")
FACADE_OWN = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "traceparent"]
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def incoming(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def forward(*pairs: tuple[str, str], trusted_hops: int = 0) -> CIMultiDict[str]:
    return upstream_request_headers(
        incoming(*pairs),
        peer=PEER,
        trusted_hops=trusted_hops,
        request_id="rid-1",
        traceparent=TRACE,
    )


def names(headers: CIMultiDict[str]) -> list[str]:
    return [name.lower() for name in headers]


def spellings(name: str) -> list[str]:
    return sorted({name, name.lower(), name.upper()})


# -- H1, H2: hop-by-hop headers -------------------------------------------------------------


@pytest.mark.parametrize("connection", spellings("Connection"))
@pytest.mark.parametrize("named", spellings("X-Internal-Auth"))
def test_every_header_named_in_connection_is_dropped_with_connection_itself(
    connection: str, named: str
) -> None:
    out = forward(
        ("Host", "shop.example"),
        (connection, f"close, {named}"),
        ("X-Internal-Auth", "forged"),
        ("x-internal-auth", "forged-again"),
        ("X-Kept", "yes"),
    )
    assert "x-internal-auth" not in names(out)
    assert "connection" not in names(out)
    assert out["X-Kept"] == "yes"


def test_headers_named_in_several_connection_headers_are_all_dropped() -> None:
    out = forward(("Connection", "X-A"), ("Connection", " x-b ,,"), ("X-A", "1"), ("X-B", "2"))
    assert not {"x-a", "x-b", "connection"} & set(names(out))


HOP_BY_HOP = [
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
    ("TE", "gzip"),
    ("TE", "trailers, gzip"),
    ("Proxy-Connection", "keep-alive"),
    ("Trailer", "X-Checksum"),
    ("Upgrade", "h2c"),
    ("Upgrade", "websocket"),
    ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
    ("Proxy-Authenticate", "Basic"),
]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(spelled, value, id=f"{spelled}: {value}")
        for name, value in HOP_BY_HOP
        for spelled in spellings(name)
    ],
)
def test_a_hop_by_hop_header_is_stripped_in_any_letter_case(name: str, value: str) -> None:
    out = forward(("Host", "shop.example"), (name, value))
    assert name.lower() not in names(out)


@pytest.mark.parametrize("name", spellings("TE"))
def test_te_trailers_may_pass(name: str) -> None:
    out = forward((name, "trailers"))
    assert out.getall("TE") == ["trailers"]


def test_te_trailers_named_in_connection_is_dropped() -> None:
    assert "te" not in names(forward(("Connection", "TE"), ("TE", "trailers")))


# -- H3, H4: forwarding headers are the facade's own ---------------------------------------


@pytest.mark.parametrize("name", spellings("X-Forwarded-For"))
def test_at_the_edge_x_forwarded_for_is_the_peer_address_only(name: str) -> None:
    out = forward((name, "6.6.6.6"))
    assert out.getall("X-Forwarded-For") == [PEER.address]


@pytest.mark.parametrize(
    ("sent", "trusted_hops", "expected"),
    [
        pytest.param([], 0, "203.0.113.7", id="edge-nothing-sent"),
        pytest.param(["6.6.6.6"], 0, "203.0.113.7", id="edge-client-value-discarded"),
        pytest.param([], 1, "203.0.113.7", id="one-hop-nothing-sent"),
        pytest.param(["6.6.6.6, 10.0.0.1"], 1, "10.0.0.1, 203.0.113.7", id="one-hop"),
        pytest.param(["6.6.6.6", "10.0.0.1"], 1, "10.0.0.1, 203.0.113.7", id="one-hop-2-lines"),
        pytest.param(
            ["6.6.6.6, 10.0.0.1 ,10.0.0.2"], 2, "10.0.0.1, 10.0.0.2, 203.0.113.7", id="two-hops"
        ),
        pytest.param(["10.0.0.1"], 3, "10.0.0.1, 203.0.113.7", id="fewer-hops-than-trusted"),
        pytest.param([" , ,"], 1, "203.0.113.7", id="empty-entries-ignored"),
    ],
)
def test_behind_n_trusted_proxies_exactly_n_right_most_hops_are_kept(
    sent: list[str], trusted_hops: int, expected: str
) -> None:
    headers = incoming(*(("X-Forwarded-For", value) for value in sent))
    assert forwarded_for(headers, PEER.address, trusted_hops) == expected
    out = forward(*(("X-Forwarded-For", value) for value in sent), trusted_hops=trusted_hops)
    assert out.getall("X-Forwarded-For") == [expected]


SPOOFED_FORWARDING = [
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-SSL", "on"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Forwarded-Scheme", "https"),
    ("Forwarded", "for=6.6.6.6;proto=https;host=evil.example"),
    ("X-Real-IP", "6.6.6.6"),
    ("X-Url-Scheme", "https"),
    ("Front-End-Https", "on"),
]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(spelled, value, id=spelled)
        for name, value in SPOOFED_FORWARDING
        for spelled in spellings(name)
    ],
)
def test_a_client_forwarding_header_is_overwritten_or_removed(name: str, value: str) -> None:
    out = forward(("Host", "shop.example"), (name, value))
    assert value not in out.values()
    assert out.getall("X-Forwarded-Proto") == ["http"]
    assert out.getall("X-Forwarded-Host") == ["shop.example"]


def test_without_a_host_header_no_x_forwarded_host_is_invented() -> None:
    out = upstream_request_headers(
        incoming(("X-Forwarded-Host", "evil.example")),
        peer=Peer("203.0.113.7", "https", None),
        request_id="rid-1",
        traceparent=TRACE,
    )
    assert "x-forwarded-host" not in names(out)
    assert out["X-Forwarded-Proto"] == "https"


# -- H5, H6: names WSGI would turn into environ keys; method overrides -----------------------


@pytest.mark.parametrize(
    "name", ["SCRIPT_NAME", "PATH_INFO", "X_Forwarded_For", "remote_user", "X-Auth_User", "_"]
)
def test_a_header_name_with_an_underscore_is_dropped(name: str) -> None:
    out = forward(("Host", "shop.example"), (name, "/orders"))
    assert all("_" not in header for header in out)


@pytest.mark.parametrize(
    "name",
    [
        *spellings("X-HTTP-Method-Override"),
        *spellings("X-HTTP-Method"),
        *spellings("X-Method-Override"),
    ],
)
def test_a_method_override_header_is_stripped(name: str) -> None:
    assert name.lower() not in names(forward((name, "DELETE")))


# -- H7: nothing added to a bodiless request ------------------------------------------------


def test_a_bodiless_get_carries_only_the_clients_end_to_end_headers_and_the_facades_own() -> None:
    out = forward(("Host", "shop.example"), ("Accept-Language", "fr"), ("Cookie", "a=1"))
    assert names(out) == [
        "host",
        "accept-language",
        "cookie",
        *(name.lower() for name in FACADE_OWN),
        "x-request-id",
    ]
    for added in ("accept", "user-agent", "content-type", "content-length", "accept-encoding"):
        assert added not in names(out)


@pytest.mark.parametrize("name", [*spellings("traceparent"), *spellings("X-Request-Id")])
def test_the_facades_own_trace_headers_appear_once_with_the_facades_values(name: str) -> None:
    out = forward((name, "forged"))
    assert out.getall("traceparent") == [TRACE]
    assert out.getall("X-Request-Id") == ["rid-1"]


def test_a_valid_incoming_traceparent_and_request_id_are_kept() -> None:
    headers = incoming(("traceparent", TRACE), ("X-Request-Id", "abc-123"))
    assert traceparent_from(headers) == TRACE
    assert request_id_from(headers) == "abc-123"


@pytest.mark.parametrize(
    ("traceparent", "request_id"),
    [
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", "a b"),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "x" * 129),
        ("garbage", "line\r\nbreak"),
    ],
)
def test_a_malformed_incoming_traceparent_or_request_id_is_replaced(
    traceparent: str, request_id: str
) -> None:
    headers = incoming(("traceparent", traceparent), ("X-Request-Id", request_id))
    assert traceparent_from(headers) != traceparent
    assert request_id_from(headers) != request_id


# -- framing: never copied, in any letter case -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        *((spelled, "chunked") for spelled in spellings("Transfer-Encoding")),
        *((spelled, "5") for spelled in spellings("Content-Length")),
        *((spelled, "100-continue") for spelled in spellings("Expect")),
    ],
)
def test_the_clients_framing_headers_are_never_copied_upstream(name: str, value: str) -> None:
    assert name.lower() not in names(forward((name, value)))


def test_check_c_parser_accepts_aiohttps_c_parser() -> None:
    check_c_parser()


def test_check_c_parser_refuses_the_pure_python_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        aiohttp.http_parser, "HttpRequestParser", aiohttp.http_parser.HttpRequestParserPy
    )
    with pytest.raises(ParserError, match="pure-Python"):
        check_c_parser()


# -- H8: duplicate Host -----------------------------------------------------------------------


async def test_duplicate_host_is_rejected_by_the_route_stage(tmp_path: Path) -> None:
    # llhttp already refuses it on the wire; the stage is the second line of defence
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    request = make_mocked_request(
        "GET", "/orders/1", headers=CIMultiDict([("Host", "a.example"), ("Host", "b.example")])
    )
    config = config_module.load(routes)
    exchange = Exchange(request, FacadeState(LiveConfig(config)), config, "rid-1", TRACE)
    with pytest.raises(RequestRejected, match="Host"):
        await route.stage(exchange)


# -- responses --------------------------------------------------------------------------------


def test_an_upstreams_hop_by_hop_response_headers_never_reach_the_client() -> None:
    upstream = incoming(
        ("CONNECTION", "X-Upstream-Secret"),
        ("x-upstream-secret", "leak"),
        ("keep-alive", "timeout=5"),
        ("Proxy-Authenticate", "Basic"),
        ("transfer-encoding", "chunked"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Kept", "yes"),
    )
    out = downstream_response_headers(upstream)
    assert list(out.items()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Kept", "yes")]


# -- property ---------------------------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "Host", "Accept", "Connection", "connection", "Keep-Alive", "KEEP-ALIVE", "TE", "te",
        "Trailer", "Transfer-Encoding", "transfer-encoding", "Content-Length", "Upgrade",
        "Proxy-Authorization", "proxy-connection", "Expect", "X-Forwarded-For",
        "x-forwarded-proto", "Forwarded", "X-Real-IP", "SCRIPT_NAME", "X_Y", "X-A", "x-a",
        "X-B", "traceparent", "X-Request-ID", "X-HTTP-Method-Override", "Cookie",
    ]
)  # fmt: skip
_VALUES = st.sampled_from(["", "close", "X-A", "x-b, te", "trailers", "chunked", "1.2.3.4", "v"])
HEADER_LISTS = st.lists(st.tuples(_NAMES, _VALUES), max_size=12)
NEVER_FORWARDED = {
    "connection", "keep-alive", "trailer", "transfer-encoding", "content-length", "upgrade",
    "proxy-authorization", "proxy-connection", "expect", "forwarded", "x-real-ip",
    "x-http-method-override",
}  # fmt: skip


@given(HEADER_LISTS, st.integers(min_value=0, max_value=3))
def test_no_header_list_gets_a_hop_by_hop_framing_or_spoofable_header_upstream(
    pairs: list[tuple[str, str]], trusted_hops: int
) -> None:
    sent = incoming(*pairs)
    out = forward(*pairs, trusted_hops=trusted_hops)
    listed = {
        token.strip().lower()
        for value in sent.getall("Connection", ())
        for token in value.split(",")
        if token.strip()
    }
    for name, value in out.items():
        lower = name.lower()
        assert lower not in NEVER_FORWARDED
        assert "_" not in name
        assert lower not in listed or lower in {n.lower() for n in FACADE_OWN} | {"x-request-id"}
        if lower == "te":
            assert value == "trailers"
    for own in [*FACADE_OWN, "X-Request-Id"]:
        assert len(out.getall(own)) == 1
    assert out["traceparent"] == TRACE


# -- behind trusted proxies: scheme and host come from the proxy -----------------------------


def test_behind_a_trusted_proxy_the_original_scheme_and_host_are_kept() -> None:
    out = forward(
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example.com"),
        trusted_hops=1,
    )
    assert out["X-Forwarded-Proto"] == "https"
    assert out["X-Forwarded-Host"] == "shop.example.com"


@pytest.mark.parametrize("told", ["evil.example/x", "a,b;c", "(evil)", "user@evil.example"])
def test_behind_a_trusted_proxy_an_invalid_forwarded_host_gives_way_to_the_host(
    told: str,
) -> None:
    out = forward(("X-Forwarded-Host", told), trusted_hops=1)
    assert out["X-Forwarded-Host"] == PEER.host


def test_behind_a_trusted_proxy_only_the_right_most_scheme_counts() -> None:
    out = forward(("X-Forwarded-Proto", "https, http"), trusted_hops=1)
    assert out["X-Forwarded-Proto"] == "http"


def test_a_scheme_that_is_neither_http_nor_https_is_ignored() -> None:
    out = forward(("X-Forwarded-Proto", "gopher"), trusted_hops=1)
    assert out["X-Forwarded-Proto"] == PEER.scheme
