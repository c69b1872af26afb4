"""The edge tells nothing it should not (issue 12, item 8; SECURITY.md S4 and R1).

A running facade (`strangler serve --host 0.0.0.0`, under both engines:
tests/support/engines.py) in front of two header-recording upstreams
(tests/support/header_recorder.py): ``legacy`` and the service ``svc``, which keep every
request's headers, the shadow candidate's included. R1 needs a client that is not on loopback:
the tests connect to the machine's own non-loopback address (``hostname -I``), and skip when
there is none.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import engines, processes
from tests.support.probe import assert_problem, wait_until
from tests.support.processes import Running

pytestmark = pytest.mark.integration

TOKEN = "edge-admin-token-" + "7" * 16
PROBLEM = "application/problem+json"
ROUTES = """\
version: 1
legacy:
  url: {legacy}
  timeout: 5s
services:
  svc:
    url: {svc}
    timeout: 5s
capabilities:
  kept:
    match: [{{path: "/kept/{{id}}"}}]
    service: svc
    mode: legacy
  shadowed:
    match: [{{path: "/shadowed/{{id}}"}}]
    service: svc
    mode: shadow
    shadow: {{percent: 100}}
  extracted:
    match: [{{path: "/extracted/{{id}}"}}]
    service: svc
    mode: extracted
store: {{url: "sqlite:///store.db"}}
{extra}"""
FORGED = [
    ("X-Strangler-Shadow", "0"),
    ("x-strangler-replay", "forged-run"),
    ("X-STRANGLER-ROUTE", "kept;extracted;svc"),
    ("X-Strangler-Seam", "pricing"),
]


# -- the stack ------------------------------------------------------------------------------


def recorder(name: str, *, log_dir: Path) -> Running:
    port = processes.free_port()
    argv = [sys.executable, "-m", "tests.support.header_recorder", "--port", str(port)]
    return processes.start(
        name, [*argv, "--name", name], port=port, log_dir=log_dir, ready_path="/_requests"
    )


def start_facade(
    engine: str, routes: Path, *, log_dir: Path, env: dict[str, str] | None = None
) -> Running:
    """A facade on every address (0.0.0.0), so a non-loopback client can reach it."""
    return engines.serve(
        engine,
        routes,
        log_dir=log_dir,
        extra=("--host", "0.0.0.0"),  # a non-loopback peer must reach it
        env=env,
    )


@dataclass(frozen=True)
class Stack:
    facade: Running
    legacy: Running
    svc: Running
    admin_port: int
    routes: Path
    engine: str


@pytest.fixture(scope="module", params=engines.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return engines.chosen(request)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("edge")
    legacy = recorder("legacy", log_dir=tmp)
    svc = recorder("svc", log_dir=tmp)
    admin_port = processes.free_port()
    routes = tmp / "routes.yaml"
    extra = f'admin: {{listen: "127.0.0.1:{admin_port}", token_env: EDGE_TEST_TOKEN}}\n'
    routes.write_text(ROUTES.format(legacy=legacy.url, svc=svc.url, extra=extra))
    try:
        facade = start_facade(engine, routes, log_dir=tmp, env={"EDGE_TEST_TOKEN": TOKEN})
    except BaseException:
        svc.stop()
        legacy.stop()
        raise
    wait_until(lambda: status_of(facade.port, "/readyz") == 200, "the facade never got ready")
    yield Stack(facade, legacy, svc, admin_port, routes, engine)
    facade.stop()
    svc.stop()
    legacy.stop()


@pytest.fixture(scope="module")
def outside_address() -> str:
    """This machine's first non-loopback IPv4 address; the R1 tests skip without one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for candidate in out.split():
        if "." in candidate and not candidate.startswith("127."):
            return candidate
    pytest.skip("no non-loopback IPv4 address on this machine: cannot be a remote client")


# -- the wire -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json(self) -> dict[str, object]:
        body: dict[str, object] = json.loads(self.body)
        return body


def exchange(port: int, data: bytes, *, address: str = "127.0.0.1", head: bool = False) -> Reply:
    """Send raw bytes (ending with ``Connection: close`` or HTTP/1.0) and parse the answer."""
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    header, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete answer in {raw[:300]!r}"
    status_line, *lines = header.decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return Reply(int(status_line.split(" ", 2)[1]), headers, b"" if head else body)


def request(
    target: str,
    *headers: str,
    method: str = "GET",
    host: str | None = "shop.example",
    version: str = "1.1",
) -> bytes:
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines.extend(headers)
    if version == "1.1":
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(port: int, path: str) -> int:
    return exchange(port, request(path)).status


def recorded(upstream: Running) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{upstream.url}/_requests", timeout=5) as answer:
        requests: list[dict[str, object]] = json.load(answer)
        return requests


def headers_of(upstream: Running, request_id: str) -> list[tuple[str, str]] | None:
    """The headers of the request carrying ``X-Request-Id: request_id``, if it arrived."""
    for seen in recorded(upstream):
        pairs = [(str(k), str(v)) for k, v in seen["headers"]]  # type: ignore[attr-defined]
        if ("x-request-id", request_id) in [(k.lower(), v) for k, v in pairs]:
            return pairs
    return None


def total_requests(stack: Stack) -> int:
    return len(recorded(stack.legacy)) + len(recorded(stack.svc))


# -- S4: X-Strangler-* from a client is dropped at the edge ---------------------------------


def strangler_headers(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.lower().startswith("x-strangler-")]


@pytest.mark.parametrize(
    ("target", "upstream"),
    [
        pytest.param("/anything/1", "legacy", id="no-capability"),
        pytest.param("/kept/1", "legacy", id="legacy-mode"),
        pytest.param("/extracted/1", "svc", id="extracted-mode"),
        pytest.param("/shadowed/1", "legacy", id="shadow-mode-monolith"),
    ],
)
def test_s4_forged_strangler_headers_never_reach_the_upstream_that_serves(
    stack: Stack, target: str, upstream: str
) -> None:
    rid = uuid.uuid4().hex
    forged = [f"{name}: {value}" for name, value in FORGED]
    reply = exchange(stack.facade.port, request(target, f"X-Request-Id: {rid}", *forged))
    assert reply.status == 200, reply.body[:300]
    seen = headers_of(stack.legacy if upstream == "legacy" else stack.svc, rid)
    assert seen is not None, f"{upstream} never got the request"
    assert strangler_headers(seen) == []


def test_s4_the_shadow_candidate_sees_only_the_facades_own_shadow_marker(stack: Stack) -> None:
    rid = uuid.uuid4().hex
    forged = [f"{name}: {value}" for name, value in FORGED]
    reply = exchange(stack.facade.port, request("/shadowed/2", f"X-Request-Id: {rid}", *forged))
    assert reply.status == 200
    found: list[list[tuple[str, str]]] = []

    def candidate_called() -> bool:
        seen = headers_of(stack.svc, rid)
        if seen is not None:
            found.append(seen)
        return seen is not None

    wait_until(candidate_called, "the shadow candidate was never called")
    assert strangler_headers(found[0]) == [("X-Strangler-Shadow", "1")]


# -- R1: /readyz tells a remote client its status only ----------------------------------------


def test_r1_readyz_gives_a_remote_client_the_status_only_and_loopback_the_details(
    stack: Stack, outside_address: str
) -> None:
    remote = exchange(stack.facade.port, request("/readyz"), address=outside_address)
    assert remote.status == 200
    assert remote.json() == {"status": "ready"}
    for secret in (str(stack.legacy.port), str(stack.routes), "127.0.0.1"):
        assert secret.encode() not in remote.body
    local = exchange(stack.facade.port, request("/readyz")).json()
    assert local["status"] == "ready"
    assert local["config"]["path"] == str(stack.routes.resolve())  # type: ignore[index]
    assert local["legacy"]["reachable"] is True  # type: ignore[index]


def test_r1_readyz_gives_a_remote_client_the_details_with_the_admin_token(
    stack: Stack, outside_address: str
) -> None:
    port = stack.facade.port
    forged = request("/readyz", "Authorization: Bearer not-the-token", "X-Forwarded-For: 127.0.0.1")
    assert exchange(port, forged, address=outside_address).json() == {"status": "ready"}
    with_token = request("/readyz", f"Authorization: Bearer {TOKEN}")
    details = exchange(port, with_token, address=outside_address).json()
    assert details["config"]["path"] == str(stack.routes.resolve())  # type: ignore[index]


def test_r1_a_not_ready_facade_tells_a_remote_client_no_address_path_or_reload_error(
    tmp_path: Path, outside_address: str, engine: str
) -> None:
    dead = processes.free_port()  # nothing listens there: the monolith is down
    routes = processes.write_routes(tmp_path / "routes.yaml", f"http://127.0.0.1:{dead}")
    facade = start_facade(engine, routes, log_dir=tmp_path)
    try:
        routes.write_text("version: 1\nlegacy: {url: 'not a url'}\n")  # a rejected reload

        def reload_rejected() -> bool:
            body = exchange(facade.port, request("/readyz")).json()
            return body["config"]["last_reload_error"] is not None  # type: ignore[index]

        wait_until(reload_rejected, "the broken routes.yaml was never reported")
        remote = exchange(facade.port, request("/readyz"), address=outside_address)
        assert remote.status == 503
        assert remote.json() == {"status": "not ready"}
        for secret in (str(dead), "routes.yaml", "not a url", "127.0.0.1"):
            assert secret.encode() not in remote.body
    finally:
        facade.stop()


# -- reserved paths answer GET and HEAD only -----------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/readyz/"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_a_reserved_path_answers_405_with_allow_to_other_methods(
    stack: Stack, path: str, method: str
) -> None:
    before = total_requests(stack)
    reply = exchange(stack.facade.port, request(path, "Content-Length: 0", method=method))
    problem = assert_problem(reply, 405)
    assert reply.header("Allow") == "GET, HEAD"
    assert "GET" in str(problem["detail"])
    head = exchange(stack.facade.port, request(path, method="HEAD"), head=True)
    assert head.status == 200
    assert total_requests(stack) == before  # never proxied


# -- Host: a valid authority or 400; HTTP/1.0 without Host -------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("evil.example/phish?", id="path"),
        pytest.param("user@evil.example", id="userinfo"),
        pytest.param("shop.example:http", id="port-not-digits"),
        pytest.param("shop.example:99999", id="port-too-large"),
        pytest.param("shop.example:80:81", id="two-ports"),
        pytest.param("[::1", id="unclosed-ipv6"),
        pytest.param("[not-v6]:80", id="bad-ipv6"),
        pytest.param("::1", id="unbracketed-ipv6"),
        pytest.param("shop example", id="space"),
        pytest.param('evil.example"><script>', id="markup"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_host_is_answered_400_and_never_reaches_a_location(
    stack: Stack, host: str
) -> None:
    before = total_requests(stack)
    reply = exchange(stack.facade.port, request("/_redirect", host=host))
    problem = assert_problem(reply, 400)
    assert reply.header("Location") is None
    if host:
        assert host.encode() not in reply.body  # the detail never echoes the bytes
    assert "Host" in str(problem["detail"])
    assert total_requests(stack) == before


def test_a_malformed_host_with_expect_100_continue_is_refused_without_inviting_the_body(
    stack: Stack,
) -> None:
    data = request(
        "/_redirect", "Expect: 100-continue", "Content-Length: 5", method="POST", host="a@b"
    )
    with socket.create_connection(("127.0.0.1", stack.facade.port), timeout=10) as sock:
        sock.sendall(data)
        first = sock.recv(65536)  # the answer comes before any body byte is sent
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        if stack.engine == "envoy" and first.startswith(interim):
            # Envoy's connection manager invites the body before any route sees the Host
            # (docs/engines.md); the refusal follows without it
            first = first[len(interim) :] or sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 400 "), first[:100]


def test_http10_without_host_never_leaks_the_monolith_address_in_location(stack: Stack) -> None:
    rid = uuid.uuid4().hex
    data = request("/_redirect", f"X-Request-Id: {rid}", host=None, version="1.0")
    reply = exchange(stack.facade.port, data)
    if stack.engine == "envoy":
        # Envoy refuses HTTP/1.0 (426, docs/engines.md): no Location at all
        assert_problem(reply, 426)
        assert headers_of(stack.legacy, rid) is None
        return
    facade = f"127.0.0.1:{stack.facade.port}"  # the address this client reached
    assert reply.status == 302
    assert reply.header("Location") == f"http://{facade}/landed?from=redirect"
    seen = headers_of(stack.legacy, rid)
    assert seen is not None
    assert [v for k, v in seen if k.lower() == "host"] == [facade]
    assert [v for k, v in seen if k.lower() == "x-forwarded-host"] == [facade]


# -- admin.listen --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_admin_listen_serves_the_reserved_paths(stack: Stack, path: str) -> None:
    engines.python_only(
        stack.engine,
        "admin.listen is the Python facade's second listener; serve --engine envoy answers "
        "the reserved paths through Envoy's port only (docs/engines.md)",
    )
    reply = exchange(stack.admin_port, request(path))
    assert reply.status == 200
    if path == "/readyz":  # a loopback peer: the details
        assert reply.json()["config"]["path"] == str(stack.routes.resolve())  # type: ignore[index]


def test_admin_listen_answers_a_malformed_request_problem_json_without_its_bytes(
    stack: Stack,
) -> None:
    engines.python_only(
        stack.engine,
        "admin.listen is the Python facade's second listener; serve --engine envoy answers "
        "the reserved paths through Envoy's port only (docs/engines.md)",
    )
    secret = "s3cr3t-admin-token"
    reply = exchange(stack.admin_port, f"GET /x HTTP/1.1\r\nBad Header: {secret}\r\n\r\n".encode())
    assert_problem(reply, 400)
    assert secret.encode() not in reply.body  # aiohttp's own page quoted the bytes


def test_admin_listen_has_a_connection_cap_of_its_own(stack: Stack) -> None:
    engines.python_only(
        stack.engine,
        "admin.listen is the Python facade's second listener; serve --engine envoy answers "
        "the reserved paths through Envoy's port only (docs/engines.md)",
    )
    held = [socket.create_connection(("127.0.0.1", stack.admin_port)) for _ in range(16)]
    try:
        # over the cap: a probe is still served, anything else gets one 503 and a close
        deadline = time.monotonic() + 10
        while (reply := exchange(stack.admin_port, request("/anything"))).status == 404:
            assert time.monotonic() < deadline, "the 16 held connections were never counted"
        assert_problem(reply, 503)
        assert reply.header("Retry-After") == "1"
        assert exchange(stack.admin_port, request("/healthz")).status == 200
    finally:
        for sock in held:
            sock.close()


def test_admin_listen_proxies_nothing(stack: Stack) -> None:
    engines.python_only(
        stack.engine,
        "admin.listen is the Python facade's second listener; serve --engine envoy answers "
        "the reserved paths through Envoy's port only (docs/engines.md)",
    )
    before = total_requests(stack)
    for target in ("/anything", "/extracted/1", "/_redirect"):
        reply = exchange(stack.admin_port, request(target))
        assert_problem(reply, 404)
    assert_problem(exchange(stack.admin_port, request("/readyz", method="POST")), 405)
    assert total_requests(stack) == before
