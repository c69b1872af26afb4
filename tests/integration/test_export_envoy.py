"""`strangler export envoy`: the bootstrap passes `envoy --mode validate` and, run from the
wheel, routes each mode as the Python engine does; a canary puts every key on the same side."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from facade.config.bucket import in_share
from tests.support import processes, proxies
from tests.support.canary_keys import KEYS, PERCENTS, off_side, served_by, sides
from tests.support.export_routes import every_mode
from tests.support.probe import seen, wait_until


def routes_for(legacy: str, service: str, dead: str) -> str:
    canaries = "".join(
        f"""
  canary-{p}:
    match: [{{methods: [GET], path: "/c{p}/{{x}}"}}]
    service: svc
    mode: canary
    canary: {{percent: {p}, sticky: "header:X-Customer-Id"}}"""
        for p in PERCENTS
    )
    return f"""\
version: 1
legacy: {{url: "{legacy}"}}
services:
  svc: {{url: "{service}"}}
  gone: {{url: "{dead}", connect_timeout: 1s}}
capabilities:{canaries}
  moved:
    match: [{{path: /moved}}, {{methods: [POST], path: "/moved/{{id}}"}}]
    service: gone
    mode: extracted
    max_body: 1KB
  by-cookie:
    match: [{{methods: [GET], path: /by-cookie}}]
    service: svc
    mode: canary
    canary: {{percent: 50, sticky: "cookie:sid"}}
  by-address:
    match: [{{methods: [GET], path: /by-address}}]
    service: svc
    mode: canary
    canary: {{percent: 50, sticky: client_ip}}
  flaky:
    match: [{{methods: [GET], path: "/_status/{{code}}"}}]
    service: svc
    mode: extracted
  shadowed:
    match: [{{path: "/shadowed/{{id}}"}}]
    service: svc
    mode: shadow
    shadow: {{percent: 100}}
  punctuated:
    match: [{{path: "/api/v1.0/order-items/{{id}}/user_profile/~x/caf%C3%A9"}}]
    service: svc
    mode: extracted
  translated:
    match: [{{path: /translated}}]
    service: svc
    translator: catalog.products
    mode: extracted
"""


def export(routes: Path, directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return proxies.export("envoy", routes, directory, *extra)


def validate(envoy: str, path: Path) -> None:
    done = proxies.check([envoy, "--mode", "validate", "-c", str(path), "-l", "warning"])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    envoy = proxies.envoy_binary()
    logs = tmp_path_factory.mktemp("envoy-logs")
    started = []
    try:
        for name in ("legacy", "svc", "compare", "facade"):
            started.append(processes.echo_upstream(name, log_dir=logs))
        legacy, svc, compare, facade = started
        work = tmp_path_factory.mktemp("envoy-export")
        routes = work / "routes.yaml"
        dead = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens there
        routes.write_text(routes_for(legacy.url, svc.url, dead))
        port, admin = processes.free_port(), processes.free_port()
        done = export(
            routes,
            work / "out",
            f"--listen=127.0.0.1:{port}",
            f"--admin-port={admin}",
            f"--facade-url={facade.url}",
            f"--compare-url={compare.url}",
        )
        assert done.returncode == 0, done.stderr
        config = work / "out" / "envoy.yaml"
        argv = [
            envoy,
            "-c",
            str(config),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "-l",
            "warning",
        ]
        proxy = proxies.start("envoy", argv, port=port, log_dir=logs)
        yield {
            "proxy": proxy,
            "legacy": legacy,
            "svc": svc,
            "compare": compare,
            "facade": facade,
            "config": config,
            "envoy": envoy,
        }
        proxy.stop()
    finally:
        for running in started:
            running.stop()


def test_the_repos_routes_yaml_and_every_mode_validate(tmp_path: Path) -> None:
    envoy = proxies.envoy_binary()
    repo = export(processes.ROOT / "routes.yaml", tmp_path / "repo")
    assert repo.returncode == 0, repo.stderr
    validate(envoy, tmp_path / "repo" / "envoy.yaml")
    every_mode(tmp_path)
    done = export(
        tmp_path / "routes.yaml",
        tmp_path / "modes",
        "--facade-url=http://127.0.0.1:9000",
        "--compare-url=http://127.0.0.1:9001",
    )
    assert done.returncode == 0, done.stderr
    validate(envoy, tmp_path / "modes" / "envoy.yaml")


@pytest.mark.parametrize("percent", PERCENTS)
async def test_every_key_lands_on_the_side_the_python_engine_picks(
    stack: dict[str, object], percent: int
) -> None:
    proxy = proxies.of(stack)
    found = await sides(proxy.url, percent)
    differ = off_side(found, f"canary-{percent}", percent)
    assert differ == [], f"{len(differ)} keys on the other side, e.g. {differ[:5]}"
    share = sum(side == "svc" for side in found.values()) / len(KEYS) * 100
    assert abs(share - percent) < 5


async def test_a_cookie_or_the_address_is_the_key_as_in_the_python_engine(
    stack: dict[str, object],
) -> None:
    proxy = proxies.of(stack)
    expected_side = {True: "svc", False: "legacy"}
    async with aiohttp.ClientSession() as session:
        for key in KEYS[:200]:
            cookie = f"theme=dark; sid={key}; other=1"
            side = await served_by(session, f"{proxy.url}/by-cookie", Cookie=cookie)
            assert side == expected_side[in_share("by-cookie", key, 50)], key
        # no key at all: the client's own address, here 127.0.0.1
        address = await served_by(session, f"{proxy.url}/by-address")
        assert address == expected_side[in_share("by-address", "127.0.0.1", 50)]
        missing = await served_by(session, f"{proxy.url}/c50/item")
        assert missing == expected_side[in_share("canary-50", "127.0.0.1", 50)]


async def test_a_client_cannot_choose_its_side(stack: dict[str, object]) -> None:
    proxy = proxies.of(stack)
    key = next(k for k in KEYS if not in_share("canary-10", k, 10))
    async with aiohttp.ClientSession() as session:
        forged = {"X-Customer-Id": key, "X-Strangler-Side": "service"}
        assert await served_by(session, f"{proxy.url}/c10/item", **forged) == "legacy"


async def test_an_unreachable_service_falls_back_to_the_monolith_for_reads_only(
    stack: dict[str, object],
) -> None:
    proxy = proxies.of(stack)
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{proxy.url}/moved") == "legacy"
        # extracted: a write belongs to the service, never moved to the monolith
        async with session.post(f"{proxy.url}/moved/1", data=b"{}") as answer:
            assert answer.status == 503


async def test_a_5xx_from_the_service_is_answered_by_the_monolith(
    stack: dict[str, object],
) -> None:
    proxy, legacy, svc = stack["proxy"], stack["legacy"], stack["svc"]
    assert isinstance(proxy, proxies.Proxy)
    assert isinstance(legacy, processes.Running)
    assert isinstance(svc, processes.Running)
    before = seen(legacy), seen(svc)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{proxy.url}/_status/502") as answer,
    ):
        await answer.read()
    # the echo upstreams answer /_status/N with N: the service once, then the monolith
    assert (seen(legacy), seen(svc)) == (before[0] + 1, before[1] + 1)


async def test_shadow_answers_from_the_monolith_and_mirrors_to_the_compare_service(
    stack: dict[str, object],
) -> None:
    proxy, compare = stack["proxy"], stack["compare"]
    assert isinstance(proxy, proxies.Proxy)
    assert isinstance(compare, processes.Running)
    before = seen(compare)
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{proxy.url}/shadowed/7") == "legacy"
    wait_until(lambda: seen(compare) == before + 1, "the mirror reaches the compare service")
    last = json.loads(
        processes.raw_http(compare.port, b"GET /_seen HTTP/1.0\r\n\r\n").split(b"\r\n\r\n", 1)[1]
    )
    assert last["last_raw_path"] == "/shadowed/7"


async def test_a_translated_capability_is_served_by_the_python_facade(
    stack: dict[str, object],
) -> None:
    proxy = proxies.of(stack)
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{proxy.url}/translated") == "facade"


@pytest.mark.parametrize(
    ("request_line", "headers", "status"),
    [
        ("GET /moved%2F1 HTTP/1.1", "", 400),  # an encoded slash is ambiguous (P5)
        ("GET /moved%5C..%5Cadmin HTTP/1.1", "", 400),  # P6
        ("GET /moved%00 HTTP/1.1", "", 400),  # P13
        ("GET /moved%0d%0a HTTP/1.1", "", 400),  # P13
        # H5: the header dropped, the request served (test_security_boundary checks the drop)
        ("GET /elsewhere HTTP/1.1", "SCRIPT_NAME: /moved\r\n", 200),
        ("POST /moved/1 HTTP/1.1", "Content-Length: 2000\r\n", 413),  # over max_body: 1KB
    ],
)
def test_the_security_cases_hold(
    stack: dict[str, object], request_line: str, headers: str, status: int
) -> None:
    proxy = proxies.of(stack)
    body = b"x" * 2000 if "Content-Length" in headers else b""
    raw = (
        f"{request_line}\r\nHost: shop.example\r\n{headers}Connection: close\r\n\r\n".encode()
        + body
    )
    answer = processes.raw_http(proxy.port, raw)
    assert answer.split(b" ", 2)[1] == str(status).encode(), answer[:300]


@pytest.mark.parametrize(
    "target",
    [
        "/elsewhere/../translated",  # P1
        "/elsewhere/%2e%2e/translated",  # P2
        "/../../translated",  # P3: above the root, resolved (the facade answers 400)
        "//translated",  # P4
        "/x/..;/translated",  # P7: resolved like ..
        "/%74ranslated",  # P11: an unreserved character, decoded
    ],
)
def test_the_path_routed_on_is_the_path_forwarded(stack: dict[str, object], target: str) -> None:
    proxy = proxies.of(stack)
    raw = f"GET {target} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"
    answer = processes.raw_http(proxy.port, raw.encode())
    report = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert report["server"] == "facade"
    assert report["raw_path"] == "/translated"
    assert ["Host", "shop.example"] in report["headers"]  # Host preserved


def test_only_end_to_end_headers_and_the_proxys_own_reach_the_upstream(
    stack: dict[str, object],
) -> None:
    proxy = proxies.of(stack)
    sent = (
        "Connection: close, X-Internal-Auth\r\nX-Internal-Auth: forged\r\n"  # H1
        "Keep-Alive: 5\r\nTE: gzip\r\nTrailer: X\r\nProxy-Connection: keep-alive\r\n"  # H2
        "Proxy-Authorization: Basic eA==\r\n"
        "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n"  # H3, H4
        "X-Forwarded-SSL: on\r\nForwarded: for=6.6.6.6\r\n"
        "X-HTTP-Method-Override: DELETE\r\n"  # H6
        "X-Strangler-Shadow: 1\r\n"  # S4
        "X-Kept: yes\r\n"
    )
    raw = f"GET /translated HTTP/1.1\r\nHost: shop.example\r\n{sent}\r\n".encode()
    report = json.loads(processes.raw_http(proxy.port, raw).split(b"\r\n\r\n", 1)[1])
    seen_headers = {name.lower(): value for name, value in report["headers"]}
    assert seen_headers["x-kept"] == "yes"
    assert seen_headers["x-forwarded-host"] == "shop.example"
    assert "6.6.6.6" not in seen_headers["x-forwarded-for"]
    for name in (
        "connection", "x-internal-auth", "keep-alive", "te", "trailer", "proxy-connection",
        "proxy-authorization", "x-forwarded-ssl", "forwarded", "x-http-method-override",
        "x-strangler-shadow", "x-envoy-external-address", "x-envoy-expected-rq-timeout-ms",
    ):  # fmt: skip
        assert name not in seen_headers, name


async def test_a_template_with_punctuation_routes_as_the_facade(stack: dict[str, object]) -> None:
    proxy = proxies.of(stack)
    path = "/api/v1.0/order-items/7/user_profile/~x/caf%C3%A9"
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{proxy.url}{path}") == "svc"
        # the dot is a dot, not any character
        assert await served_by(session, f"{proxy.url}{path.replace('v1.0', 'v1x0')}") == "legacy"


async def test_repeated_keys_pick_the_side_the_python_engine_picks(
    stack: dict[str, object],
) -> None:
    proxy = proxies.of(stack)
    side = {True: "svc", False: "legacy"}
    # a pair whose first and last key land on different sides
    first, last = next(
        (a, b)
        for a, b in itertools.pairwise(KEYS)
        if in_share("by-cookie", a, 50) != in_share("by-cookie", b, 50)
        and in_share("canary-50", a, 50) != in_share("canary-50", b, 50)
    )
    async with aiohttp.ClientSession() as session:
        # repeated headers: the first, as request.headers.get (Envoy's get() would join them)
        headers = CIMultiDict([("X-Customer-Id", first), ("X-Customer-Id", last)])
        async with session.get(f"{proxy.url}/c50/item", headers=headers) as answer:
            found = (await answer.json())["server"]
        assert found == side[in_share("canary-50", first, 50)]
        # repeated cookies: the last, as aiohttp's request.cookies
        cookie = f"sid={first}; theme=dark; sid={last}"
        found = await served_by(session, f"{proxy.url}/by-cookie", Cookie=cookie)
        assert found == side[in_share("by-cookie", last, 50)]
