"""A stand-in upstream that keeps every request's headers, for "what reached the upstream" tests.

Run as ``python -m tests.support.header_recorder --port P --name NAME``. Every request is
answered 200 with JSON naming the server and the headers it got, except ``GET /_requests``
(the list of every request so far: method, raw path, headers, in order; not itself recorded)
and ``/_redirect`` (a 302 to this server's own origin, as a monolith that knows only its own
address would answer). Unlike ``echo_upstream``, a shadow candidate's headers can be read
back too: nobody sees the candidate's answer.
"""

from __future__ import annotations

import argparse

from aiohttp import web

REQUESTS = web.AppKey("requests", list[dict[str, object]])
NAME = web.AppKey("name", str)


async def answer(request: web.Request) -> web.StreamResponse:
    if request.raw_path == "/_requests" and request.method == "GET":
        return web.json_response(request.app[REQUESTS])
    headers = [[name, value] for name, value in request.headers.items()]
    request.app[REQUESTS].append(
        {"method": request.method, "raw_path": request.raw_path, "headers": headers}
    )
    await request.read()
    if request.path == "/_redirect":
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        origin = f"http://127.0.0.1:{sockname[1] if sockname else 0}"
        raise web.HTTPFound(f"{origin}/landed?from=redirect")
    return web.json_response({"server": request.app[NAME], "headers": headers})


def create_app(name: str) -> web.Application:
    app = web.Application()
    app[NAME] = name
    app[REQUESTS] = []
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="recorder")
    args = parser.parse_args()
    web.run_app(
        create_app(args.name), host="127.0.0.1", port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
