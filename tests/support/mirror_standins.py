"""Stand-ins for the compare service's tests: a monolith and a candidate that answer the same
JSON, but for a planted difference, and a candidate that can be slow.

Run as ``python -m tests.support.mirror_standins --port P --role monolith|candidate
[--delay S]``. ``GET /api/items/{n}``: ``{"id": n, "price": n * 10}``; the candidate answers
a wrong price for every n divisible by 4. ``POST /api/orders``: ``{"ok": true}`` echoing the
body's length. ``GET /_seen``: how many requests it got and the Host headers it saw.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


async def handle(request: web.Request) -> web.StreamResponse:
    app = request.app
    if request.path == "/_seen":
        return web.json_response({"count": app["count"], "hosts": sorted(app["hosts"])})
    app["count"] += 1
    app["hosts"].add(request.headers.get("Host", ""))
    if app["delay"]:
        await asyncio.sleep(app["delay"])
    if request.path.startswith("/api/items/"):
        n = int(request.path.rsplit("/", 1)[1])
        wrong = app["role"] == "candidate" and n % 4 == 0
        return web.json_response({"id": n, "price": n * 10 + (1 if wrong else 0)})
    body = await request.read()
    return web.json_response({"ok": True, "body_len": len(body), "path": request.path})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--role", choices=["monolith", "candidate"], required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    app = web.Application()
    app["role"], app["delay"], app["count"], app["hosts"] = args.role, args.delay, 0, set()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
