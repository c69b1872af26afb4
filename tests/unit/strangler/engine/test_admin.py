"""strangler.engine.admin: the facade's reserved paths, answered for Envoy: details only for
the loopback client or the admin token, judged on the address Envoy passes on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from facade.config import load
from strangler.cli import serve as serve_cli
from strangler.engine.admin import EngineState, create_app
from strangler.export.envoy import CLIENT_ADDRESS_HEADER

SAMPLE = 'envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="strangler"} 3\n'


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], EngineState]]:
    routes = tmp_path / "routes.yaml"
    routes.write_text('version: 1\nlegacy: {url: "http://127.0.0.1:1"}\n')
    envoy_admin = web.Application()

    async def stats(request: web.Request) -> web.Response:
        return web.Response(text=SAMPLE)

    envoy_admin.router.add_get("/stats/prometheus", stats)
    async with TestServer(envoy_admin) as envoy, aiohttp.ClientSession() as session:
        state = EngineState(routes, load(routes), str(envoy.make_url("")).rstrip("/"))
        state.envoy_live = state.legacy_ok = True
        state.checked_at = time.monotonic()
        async with TestClient(TestServer(create_app(state, session))) as client:
            yield client, state


async def test_ready_with_details_for_a_loopback_client(
    engine: tuple[TestClient[Any, Any], EngineState],
) -> None:
    client, state = engine
    answer = await client.get("/readyz", headers={CLIENT_ADDRESS_HEADER: "127.0.0.1"})
    body = await answer.json()
    assert answer.status == 200
    assert body["config"]["path"] == str(state.path)
    assert body["engine"] == "envoy"


async def test_a_remote_client_gets_the_status_only(
    engine: tuple[TestClient[Any, Any], EngineState],
) -> None:
    client, state = engine
    state.last_reload_error = "routes.yaml:3: secret detail"
    answer = await client.get("/readyz", headers={CLIENT_ADDRESS_HEADER: "203.0.113.9"})
    assert await answer.json() == {"status": "ready"}
    metrics = await client.get("/metrics", headers={CLIENT_ADDRESS_HEADER: "203.0.113.9"})
    assert metrics.status == 403


async def test_the_admin_token_lets_a_remote_client_in(
    engine: tuple[TestClient[Any, Any], EngineState], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, state = engine
    monkeypatch.setenv(state.config.routes.admin.token_env, "s3cret")
    headers = {CLIENT_ADDRESS_HEADER: "203.0.113.9", "Authorization": "Bearer s3cret"}
    answer = await client.get("/metrics", headers=headers)
    assert answer.status == 200
    assert "strangler_in_flight_requests 3.0" in await answer.text()


async def test_not_ready_while_envoy_is_down_or_stopping(
    engine: tuple[TestClient[Any, Any], EngineState],
) -> None:
    client, state = engine
    state.envoy_live = False
    assert (await client.get("/readyz")).status == 503
    state.envoy_live, state.stopping = True, True
    assert (await client.get("/readyz")).status == 503


async def test_healthz_and_the_methods_it_answers(
    engine: tuple[TestClient[Any, Any], EngineState],
) -> None:
    client, _ = engine
    assert await (await client.get("/healthz/")).json() == {"status": "ok"}
    refused = await client.post("/readyz")
    assert refused.status == 405
    assert refused.headers["Allow"] == "GET, HEAD"


def test_therecord_config_in_force_goes_to_the_audit_trail_when_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strangler import audit

    routes = tmp_path / "routes.yaml"
    routes.write_text('version: 1\nlegacy: {url: "http://127.0.0.1:1"}\n')
    config = load(routes)
    monkeypatch.delattr(audit, "config_in_force", raising=False)
    serve_cli.record_config_in_force(config, "abc")  # without the hook: nothing to call
    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(
        audit, "config_in_force", lambda c, **kw: calls.append((c, kw)), raising=False
    )
    serve_cli.record_config_in_force(config, "abc", listen="127.0.0.1:8080")
    assert calls == [
        (config, {"engine": "envoy", "config_hash": "abc", "listen": "127.0.0.1:8080"})
    ]
