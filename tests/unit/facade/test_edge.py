"""What the edge tells and forwards (issue 12 item 8), at the pure-function level.

The integration twin, tests/integration/test_security_edge.py, checks the same against a
running facade: forged ``X-Strangler-*`` headers (S4), ``/readyz`` for remote peers (R1),
405 on reserved paths, Host validity and ``admin.listen``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from facade import config as config_module
from facade.admin import UNKNOWN_PROBES, readiness_response, record_probe
from facade.errors import ConfigError, RequestRejected
from facade.headers import (
    Peer,
    authority_of,
    upstream_request_headers,
    valid_authority,
    without_facade_headers,
)
from facade.stages.route import check_host
from facade.state import FacadeState, LiveConfig

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def forward(*pairs: tuple[str, str], host: str | None = "shop.example") -> CIMultiDict[str]:
    return upstream_request_headers(
        CIMultiDictProxy(CIMultiDict(pairs)),
        peer=Peer("203.0.113.7", "http", host),
        request_id="rid-1",
        traceparent=TRACE,
    )


# -- S4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["X-Strangler-Shadow", "x-strangler-replay", "X-STRANGLER-ROUTE", "X-Strangler-"]
)
def test_s4_a_client_strangler_header_is_never_forwarded(name: str) -> None:
    out = forward((name, "forged"), ("X-Kept", "yes"))
    assert [n for n in out if n.lower().startswith("x-strangler")] == []
    assert out["X-Kept"] == "yes"


def test_s4_a_name_that_only_contains_strangler_is_kept() -> None:
    assert forward(("X-Not-Strangler-Shadow", "1"))["X-Not-Strangler-Shadow"] == "1"


def test_s4_a_translator_sees_no_strangler_header() -> None:
    incoming = CIMultiDictProxy(CIMultiDict([("X-Strangler-Shadow", "0"), ("Accept", "a/b")]))
    assert list(without_facade_headers(incoming).items()) == [("Accept", "a/b")]
    clean = CIMultiDictProxy(CIMultiDict([("Accept", "a/b")]))
    assert without_facade_headers(clean) is clean


# -- Host -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "shop.example",
        "shop.example:8443",
        "Shop.Example",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[2001:db8::7]:443",
        "localhost:0",
        "a-b_c",
        "xn--bcher-kva.example",
        "shop.example:65535",
    ],
)
def test_a_valid_authority_is_accepted(host: str) -> None:
    assert valid_authority(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        ":80",
        "shop.example:",
        "shop.example:65536",
        "shop.example:123456",
        "shop.example:+80",
        "shop.example:８０",  # noqa: RUF001 - full-width digits are not DIGIT
        "shop.example/x",
        "shop.example?x",
        "shop.example#x",
        "user@shop.example",
        "shop example",
        "shop\texample",
        "::1",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[fe80::1%25eth0]",
        "[v1.fe]",
        "[127.0.0.1]",
        "shop.example\\x",
        "%zz.example",
        'shop"example',
        "<shop>",
        "shöp.example",
        # RFC 3986 would take these (sub-delims, '~', %XX); no DNS name or address has them
        "a,b;c",
        "(evil)",
        "a~b",
        "caf%C3%A9.example",
        "shop.example!",
        "a$b&c'd*e+f=g",
    ],
)
def test_an_invalid_authority_is_refused(host: str) -> None:
    assert not valid_authority(host)


def request_with(*hosts: str, version: tuple[int, int] = (1, 1)) -> web.Request:
    return make_mocked_request(
        "GET",
        "/x",
        headers=CIMultiDict([("Host", h) for h in hosts]),
        version=HttpVersion11 if version == (1, 1) else HttpVersion10,
    )


@pytest.mark.parametrize(
    ("hosts", "version", "problem"),
    [
        (("a.example", "b.example"), (1, 1), "more than one"),
        ((), (1, 1), "needs a Host"),
        (("a@b",), (1, 1), "not a valid"),
        (("a@b",), (1, 0), "not a valid"),
        (("",), (1, 0), "not a valid"),
    ],
)
def test_check_host_refuses(hosts: tuple[str, ...], version: tuple[int, int], problem: str) -> None:
    with pytest.raises(RequestRejected, match=problem):
        check_host(request_with(*hosts, version=version))


@pytest.mark.parametrize(("hosts", "version"), [((), (1, 0)), (("a.example:1",), (1, 1))])
def test_check_host_accepts(hosts: tuple[str, ...], version: tuple[int, int]) -> None:
    check_host(request_with(*hosts, version=version))


def test_without_a_client_host_the_facades_authority_is_sent_as_host() -> None:
    out = forward(host="192.0.2.1:8080")
    assert out["Host"] == "192.0.2.1:8080"
    assert out["X-Forwarded-Host"] == "192.0.2.1:8080"


def test_the_clients_host_is_never_replaced() -> None:
    out = forward(("Host", "Shop.Example:8443"), host="Shop.Example:8443")
    assert out.getall("Host") == ["Shop.Example:8443"]


@pytest.mark.parametrize(
    ("sockname", "authority"),
    [
        (("192.0.2.1", 8080), "192.0.2.1:8080"),
        (("::1", 8080, 0, 0), "[::1]:8080"),
        ("/run/strangler.sock", None),
        (None, None),
    ],
)
def test_authority_of_a_socket_address(sockname: object, authority: str | None) -> None:
    assert authority_of(sockname) == authority


# -- R1 ---------------------------------------------------------------------------------------


def state_for(tmp_path: Path) -> FacadeState:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://10.1.2.3:8000'}\n")
    state = FacadeState(LiveConfig(config_module.load(routes)))
    state.live.last_error = "routes.yaml:3: a secret-looking error"
    return state


@pytest.mark.parametrize("ok", [True, False])
def test_r1_readiness_without_details_is_the_status_only(tmp_path: Path, ok: bool) -> None:
    state = state_for(tmp_path)
    state.readiness.legacy_ok, state.readiness.legacy_detail = ok, "10.1.2.3:8000"
    state.readiness.checked_at = time.monotonic()
    response = readiness_response(state, detailed=False)
    assert response.status == (200 if ok else 503)
    assert json.loads(bytes(response.body)) == {"status": "ready" if ok else "not ready"}  # type: ignore[arg-type]


def test_s2_a_lasting_emfile_in_the_probe_ends_in_not_ready_not_the_last_verdict_forever(
    tmp_path: Path,
) -> None:
    state = state_for(tmp_path)
    ready = state.readiness
    record_probe(ready, (True, "GET /health answered 200"), 100.0)
    for second in range(1, UNKNOWN_PROBES):
        record_probe(ready, None, 100.0 + second)  # brief: the last verdict stands
        assert ready.legacy_ok
    record_probe(ready, None, 100.0 + UNKNOWN_PROBES)
    assert not ready.legacy_ok
    assert "cannot tell" in ready.legacy_detail
    record_probe(ready, None, 200.0)
    assert not ready.legacy_ok  # and stays so while it cannot tell
    record_probe(ready, (True, "GET /health answered 200"), 201.0)
    assert ready.legacy_ok
    assert ready.unknown_in_a_row == 0


def test_r1_readiness_with_details_names_the_config_and_the_error(tmp_path: Path) -> None:
    state = state_for(tmp_path)
    response = readiness_response(state, detailed=True)
    body = json.loads(response.text or "")
    assert body["config"]["last_reload_error"] == "routes.yaml:3: a secret-looking error"
    assert body["config"]["path"].endswith("routes.yaml")


# -- admin.listen -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:8090", ("127.0.0.1", 8090)),
        ("[::1]:9", ("::1", 9)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
    ],
)
def test_admin_listen_is_host_and_port(listen: str, address: tuple[str, int]) -> None:
    assert config_module.listen_address(listen) == address


@pytest.mark.parametrize(
    "listen", ["8090", ":8090", "127.0.0.1:", "127.0.0.1:0", "host:65536", "::1:8090", "h:x"]
)
def test_a_bad_admin_listen_is_a_config_error_at_its_line(tmp_path: Path, listen: str) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: 'http://127.0.0.1:9'}}\nadmin:\n  listen: '{listen}'\n"
    )
    with pytest.raises(ConfigError, match=r"routes\.yaml:4: admin\.listen: expected HOST:PORT"):
        config_module.load(routes)


def test_admin_listen_is_off_unless_configured(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n")
    assert config_module.load(routes).routes.admin.listen is None


def test_a_missing_endpoint_inventory_is_shown_on_readyz_and_readiness_holds(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: 'http://10.1.2.3:8000', endpoints: e.json}\n")
    state = FacadeState(LiveConfig(config_module.load(routes)))
    state.readiness.legacy_ok, state.readiness.checked_at = True, time.monotonic()
    response = readiness_response(state, detailed=True)
    assert response.status == 200
    body = json.loads(response.text or "")
    assert body["status"] == "ready"
    assert f"{routes.resolve()}:2: legacy.endpoints: no file" in body["config"]["inventory_problem"]
    assert body["config"]["last_reload_error"] is None
