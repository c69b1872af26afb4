"""A slow candidate: waits a fixed time, then answers the shadow benchmark's 2 KB JSON body.

Run as ``python -m bench.slow_upstream PORT [DELAY_SECONDS]``. nginx cannot sleep, so this is
a small aiohttp server; every request is a coroutine sleeping on the event loop, so thousands of
requests can wait at once at almost no CPU cost. ``/healthz`` answers at once (start-up probe).
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bench.payload import BODY


def make_app(delay: float) -> web.Application:
    async def slow(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay)
        return web.Response(body=BODY, content_type="application/json")

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", slow)
    return app


def main() -> None:
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    web.run_app(
        make_app(delay),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        backlog=4096,
        keepalive_timeout=75,
    )


if __name__ == "__main__":
    main()
