"""A stand-in candidate service that answers every request with a large body of its own:
``--size`` random bytes, different on every answer (so every comparison is a mismatch).

Run as ``python -m tests.support.large_answers --port P --size BYTES``. ``GET /_seen`` answers
how many requests it got, as ``echo_upstream`` does.
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web


async def answer(request: web.Request) -> web.StreamResponse:
    if request.path == "/_seen":
        return web.json_response({"count": request.app["count"]})
    request.app["count"] += 1
    await request.read()
    size: int = request.app["size"]
    # random, so no two answers (and no answer and the monolith's) are alike
    return web.Response(body=os.urandom(size), content_type="application/octet-stream")


def create_app(size: int) -> web.Application:
    app = web.Application()
    app["size"] = size
    app["count"] = 0
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=5 * 1024**2)
    args = parser.parse_args()
    web.run_app(create_app(args.size), host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    main()
