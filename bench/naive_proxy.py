"""A naive single-process aiohttp reverse proxy: the issue's reference point, measured live.

Run as ``python -m bench.naive_proxy PORT UPSTREAM_URL``. It buffers each body and copies the
headers with no policy at all: what "a few lines of aiohttp" gives, so the facade's own cost
(header policy, routing, metrics, streaming) shows against it on the same machine, same run.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

_SKIPPED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
SESSION = web.AppKey("session", aiohttp.ClientSession)


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession(upstream, auto_decompress=False)
        yield
        await app[SESSION].close()

    async def handle(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED}
        body = await request.read()
        async with request.app[SESSION].request(
            request.method, request.raw_path, headers=headers, data=body or None
        ) as answer:
            payload = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _SKIPPED}
            return web.Response(body=payload, status=answer.status, headers=out)

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]
    web.run_app(make_app(upstream), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
