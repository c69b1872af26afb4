"""A stand-in upstream for proxy tests: it answers with exactly what it received.

Run as ``python -m tests.support.echo_upstream --port P --name NAME``. Besides echoing, a few
paths make it misbehave on purpose (statuses, redirects, cookies, gzip, chunked, resets).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import uuid

from aiohttp import web


async def seen(request: web.Request) -> web.StreamResponse:
    """``GET /_seen``: how many requests this server got (``/_seen`` aside), and the last one."""
    return web.json_response(
        {
            "count": request.app["seen"]["count"],
            "last_raw_path": request.app["seen"]["last"],
            "last_shadow_header": request.app["seen"]["shadow"],
        }
    )


async def control(request: web.Request) -> web.StreamResponse:
    """``/_control?status=N&delay=S&fail_first=N``: change how it misbehaves, while running
    (not counted as a request). ``status=0`` and ``delay=0`` make it healthy again."""
    app = request.app
    query = request.query
    if "status" in query:
        app["status"] = int(query["status"])
    if "delay" in query:
        app["delay"] = float(query["delay"])
    if "fail_first" in query:
        app["fail_first"] = int(query["fail_first"])
    return web.json_response(
        {"status": app["status"], "delay": app["delay"], "fail_first": app["fail_first"]}
    )


async def echo(request: web.Request) -> web.StreamResponse:
    if request.raw_path == "/_seen" and request.method == "GET":
        return await seen(request)
    if request.path == "/_control":
        return await control(request)
    request.app["seen"]["count"] += 1
    request.app["seen"]["last"] = request.raw_path
    request.app["seen"]["shadow"] = request.headers.get("X-Strangler-Shadow")
    # misbehaving on every path, to play a bad candidate service
    if request.app["delay"]:
        await asyncio.sleep(request.app["delay"])
    if request.app["status"]:
        return web.Response(status=request.app["status"], text="failing on purpose\n")
    if request.app["fail_first"] > 0:
        request.app["fail_first"] -= 1  # a transient failure: the next request may succeed
        return web.Response(status=503, text="failing for now\n")
    body = await request.read()
    special = request.path
    if special.startswith("/_status/"):
        return web.Response(status=int(special.rsplit("/", 1)[1]), text="status on demand\n")
    if special == "/_redirect":
        origin = f"http://{request.app['bind']}"
        raise web.HTTPFound(f"{origin}/landed?from=redirect")
    if special == "/_cookies":
        response = web.Response(text="cookies\n")
        response.headers.add("Set-Cookie", "a=1; Path=/; HttpOnly")
        response.headers.add("Set-Cookie", "b=2; Path=/; Secure")
        response.headers.add("Set-Cookie", "c=3; Path=/; SameSite=Lax")
        return response
    if special == "/_gzip":
        # mtime=0: the same bytes every time, or two answers a second apart differ in the
        # header's timestamp and a test comparing two clients' bytes flickers
        payload = gzip.compress(b'{"compressed": true}' * 50, mtime=0)
        return web.Response(
            body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
    if special == "/_hop":
        return web.Response(
            text="hop\n",
            headers={
                "Connection": "X-Upstream-Secret",
                "X-Upstream-Secret": "leak",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "X-Kept": "yes",
            },
        )
    if special == "/_chunked":
        size = int(request.query.get("size", "100000"))
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        while sent < size:
            part = min(8192, size - sent)
            await response.write(b"x" * part)
            sent += part
        await response.write_eof()
        return response
    if special == "/_reset":
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"y" * 1000)
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()
        return response
    if special == "/_slow":
        await asyncio.sleep(float(request.query.get("s", "1")))
    if special.startswith("/_empty/"):
        return web.Response(status=int(special.rsplit("/", 1)[1]))
    if request.app["query_fields"]:
        # the query's parameters as JSON fields, and nothing that repeats the raw query: what
        # a redaction test needs (store.redact_fields rewrites fields, not text inside strings)
        fields = {"server": request.app["name"], "path": request.path, **request.query}
        return web.json_response(fields, headers={"X-Echo-Server": request.app["name"]})
    report = {
        "server": request.app["name"],
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body_len": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    if request.app["noisy"]:
        report["generated_id"] = uuid.uuid4().hex  # differs on every call, like a real id
    return web.json_response(report, headers={"X-Echo-Server": request.app["name"]})


def create_app(
    name: str,
    bind: str,
    *,
    delay: float = 0,
    status: int = 0,
    noisy: bool = False,
    query_fields: bool = False,
    fail_first: int = 0,
) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)
    app["name"] = name
    app["bind"] = bind
    app["delay"] = delay
    app["status"] = status
    app["noisy"] = noisy
    app["query_fields"] = query_fields
    app["fail_first"] = fail_first
    app["seen"] = {"count": 0, "last": None, "shadow": None}
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="echo")
    parser.add_argument("--delay", type=float, default=0, help="seconds to wait on every request")
    parser.add_argument("--status", type=int, default=0, help="answer every request with this")
    parser.add_argument("--noisy", action="store_true", help="add a random generated_id")
    parser.add_argument(
        "--query-fields", action="store_true", help="answer the query's parameters as JSON fields"
    )
    parser.add_argument(
        "--fail-first", type=int, default=0, help="answer the first N requests 503, then echo"
    )
    args = parser.parse_args()
    web.run_app(
        create_app(
            args.name,
            f"127.0.0.1:{args.port}",
            delay=args.delay,
            status=args.status,
            noisy=args.noisy,
            query_fields=args.query_fields,
            fail_first=args.fail_first,
        ),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
