"""`strangler serve --engine envoy`: Envoy from the wheel as the data plane, compiled from
routes.yaml and supervised with its helpers (a translating Python facade, the compare
service), against real aiohttp stand-ins: each mode routes as specified, a canary puts every
key on the Python engine's side, a dead service falls back, the mirror reaches the compare
service and `strangler report` counts a planted difference, routes.yaml changes are in force
within 2 s and a bad one is refused with its reason."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from tests.support import compare_stack, processes, proxies
from tests.support.canary_keys import PERCENTS, off_side, served_by, sides
from tests.support.probe import get_body, wait_until

STRANGLER = str(processes.BIN / "strangler")


def routes_text(legacy: str, svc: str, dead: str, *, flip: str = "legacy", extra: str = "") -> str:
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
  svc: {{url: "{svc}"}}
  gone: {{url: "{dead}", connect_timeout: 1s}}
capabilities:{canaries}
  moved:
    match: [{{path: /moved}}, {{methods: [POST], path: "/moved/{{id}}"}}]
    service: gone
    mode: extracted
  ext:
    match: [{{path: "/ext/{{id}}"}}]
    service: svc
    mode: extracted
  shadowed:
    match: [{{methods: [GET], path: "/shadowed/{{id}}"}}]
    service: svc
    mode: shadow
    shadow: {{percent: 100}}
  sampled:
    match: [{{methods: [GET], path: "/sampled/{{id}}"}}]
    service: svc
    mode: shadow
  translated:
    match: [{{methods: [GET], path: /api/products}}]
    service: svc
    translator: catalog.products
    mode: shadow
  flip:
    match: [{{path: "/flip/{{id}}"}}]
    service: svc
    mode: {flip}{extra}
"""


def serve(routes: Path, log_dir: Path, *extra: str) -> processes.Running:
    port = processes.free_port()
    return processes.start(
        f"engine-{port}",
        [
            STRANGLER,
            "serve",
            "--engine",
            "envoy",
            "--routes",
            str(routes),
            "--port",
            str(port),
            *extra,
        ],
        port=port,
        log_dir=log_dir,
        ready_path="/healthz",
        timeout=90,
    )


def readyz(url: str) -> dict[str, object]:
    """The detailed /readyz (a loopback client); empty while nothing answers (Envoy down)."""
    try:
        body: dict[str, object] = json.loads(get_body(url + "/readyz"))
    except (OSError, ValueError):
        return {}
    return body


def in_force(url: str, routes: Path) -> bool:
    config = readyz(url).get("config")
    digest = hashlib.sha256(routes.read_bytes()).hexdigest()
    return isinstance(config, dict) and config.get("sha256") == digest


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    envoy = proxies.envoy_binary()
    logs = tmp_path_factory.mktemp("engine-logs")
    work = tmp_path_factory.mktemp("engine")
    started: list[processes.Running] = []
    try:
        legacy = processes.echo_upstream("legacy", log_dir=logs)
        started.append(legacy)
        svc = processes.echo_upstream("svc", log_dir=logs)
        started.append(svc)
        dead = f"http://127.0.0.1:{processes.free_port()}"
        routes = work / "routes.yaml"
        routes.write_text(
            routes_text(legacy.url, svc.url, dead)
            + f"store: {{url: 'sqlite:///{work / 'evidence.db'}'}}\n"
        )
        engine = serve(routes, logs, "--access-log", "json")
        started.append(engine)
        wait_until(lambda: readyz(engine.url).get("status") == "ready", "the engine is ready")
        yield {
            "engine": engine,
            "legacy": legacy,
            "svc": svc,
            "dead": dead,
            "routes": routes,
            "envoy": envoy,
            "work": work,
        }
    finally:
        for running in reversed(started):
            running.stop()


def _of(stack: dict[str, object], name: str) -> processes.Running:
    found = stack[name]
    assert isinstance(found, processes.Running)
    return found


async def test_each_mode_routes_as_specified(stack: dict[str, object]) -> None:
    url = _of(stack, "engine").url
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{url}/elsewhere") == "legacy"
        assert await served_by(session, f"{url}/flip/1") == "legacy"  # mode legacy
        assert await served_by(session, f"{url}/ext/1") == "svc"  # extracted
        assert await served_by(session, f"{url}/shadowed/1") == "legacy"  # shadow


async def test_a_translated_capability_goes_through_the_python_facade(
    stack: dict[str, object],
) -> None:
    # in shadow mode the facade answers from the monolith; only the facade adds a traceparent
    url = _of(stack, "engine").url
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/products") as answer:
        report = await answer.json()
    assert report["server"] == "legacy"
    assert "traceparent" in {name.lower() for name, _ in report["headers"]}
    async with aiohttp.ClientSession() as session, session.get(f"{url}/elsewhere") as answer:
        direct = await answer.json()
    assert "traceparent" not in {name.lower() for name, _ in direct["headers"]}


async def test_an_unreachable_service_falls_back_to_the_monolith(
    stack: dict[str, object],
) -> None:
    url = _of(stack, "engine").url
    async with aiohttp.ClientSession() as session:
        assert await served_by(session, f"{url}/moved") == "legacy"
        async with session.post(f"{url}/moved/1", data=b"{}") as answer:
            assert answer.status == 503  # a write belongs to the service, never replayed


@pytest.mark.parametrize("percent", PERCENTS)
async def test_every_canary_key_lands_on_the_python_engines_side(
    stack: dict[str, object], percent: int
) -> None:
    found = await sides(_of(stack, "engine").url, percent)
    differ = off_side(found, f"canary-{percent}", percent)
    assert differ == [], f"{len(differ)} keys on the other side, e.g. {differ[:5]}"


def test_healthz_readyz_and_metrics_keep_their_meaning(stack: dict[str, object]) -> None:
    engine = _of(stack, "engine")
    assert json.loads(get_body(engine.url + "/healthz")) == {"status": "ok"}
    ready = readyz(engine.url)
    assert ready["status"] == "ready"
    assert ready["engine"] == "envoy"
    config = ready["config"]
    assert isinstance(config, dict)
    assert config["last_reload_error"] is None
    get_body(engine.url + "/ext/9")
    metrics = get_body(engine.url + "/metrics").decode()
    assert (
        'strangler_requests_total{capability="ext",mode="extracted",served_by="svc",status="200"}'
        in metrics
    )
    assert "strangler_request_duration_seconds_bucket" in metrics


def test_each_request_is_logged_as_json_at_once(stack: dict[str, object]) -> None:
    engine = _of(stack, "engine")
    marker = f"/ext/logged-{time.monotonic_ns()}"
    get_body(engine.url + marker)

    def logged() -> list[dict[str, object]]:
        lines = [line for line in engine.log().splitlines() if marker in line]
        return [json.loads(line) for line in lines if line.startswith("{")]

    # Envoy runs with --file-flush-interval-msec 50, not its default 10 s
    wait_until(lambda: len(logged()) == 1, "the request's log line", timeout=3)
    (entry,) = logged()
    assert (entry["capability"], entry["mode"], entry["served_by"], entry["status"]) == (
        "ext",
        "extracted",
        "svc",
        200,
    )


async def test_shadow_mirrors_a_tenth_when_no_percent_is_set(stack: dict[str, object]) -> None:
    engine = _of(stack, "engine")
    helpers = readyz(engine.url)["helpers"]
    assert isinstance(helpers, dict)
    compare = helpers["compare"]

    def mirrored() -> float:
        text = get_body(compare + "/metrics").decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("strangler_compare_mirrored_total{")
        )

    before = mirrored()
    limit = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def one(n: int) -> None:
            async with limit:
                assert await served_by(session, f"{engine.url}/sampled/{n}") == "legacy"

        await asyncio.gather(*(one(n) for n in range(1000)))
    readings = [mirrored()]

    def settled() -> bool:  # the copies are sent as the requests are answered
        readings.append(mirrored())
        return len(readings) > 10 and readings[-1] == readings[-10]

    wait_until(settled, "the mirrored count settles")
    # binomial(1000, 0.1): mean 100, standard deviation 9.5
    assert 60 <= readings[-1] - before <= 140


def test_a_client_cannot_claim_to_be_local(stack: dict[str, object]) -> None:
    # Envoy overwrites the address it passes to the admin server: a forged one is dropped
    engine = _of(stack, "engine")
    raw = (
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Strangler-Client-Address: 203.0.113.9\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = processes.raw_http(engine.port, raw)
    assert b'"engine": "envoy"' in answer  # still the loopback client's detailed answer


@pytest.mark.alone
def test_a_change_is_in_force_within_2_s_and_a_bad_one_is_refused(
    stack: dict[str, object],
) -> None:
    engine, routes = _of(stack, "engine"), stack["routes"]
    assert isinstance(routes, Path)
    good = routes.read_text()
    try:
        routes.write_text(good.replace("    mode: legacy\n", "    mode: extracted\n"))
        started = time.monotonic()
        wait_until(
            lambda: json.loads(get_body(engine.url + "/flip/2"))["server"] == "svc",
            "flip is extracted",
            timeout=2,
        )
        assert time.monotonic() - started < 2
        # an upstream with a path: Envoy forwards to an origin only
        bad = good.replace(stack["dead"] + '"', stack["dead"] + '/api"')  # type: ignore[operator]
        routes.write_text(bad)
        wait_until(
            lambda: "has a path" in str(readyz(engine.url)["config"]), "the refusal", timeout=5
        )
        config = readyz(engine.url)["config"]
        assert isinstance(config, dict)
        assert str(routes) in config["last_reload_error"]
        # the last good configuration stays
        assert json.loads(get_body(engine.url + "/flip/3"))["server"] == "svc"
    finally:
        routes.write_text(good)
        wait_until(lambda: in_force(engine.url, routes), "the original routes are back")


def test_a_routes_yaml_envoy_cannot_express_stops_the_start_with_the_reason(
    tmp_path: Path,
) -> None:
    proxies.envoy_binary()
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        routes_text("http://127.0.0.1:1", "http://127.0.0.1:2/v1", "http://127.0.0.1:3")
    )
    done = subprocess.run(
        [STRANGLER, "serve", "--engine", "envoy", "--routes", str(routes), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "envoy cannot express this routes.yaml" in done.stderr
    assert "has a path" in done.stderr


def test_envoy_refusing_a_compiled_configuration_gives_its_reason(tmp_path: Path) -> None:
    from strangler.engine.children import validate

    envoy = proxies.envoy_binary()
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}})
    )
    reason = asyncio.run(validate(envoy, broken))
    assert reason is not None
    assert "envoy --mode validate refused it" in reason
    assert "NOPE" in reason


def test_the_mirror_reaches_the_compare_service_and_the_report_counts_the_difference(
    tmp_path: Path,
) -> None:
    proxies.envoy_binary()
    monolith = compare_stack.standin("monolith", tmp_path)
    candidate = compare_stack.standin("candidate", tmp_path)
    engine = None
    try:
        routes = compare_stack.write_routes(tmp_path, monolith.url, candidate.url)
        text = routes.read_text().replace(
            "mode: shadow\n", "mode: shadow\n    shadow: {percent: 100}\n", 1
        )
        routes.write_text(text)
        engine = serve(routes, tmp_path)
        for n in range(1, 41):  # the candidate is wrong for every n divisible by 4
            body = json.loads(get_body(f"{engine.url}/api/items/{n}"))
            assert body == {"id": n, "price": n * 10}  # the monolith answered
        wait_until(
            lambda: compare_stack.report(routes)["comparisons"] >= 40,
            "40 comparisons recorded",
            timeout=60,
        )
        found = compare_stack.report(routes)
        assert (found["comparisons"], found["mismatches"]) == (40, 10)
    finally:
        if engine is not None:
            engine.stop()
        candidate.stop()
        monolith.stop()


@pytest.mark.alone
async def test_fifty_changes_under_steady_load_fail_no_request(stack: dict[str, object]) -> None:
    engine, routes = _of(stack, "engine"), stack["routes"]
    assert isinstance(routes, Path)
    good = routes.read_text()
    failures: list[str] = []
    sent = 0
    stop = asyncio.Event()

    async def load(session: aiohttp.ClientSession, path: str) -> None:
        nonlocal sent
        while not stop.is_set():
            try:
                async with session.get(engine.url + path) as answer:
                    await answer.read()
                    if answer.status != 200:
                        failures.append(f"{path}: {answer.status}")
            except aiohttp.ClientError as exc:
                failures.append(f"{path}: {exc!r}")
            sent += 1

    async with aiohttp.ClientSession() as session:
        workers = [
            asyncio.ensure_future(load(session, path))
            for path in ("/flip/1", "/flip/2", "/ext/1", "/c50/x", "/elsewhere", "/flip/3")
        ]
        try:
            for change in range(50):
                if change % 2:
                    text = good.replace("    mode: legacy\n", "    mode: extracted\n")
                else:
                    text = good.replace(
                        "    mode: legacy\n",
                        f"    mode: canary\n    canary: {{percent: {change + 1}}}\n",
                    )
                routes.write_text(text)
                deadline = time.monotonic() + 10
                while not in_force(engine.url, routes):
                    assert time.monotonic() < deadline, f"change {change} not in force"
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.gather(*workers)
            routes.write_text(good)
    wait_until(lambda: in_force(engine.url, routes), "the original routes are back")
    assert sent > 100
    assert failures == [], f"{len(failures)} of {sent} failed: {failures[:5]}"


def test_envoy_is_restarted_and_sigterm_stops_every_child(
    stack: dict[str, object], tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    source = stack["routes"]
    assert isinstance(source, Path)
    routes.write_text(source.read_text())
    engine = serve(routes, tmp_path)
    try:

        def children() -> dict[str, int]:
            found = readyz(engine.url).get("children")
            return found if isinstance(found, dict) else {}

        wait_until(lambda: len(children()) == 3, "envoy, the facade and the compare service")
        first = children()
        os.kill(first["envoy"], signal.SIGKILL)
        wait_until(
            lambda: (
                children().get("envoy") not in (None, first["envoy"])
                and readyz(engine.url)["status"] == "ready"
            ),
            "envoy restarted",
        )
        assert json.loads(get_body(engine.url + "/ext/1"))["server"] == "svc"
        pids = children()
    finally:
        code = engine.stop(signal.SIGTERM)
    assert code == 0, engine.log_tail()
    for name, pid in pids.items():
        wait_until(partial(_gone, pid), f"{name} stopped", timeout=10)


def _gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_no_child_outlives_a_killed_supervisor(stack: dict[str, object], tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    source = stack["routes"]
    assert isinstance(source, Path)
    routes.write_text(source.read_text())
    engine = serve(routes, tmp_path)
    try:
        wait_until(lambda: len(_children(engine)) == 3, "envoy, the facade and the compare service")
        pids = _children(engine)
    finally:
        engine.stop(signal.SIGKILL)
    # each child was started to get SIGTERM when its parent dies (PR_SET_PDEATHSIG)
    for name, pid in pids.items():
        wait_until(partial(_gone, pid), f"{name} stopped", timeout=30)


def _children(engine: processes.Running) -> dict[str, int]:
    found = readyz(engine.url).get("children")
    return found if isinstance(found, dict) else {}
