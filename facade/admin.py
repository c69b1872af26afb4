"""Reserved paths (never proxied): liveness, readiness, metrics; and the readiness probe.

They answer GET and HEAD only (405 with ``Allow`` otherwise). ``/healthz`` tells only that the
process lives; ``/readyz`` tells everyone its status, and its details (the monolith's address,
the routes file's path, the last reload error) only to callers ``admin_allowed`` lets in, as
``/metrics`` does: those details map the inside of the deployment (SECURITY.md R1).
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import os
import time

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from yarl import URL

from facade.exchange import Exchange
from facade.loops import running_loop_name
from facade.problem import problem_response
from facade.state import FacadeState, Readiness

log = logging.getLogger("strangler.admin")
RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def reserved_path(path: str) -> str | None:
    """The reserved path a normalized ``path`` names (``/readyz/`` is ``/readyz``), or None:
    the one rule for the proxy's route stage, the admin listener and a connection over the
    cap."""
    path = path.rstrip("/") or "/"
    return path if path in RESERVED_PATHS else None


ALLOWED_METHODS = ("GET", "HEAD")
PROBE_INTERVAL = 1.0
STALE_AFTER = 5.0
# probes in a row that could not tell (this process out of descriptors) before the last
# verdict is no longer vouched for: a brief EMFILE says nothing of the monolith (S2), but a
# lasting one must not keep an old "ready" alive forever
UNKNOWN_PROBES = 3


async def answer_reserved(path: str, ex: Exchange) -> web.StreamResponse:
    """Answer one of ``RESERVED_PATHS`` (``path`` normalized, trailing slash removed)."""
    request = ex.request
    if request.method not in ALLOWED_METHODS:
        response = problem_response(
            405,
            "Method Not Allowed",
            f"{path} answers {' and '.join(ALLOWED_METHODS)} only",
            request_id=ex.request_id,
        )
        response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
        if request.body_exists:
            response.force_close()  # its body is not ours to read
        return response
    if path == "/healthz":
        return _json(200, {"status": "ok"})
    allowed = admin_allowed(request, ex.config.routes.admin.token_env)
    if path == "/readyz":
        return readiness_response(ex.state, detailed=allowed)
    if not allowed:
        return problem_response(
            403,
            "Forbidden",
            "metrics are served to loopback clients or with the admin token",
            request_id=ex.request_id,
        )
    ex.state.shadow.export_stats()
    return web.Response(
        body=ex.state.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def readiness_response(state: FacadeState, *, detailed: bool) -> web.Response:
    """200 ``{"status": "ready"}`` or 503 ``{"status": "not ready"}``; with ``detailed``, also
    what the monolith probe saw, the config's path, digest and last reload error, draining, and
    the event loop this process runs on (``uvloop`` or ``asyncio``)."""
    ready = state.readiness
    live = state.live
    fresh = time.monotonic() - ready.checked_at < STALE_AFTER
    ok = ready.legacy_ok and fresh and not ready.draining
    body: dict[str, object] = {"status": "ready" if ok else "not ready"}
    if detailed:
        body |= {
            "legacy": {"reachable": ready.legacy_ok and fresh, "detail": ready.legacy_detail},
            "config": {
                "path": str(live.current.source),
                "sha256": live.current.digest,
                "last_reload_error": live.last_error,
                # a warning: readiness never depends on the endpoint inventory
                "inventory_problem": live.current.inventory_problem,
            },
            "draining": ready.draining,
            "loop": running_loop_name(),
        }
    return _json(200 if ok else 503, body)


def admin_allowed(request: web.BaseRequest, token_env: str) -> bool:
    """Loopback peers, or a bearer token equal to the one named by ``admin.token_env``.

    The peer is the socket's (``request.remote`` on the low-level server, never a client's
    ``X-Forwarded-For``): behind a proxy on the same host every client looks local, so such a
    deployment sets the token and exposes the facade's port only through that proxy.
    """
    return client_allowed(request.remote, request.headers.get("Authorization", ""), token_env)


def client_allowed(peer: str | None, authorization: str, token_env: str) -> bool:
    """``admin_allowed``'s rule for a client known by its address and ``Authorization``
    header: what an admin process behind a proxy it trusts applies to the address the proxy
    saw (``serve --engine envoy``: Envoy passes it on)."""
    expected = os.environ.get(token_env)
    if expected and authorization.startswith("Bearer "):
        return hmac.compare_digest(
            authorization.removeprefix("Bearer ").encode(), expected.encode()
        )
    try:
        return ipaddress.ip_address(peer or "").is_loopback
    except ValueError:
        return False


def _json(status: int, body: object) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def probe_legacy(state: FacadeState) -> None:
    """Probe the monolith every second for /readyz; runs beside, never on, the request path."""
    ready = state.readiness
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=2), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        while True:
            legacy = state.live.current.routes.legacy
            verdict = await probe_once(session, legacy.url, legacy.health_path)
            ok_before = ready.legacy_ok
            record_probe(ready, verdict, time.monotonic())
            if ready.legacy_ok != ok_before:
                level = logging.INFO if ready.legacy_ok else logging.WARNING
                state_word = "reachable" if ready.legacy_ok else "unreachable"
                log.log(level, "monolith %s: %s", state_word, ready.legacy_detail)
            state.metrics.legacy_up.set(1 if ready.legacy_ok else 0)
            await asyncio.sleep(PROBE_INTERVAL)


def record_probe(ready: Readiness, verdict: tuple[bool, str] | None, now: float) -> None:
    """Take one probe's verdict into ``ready``. ``None`` (this process could not open a
    socket: EMFILE) keeps the last verdict for up to ``UNKNOWN_PROBES`` probes in a row, then
    reports the monolith as not known to be reachable."""
    if verdict is None:
        ready.unknown_in_a_row += 1
        if ready.unknown_in_a_row < UNKNOWN_PROBES:
            ready.checked_at = now  # says nothing of the monolith: keep the last verdict
            return
        verdict = (
            False,
            f"cannot tell: {ready.unknown_in_a_row} probes in a row found this process out of "
            "descriptors (EMFILE)",
        )
    else:
        ready.unknown_in_a_row = 0
    ready.legacy_ok, ready.legacy_detail = verdict
    ready.checked_at = now


def _out_of_files(exc: BaseException) -> bool:
    """EMFILE/ENFILE, raised as is or wrapped by aiohttp's connector."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.errno in (errno.EMFILE, errno.ENFILE):
            return True
        current = current.__cause__
    return False


async def probe_once(
    session: aiohttp.ClientSession, url: str, health_path: str | None
) -> tuple[bool, str] | None:
    """(reachable, detail), or None when this process could not open a socket to tell: one
    probe of the monolith at ``url`` (``legacy.health_path``, else a TCP connect)."""
    base = URL(url)
    try:
        if health_path is None:
            # a TCP connect proves the monolith listens without sending it a request;
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns (here: raises
            # the refusal) when the connect ends as the probe is cancelled, and the cancel is
            # lost (gh-86296): a facade that closed then waited for this probe forever
            async with asyncio.timeout(2):
                _, writer = await asyncio.open_connection(base.host, base.port)
            writer.close()
            return True, f"accepting connections at {base.host}:{base.port}"
        async with session.get(url + health_path, allow_redirects=False) as resp:
            return resp.status < 500, f"GET {health_path} answered {resp.status}"
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        if _out_of_files(exc):
            return None
        return False, f"{url}: {type(exc).__name__}: {exc}"
