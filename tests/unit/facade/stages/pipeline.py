"""What the stage tests share: a routes.yaml with one capability per case, an Exchange built
on a mocked aiohttp request (no socket), a FacadeState whose upstreams are fakes, and a
translator for the service step."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from aiohttp import HttpVersion, HttpVersion11, web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from acl.errors import TranslationError
from acl.http import HttpRequestData, HttpResponseData
from facade import config as config_module
from facade.config import Config
from facade.config.bucket import in_share
from facade.exchange import Exchange
from facade.stages import Stage
from facade.state import FacadeState, LiveConfig
from facade.upstream import Upstreams
from tests.support.fake_upstream import FakeUpstreams

LEGACY_URL = "http://legacy.internal:8000"
SERVICE_URL = "http://svc.internal:9000"

ROUTES = f"""\
version: 1
legacy:
  url: {LEGACY_URL}
services:
  svc:
    url: {SERVICE_URL}
    retries: 2
    backoff: 0.001
    max_concurrency: 4
debug_headers: true
limits:
  body_buffer: 64  # bytes: larger bodies are spooled to a temporary file
capabilities:
  orders:
    match:
      - {{path: "/orders/{{id}}"}}
    service: svc
    mode: extracted
  strict:
    match:
      - {{path: "/strict/{{id}}"}}
    service: svc
    mode: extracted
    fallback: error
  catalog:
    match:
      - {{path: "/catalog/{{id}}"}}
    service: svc
    mode: legacy
  canaried:
    match:
      - {{path: "/canary/{{id}}"}}
    service: svc
    mode: canary
    canary: {{percent: 50, sticky: "header:X-User"}}
  shadowed:
    match:
      - {{path: "/shadowed/{{id}}"}}
    service: svc
    mode: shadow
    shadow: {{percent: 25}}
  translated:
    match:
      - {{path: "/old/{{id}}"}}
    service: svc
    mode: extracted
    translator: "tests.unit.facade.stages.pipeline:Renamer"
  uploads:
    match:
      - {{methods: [POST, PUT], path: /uploads}}
    service: svc
    mode: legacy
    max_body: 1KB
"""


class Renamer:
    """A translator: ``/old/X`` is the service's ``/new/X``; the answer's ``new`` field is the
    legacy ``old`` one; a body of ``unfit`` has no legacy equivalent, nor ``/old/unfit`` a
    service request."""

    def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
        if req.path.endswith("/unfit"):
            raise TranslationError(field="path", value=req.path, reason="no service request")
        return HttpRequestData(
            req.method, req.path.replace("/old/", "/new/"), req.query, (), req.body
        )

    def response_to_legacy(
        self, legacy_req: HttpRequestData, service_resp: HttpResponseData, /
    ) -> HttpResponseData:
        if service_resp.body == b"unfit":
            raise TranslationError(field="unfit", value="unfit", reason="no legacy equivalent")
        return HttpResponseData(
            service_resp.status, (("X-Translated", "1"),), service_resp.body.replace(b"new", b"old")
        )


@dataclass
class Pipeline:
    """A facade's state on fake upstreams, and exchanges to run stages on."""

    config: Config
    fakes: FakeUpstreams
    state: FacadeState
    made: list[Exchange] = field(default_factory=list)  # released at the test's end

    def exchange(
        self,
        method: str = "GET",
        path: str = "/",
        headers: Sequence[tuple[str, str]] = (("Host", "shop.example"),),
        *,
        body: bytes | None = None,
        version: HttpVersion = HttpVersion11,
        writer: mock.Mock | None = None,
    ) -> Exchange:
        kwargs: dict[str, object] = {"writer": writer or client_wire()}
        if body is not None:
            protocol = mock.Mock(_reading_paused=False)
            payload = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
            payload.feed_data(body)
            payload.feed_eof()
            kwargs["payload"] = payload
        request = make_mocked_request(
            method,
            path,
            headers=list(headers),
            version=version,
            **kwargs,  # type: ignore[arg-type]
        )
        ex = Exchange(request, self.state, self.config, "rid-1", "")
        self.made.append(ex)
        return ex

    async def run(self, ex: Exchange, stages: Sequence[Stage]) -> web.StreamResponse | None:
        """Run ``stages`` in order as ``Facade.handle`` does: the first answer halts."""
        for stage in stages:
            response = await stage(ex)
            if response is not None:
                return response
        return ex.response


def canary_user(inside: bool) -> str:
    """An ``X-User`` whose canary bucket is (or is not) within ``canaried``'s 50% share."""
    return next(f"user-{n}" for n in range(1000) if in_share("canaried", f"user-{n}", 50) is inside)


def open_breaker(p: Pipeline, service: str = "svc") -> None:
    """Fail calls on ``service``'s breaker until it opens."""
    breaker = p.state.guard(p.config, service).breaker
    while (permit := breaker.allow()) is not None:
        breaker.record(permit, ok=False)


def client_wire() -> mock.Mock:
    """The client's connection as a response writes to it: each call is recorded."""
    wire = mock.Mock()
    wire.write_headers = mock.AsyncMock()
    wire.write = mock.AsyncMock()
    wire.write_eof = mock.AsyncMock()
    wire.drain = mock.AsyncMock()
    return wire


def written(ex: Exchange) -> bytes:
    """The body bytes written to the client's connection (headers apart)."""
    wire = ex.request.writer
    parts = [call.args[0] for call in wire.write.await_args_list]  # type: ignore[attr-defined]
    parts += [call.args[0] for call in wire.write_eof.await_args_list if call.args]  # type: ignore[attr-defined]
    return b"".join(parts)


def pipeline(tmp_path: Path, routes: str = ROUTES) -> Pipeline:
    path = tmp_path / "routes.yaml"
    path.write_text(routes)
    config = config_module.load(path)
    fakes = FakeUpstreams()
    state = FacadeState(LiveConfig(config), upstreams=Upstreams(fakes.factory))
    return Pipeline(config, fakes, state)
