"""From a mirrored request to a shadow job: which requests are compared, what the monolith and
the candidate are sent, and the bounded queue in front of the monolith."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from compare_service.app import CompareService
from compare_service.mirror import Compare, Ignored, decide, original_host
from facade import config as config_module
from facade.config import Config
from facade.config.normalize import normalize_target
from facade.lean_http import Answer
from facade.shadow import MAX_SHADOW_BODY, ShadowJob
from tests.unit.facade.stages.pipeline import LEGACY_URL, ROUTES

EXTRA = """\
  unsafe:
    match:
      - {path: "/unsafe/{id}"}
    service: svc
    mode: shadow
    shadow: {unsafe_methods: send}
  off:
    match:
      - {path: "/off/{id}"}
    service: svc
    mode: shadow
    shadow: {percent: 0}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES + EXTRA)
    return config_module.load(routes)


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_a_host_suffix_is_removed_only_when_configured() -> None:
    # the Envoy export disables the suffix: a Host that ends so is the client's own
    assert original_host(headers(("Host", "api-shadow"))) == "api-shadow"
    assert original_host(headers(("Host", "shop.example"))) == "shop.example"
    assert original_host(headers(("Host", "shop.example-shadow")), "-shadow") == "shop.example"
    suffixed = headers(("Host", "shop.example:8080-shadow"))
    assert original_host(suffixed, "-shadow") == "shop.example:8080"
    assert original_host(headers(("Host", "shop.example")), "-shadow") == "shop.example"
    assert original_host(headers()) is None


@pytest.mark.parametrize(
    "pairs",
    [
        (("Host", "a.example"), ("Host", "b.example")),
        (("Host", "evil.example/x-shadow"),),
        (("Host", "a@b"),),
    ],
)
def test_a_host_the_facade_would_refuse_is_ignored(pairs: tuple[tuple[str, str], ...]) -> None:
    assert original_host(headers(*pairs)) == Ignored("bad_host")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/shadowed/7", Compare("shadowed", "/shadowed/{id}", "svc", "h")),
        ("HEAD", "/shadowed/7", Compare("shadowed", "/shadowed/{id}", "svc", "h")),
        ("POST", "/shadowed/7", Ignored("unsafe_method")),
        ("TRACE", "/shadowed/7", Ignored("method")),
        # shadow.unsafe_methods: send is the facade's: the monolith already ran this write
        ("POST", "/unsafe/7", Ignored("unsafe_method")),
        ("DELETE", "/unsafe/7", Ignored("unsafe_method")),
        ("GET", "/unsafe/7", Compare("unsafe", "/unsafe/{id}", "svc", "h")),
        ("GET", "/off/7", Ignored("percent_zero")),
        ("GET", "/orders/7", Ignored("not_shadow")),
        ("GET", "/catalog/7", Ignored("not_shadow")),
        ("GET", "/nowhere", Ignored("no_capability")),
    ],
)
def test_only_shadow_capabilities_and_their_methods_are_compared(
    config: Config, method: str, path: str, expected: Compare | Ignored
) -> None:
    assert decide(config, method, normalize_target(path), "h") == expected


def test_the_path_is_matched_as_the_facade_normalizes_it(config: Config) -> None:
    target = normalize_target("/a/../shadowed//7?x=1")
    assert decide(config, "GET", target, None) == Compare("shadowed", "/shadowed/{id}", "svc", None)


class Pool:
    """The monolith's lean pool: records each call, answers when ``release`` is set."""

    def __init__(self, body: bytes = b'{"ok": 1}') -> None:
        self.calls: list[tuple[str, str, list[tuple[str, str]], bytes | None]] = []
        self.body = body
        self.release = asyncio.Event()
        self.release.set()

    async def request(
        self, method: str, target: str, headers: Any, body: bytes | None, *, max_body: int
    ) -> Answer:
        self.calls.append((method, target, list(headers), body))
        await self.release.wait()
        return Answer(200, (("Content-Type", "application/json"),), self.body)


class Rig(CompareService):
    """A compare service whose monolith is a ``Pool`` and whose runner records the jobs."""

    pool: Pool
    jobs: list[ShadowJob]


@pytest.fixture
async def service(config: Config, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    made = Rig(config, max_pending=2, max_pending_bytes=100, watch=False)
    made.pool, made.jobs = Pool(), []
    monkeypatch.setattr(made.state.shadow.caller, "pool", lambda _config, _client: made.pool)
    monkeypatch.setattr(made.state.shadow, "offer", made.jobs.append)
    yield made
    await made.state.upstreams.close()


async def mirrored(
    service: Rig, method: str, path: str, *pairs: tuple[str, str], body: bytes = b""
) -> int:
    all_headers = [("Host", "shop.example"), *pairs]
    kwargs: dict[str, Any] = {}
    if body:
        payload = StreamReader(
            mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
        )
        payload.feed_data(body)
        payload.feed_eof()
        kwargs["payload"] = payload
        all_headers.append(("Content-Length", str(len(body))))
    request = make_mocked_request(method, path, headers=all_headers, **kwargs)
    response = await service.handle(request)
    return response.status


async def settled(service: Rig) -> None:
    while service._tasks:
        await asyncio.wait(set(service._tasks))


async def test_a_compared_request_becomes_a_job_with_the_monolith_s_answer(
    service: Rig,
) -> None:
    status = await mirrored(
        service,
        "GET",
        "/shadowed/7?x=1",
        ("Connection", "X-Secret"),
        ("X-Secret", "hop"),
        ("Keep-Alive", "timeout=5"),
        ("X-Strangler-Shadow", "forged"),
        ("Accept", "application/json"),
        ("X-Forwarded-For", "203.0.113.9"),
    )
    assert status == 202
    await settled(service)
    (job,) = service.jobs
    assert (job.capability, job.route, job.method) == ("shadowed", "/shadowed/{id}", "GET")
    assert job.target.path_qs == "/shadowed/7?x=1"
    assert job.headers["Host"] == "shop.example"
    assert job.headers["Accept"] == "application/json"
    # the mirror sender is a trusted hop: the client it saw is kept, then the sender itself
    assert job.headers["X-Forwarded-For"].startswith("203.0.113.9, ")
    for gone in ("Connection", "X-Secret", "Keep-Alive", "X-Strangler-Shadow"):
        assert gone not in job.headers
    assert job.legacy.status == 200
    assert job.legacy.body == b'{"ok": 1}'
    assert job.candidate.name == "svc"
    assert job.legacy_client.name == "legacy"
    assert str(job.legacy_client.base).rstrip("/") == LEGACY_URL
    assert job.twin_fraction == pytest.approx(0.1)  # noise: auto, noise_sample 10% by default
    ((method, target, sent, body),) = service.pool.calls
    assert (method, target, body) == ("GET", "/shadowed/7?x=1", None)
    assert ("Host", "shop.example") in sent


async def test_an_unsafe_request_never_reaches_the_monolith_again(service: Rig) -> None:
    # the client's POST already created its order through the proxy: a control call would
    # create a second one, even where the capability sends writes in the facade's shadow mode
    assert await mirrored(service, "POST", "/unsafe/1", body=b'{"n": 1}') == 202
    assert await mirrored(service, "PUT", "/unsafe/1", body=b'{"n": 1}') == 202
    await settled(service)
    assert service.pool.calls == []
    assert service.jobs == []
    assert service.mirrored.labels("ignored", "unsafe_method")._value.get() == 2


async def test_a_safe_request_carries_its_body(service: Rig) -> None:
    assert await mirrored(service, "OPTIONS", "/unsafe/1", body=b'{"n": 1}') == 202
    await settled(service)
    (job,) = service.jobs
    assert job.body == b'{"n": 1}'
    assert job.headers["Content-Length"] == "8"


async def test_ignored_requests_call_nothing_and_are_counted(service: Rig) -> None:
    assert await mirrored(service, "POST", "/shadowed/1", body=b"{}") == 202
    assert await mirrored(service, "GET", "/orders/1") == 202
    await settled(service)
    assert service.pool.calls == []
    assert service.mirrored.labels("ignored", "unsafe_method")._value.get() == 1
    assert service.mirrored.labels("ignored", "not_shadow")._value.get() == 1


async def test_past_the_queue_s_bounds_requests_are_dropped_and_counted(
    service: Rig,
) -> None:
    pool = service.pool
    pool.release.clear()  # the monolith does not answer yet
    for n in range(3):
        assert await mirrored(service, "GET", f"/shadowed/{n}") == 202  # answered at once
    # the bytes bound: a 200-byte body over max_pending_bytes (100)
    assert await mirrored(service, "OPTIONS", "/unsafe/1", body=b"x" * 200) == 202
    dropped = service.state.metrics.shadow_dropped
    assert dropped.labels("shadowed", "mirror_queue_full")._value.get() == 1
    assert dropped.labels("unsafe", "mirror_queue_full")._value.get() == 1
    pool.release.set()
    await settled(service)
    assert len(service.jobs) == 2
    assert service.pending == service.pending_bytes == 0


async def test_a_body_over_the_shadow_limit_is_not_compared(service: Rig) -> None:
    service.max_pending_bytes = 10**9
    config = service.state.live.current
    limit = min(MAX_SHADOW_BODY, config.max_body(config.routes.capabilities["unsafe"]))
    assert await mirrored(service, "OPTIONS", "/unsafe/1", body=b"x" * (limit + 1)) == 202
    await settled(service)
    assert service.jobs == []
    dropped = service.state.metrics.shadow_dropped.labels("unsafe", "body_too_large")
    assert dropped._value.get() == 1


async def test_monolith_calls_wait_for_one_of_its_max_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "one.yaml"
    routes.write_text(
        ROUTES.replace(f"  url: {LEGACY_URL}\n", f"  url: {LEGACY_URL}\n  max_connections: 1\n", 1)
    )
    made = Rig(config_module.load(routes), watch=False)
    made.pool, made.jobs = Pool(), []
    monkeypatch.setattr(made.state.shadow.caller, "pool", lambda _config, _client: made.pool)
    monkeypatch.setattr(made.state.shadow, "offer", made.jobs.append)
    try:
        made.pool.release.clear()
        assert await mirrored(made, "GET", "/shadowed/1") == 202
        assert await mirrored(made, "GET", "/shadowed/2") == 202
        for _ in range(20):
            await asyncio.sleep(0)  # both tasks run until they wait: the call, or the slot
        assert len(made.pool.calls) == 1  # the second waits in the queue
        assert made.pending == 2
        made.pool.release.set()
        await settled(made)
        assert [job.target.path for job in made.jobs] == ["/shadowed/1", "/shadowed/2"]
    finally:
        await made.state.upstreams.close()


async def test_the_store_is_opened_off_the_event_loop(
    service: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened_on: list[threading.Thread] = []
    monkeypatch.setattr(
        service.state.shadow.worker.store,
        "follow",
        lambda: opened_on.append(threading.current_thread()),
    )
    monkeypatch.setattr(service.state.shadow, "start", lambda: None)
    await service.start()
    try:
        assert opened_on  # opening (and migrating) the database blocks: never on the loop
        assert opened_on[0] is not threading.current_thread()
    finally:
        await service.close()
