"""``serve --upstream-client lean`` (the default) and ``aiohttp``: the same answers to clients,
the same requests at the upstream. Two real facades before one echo upstream."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes

FIXED = {"X-Request-Id": "req-1", "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
VOLATILE = {"date", "server"}
CURL = ("--upstream-client", "curl")


@pytest.fixture(scope="module")
def fronts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    state = tmp_path_factory.mktemp("clients")
    upstream = processes.echo_upstream("legacy", log_dir=state)
    routes = processes.write_routes(
        state / "routes.yaml", upstream.url, "limits:\n  max_body: 10MB\n"
    )
    lean = processes.facade(routes, log_dir=state, extra=["--upstream-client", "lean"])
    aio = processes.facade(routes, log_dir=state, extra=["--upstream-client", "aiohttp"])
    yield {"lean": lean.port, "aiohttp": aio.port}
    assert lean.stop() == 0, lean.log()
    assert aio.stop() == 0, aio.log()
    upstream.stop()


def call(
    port: int, method: str, path: str, body: bytes | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers={"Host": "shop.example", **FIXED})
        response = conn.getresponse()
        headers = sorted((k.lower(), v) for k, v in response.getheaders())
        return response.status, [h for h in headers if h[0] not in VOLATILE], response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "size"),
    [
        ("GET", "/a/b?c=1&d", 0),
        ("HEAD", "/a", 0),
        ("POST", "/orders", 1000),
        ("PUT", "/big", 3 * 1024 * 1024),  # spooled to a file, streamed to the upstream
        ("DELETE", "/x", 0),
        ("GET", "/_chunked?size=300000", 0),
        ("GET", "/_empty/204", 0),
        ("GET", "/_empty/304", 0),
        ("GET", "/_redirect", 0),
        ("GET", "/_hop", 0),
        ("GET", "/_cookies", 0),
        ("GET", "/_gzip", 0),
        ("GET", "/_status/503", 0),
    ],
)
def test_both_clients_answer_alike(
    fronts: dict[str, int], method: str, path: str, size: int
) -> None:
    body = bytes(range(256)) * (size // 256) if size else None
    lean = call(fronts["lean"], method, path, body)
    aio = call(fronts["aiohttp"], method, path, body)
    assert lean[0] == aio[0]
    assert lean[1] == aio[1]
    if method != "HEAD" and dict(lean[1]).get("x-echo-server"):
        # what the upstream received: the same headers (in any order), the same body
        seen_lean, seen_aio = json.loads(lean[2]), json.loads(aio[2])
        seen_lean["headers"].sort()
        seen_aio["headers"].sort()
        assert seen_lean == seen_aio
    else:
        assert lean[2] == aio[2]


def test_a_reset_mid_answer_cuts_the_client_off_with_both(fronts: dict[str, int]) -> None:
    for port in fronts.values():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("GET", "/_reset", headers={"Host": "shop.example"})
            response = conn.getresponse()
            assert response.status == 200
            with pytest.raises(http.client.IncompleteRead):
                response.read()
        finally:
            conn.close()


def test_serve_refuses_an_unknown_client(tmp_path: Path) -> None:
    routes = processes.write_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9")
    done = subprocess.run(
        [str(processes.BIN / "strangler"), "serve", "--routes", str(routes), *CURL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "neither lean nor aiohttp" in done.stderr
