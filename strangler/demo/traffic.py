"""Requests the demo sends, and how it judges the answers (``strangler demo``).

Plain ``http.client`` on purpose: the demo is a client of the facade like any other, and each
answer is compared with the monolith's own answer to the same request, sent direct.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from parallel_run.compare import CompareRules, Comparison, HttpAnswer, compare_http

ROUTE_HEADER = "x-strangler-route"


@dataclass(frozen=True, slots=True)
class Req:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def route(self) -> tuple[str, str, str] | None:
        """``(capability, mode, served-by)`` from the facade's debug header, if it sent one."""
        value = self.header(ROUTE_HEADER)
        if value is None:
            return None
        capability, _, rest = value.partition(";")
        mode, _, served_by = rest.partition(";")
        return capability, mode, served_by

    @property
    def served_by(self) -> str:
        route = self.route
        return route[2] if route else "?"

    def as_http_answer(self) -> HttpAnswer:
        return HttpAnswer(self.status, self.headers, self.body)


def send(port: int, req: Req, *, timeout: float = 30) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(req.method, req.path, body=req.body, headers=dict(req.headers))
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, tuple(response.getheaders()), body)
    finally:
        conn.close()


def send_all(port: int, reqs: Sequence[Req], *, concurrency: int = 4) -> list[Answer]:
    """Every request, a few at a time; answers in the order of ``reqs``."""
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda req: send(port, req), reqs))


def json_req(method: str, path: str, payload: object) -> Req:
    body = json.dumps(payload).encode()
    return Req(method, path, (("Content-Type", "application/json"),), body)


def same_as_monolith(via: Answer, direct: Answer, rules: CompareRules) -> Comparison:
    """The comparator of shadow mode, with the capability's ignore rules: status, content type
    and the JSON body path by path (fields like ``generated_at`` left out)."""
    return compare_http(direct.as_http_answer(), via.as_http_answer(), rules=rules)


def difference_text(comparison: Comparison) -> str:
    """The first differing paths, short: ``$.product.price: '12.50' != '12.5'``."""
    shown = [
        f"{d.path}: {d.control!r} != {d.candidate!r}" if d.kind not in ("body", "error") else d.path
        for d in comparison.differences[:3]
    ]
    more = len(comparison.differences) - len(shown) + comparison.omitted
    return "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def keyed(reqs: Iterable[Req], header: str, keys: Sequence[str]) -> list[Req]:
    """Each request sent as a different client: ``header: key``, keys taken in turn."""
    return [
        Req(req.method, req.path, ((header, keys[i % len(keys)]), *req.headers), req.body)
        for i, req in enumerate(reqs)
    ]
