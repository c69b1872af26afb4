"""Answer ``Expect: 100-continue`` ourselves, before the client sends its body.

A body announced over the route's limit is refused at once (413), so the client never sends
what would be refused and no upstream is contacted; any other expectation is answered 417
(RFC 9110 §10.1.1). Runs after the route stage: the Host is checked and the capability found
already (a request refused there invites no body either).
"""

from __future__ import annotations

from aiohttp import HttpVersion11, web

from facade.exchange import Exchange, problem_for

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def stage(ex: Exchange) -> web.StreamResponse | None:
    request = ex.request
    expect = request.headers.get("Expect")
    if expect is None or request.version != HttpVersion11:
        return None
    if expect.lower() != "100-continue":
        ex.answered_locally = True
        return problem_for(ex, 417, "Expectation Failed", f"unsupported Expect: {expect!r}")
    limit = ex.config.max_body(ex.capability)
    length = request.content_length
    if length is not None and length > limit:
        ex.answered_locally = True
        response = problem_for(
            ex,
            413,
            "Content Too Large",
            f"the request body ({length} bytes) is over the {limit}-byte limit",
        )
        response.force_close()
        return response
    await request.writer.write(CONTINUE)
    request.writer.output_size = 0  # the interim answer is not the response
    return None
