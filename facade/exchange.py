"""Per-request state passed through the stages.

Each stage records its decision in its own fields, and no stage changes another's: ``mode``
sets ``upstream`` (the capability's service, or None: the monolith), ``service`` sets
``service`` (the call's answer or failure), ``fallback`` sets ``fell_back``, ``forward`` sets
``response``. ``served_by`` is read from them, so metrics and ``X-Strangler-Route`` always name
who really answered.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from facade.body_spool import Body, SpooledBody
from facade.config import Capability, Config, Mode
from facade.config.matching import Match
from facade.config.normalize import Target
from facade.problem import problem_response
from facade.resilience.call import Outcome
from facade.resilience.policy import Failure
from facade.state import LEGACY, FacadeState
from facade.translate import TranslatedCall
from facade.upstream import Answer, Upstream
from parallel_run.compare import HttpAnswer

FACADE = "facade"
CLIENT_CLOSED = 499  # nginx's status for a client that went away before its answer


@dataclass(slots=True)
class ServiceCall:
    """What the service step got from the capability's service: an answer to relay, a failure,
    or both (a 5xx answer: relayed, unless the fallback step lets the monolith serve).

    An untranslated answer holds its connection (status and headers read; a small body read
    too) and a bulkhead slot until ``finish()`` (relayed) or ``release()`` (dropped).
    """

    method: str  # the method retries and fallback were decided for (translation may change it)
    failure: Failure | None
    answer: Answer | None = None  # untranslated: streamed back by the forward step
    translated: TranslatedCall | None = None  # with a translator: the whole answer, to turn back
    context: AbstractAsyncContextManager[Answer] | None = None  # what ``send`` opened
    outcome: Outcome[Any] | None = None  # holds the bulkhead slot

    @property
    def answered(self) -> bool:
        return self.answer is not None or self.translated is not None

    async def finish(self) -> None:
        """The answer was relayed: its connection goes back to the pool, its slot is free."""
        context, self.context = self.context, None
        try:
            if context is not None:
                await context.__aexit__(None, None, None)
        finally:
            self.release()

    def release(self) -> None:
        """Drop the answer unrelayed (its connection is closed) and free the slot; idempotent."""
        if self.context is not None:
            self.context = None
            if self.answer is not None:
                self.answer.close()
        if self.outcome is not None:
            self.outcome.release()
            self.outcome = None


@dataclass(slots=True)
class Exchange:
    """One client request on its way through the facade."""

    request: web.BaseRequest
    state: FacadeState
    config: Config  # the configuration this request started with, whatever reloads happen
    request_id: str
    traceparent: str
    started: float = field(default_factory=time.perf_counter)
    # the authority the client addressed (the route stage's check_host), for forwarded headers
    # and rewritten Location headers
    public_host: str | None = None
    target: Target | None = None
    match: Match | None = None
    capability: Capability | None = None
    mode: Mode = "legacy"
    # mode: the capability's service chosen to serve; None: the monolith
    upstream: Upstream | None = None
    # body: the headers and body every upstream is sent
    headers: CIMultiDict[str] | None = None
    body: Body | None = None  # None: the request has no body
    service: ServiceCall | None = None  # service: what the capability's service answered
    fell_back: bool = False  # fallback: the service failed, the monolith serves instead
    response: web.StreamResponse | None = None  # forward: the client's answer
    legacy_answer: HttpAnswer | None = None  # forward, when shadowing: the monolith's answer
    legacy_ms: float = 0.0
    status: int = 0
    answered_locally: bool = False  # reserved paths and rejections: no upstream involved
    shadow: bool = False  # also send this request to the capability's service, in the background

    @property
    def capability_name(self) -> str:
        """The capability's name, or ``-`` for traffic that belongs to no capability."""
        return self.match.route.capability if self.match is not None else "-"

    @property
    def served_by(self) -> str:
        if self.answered_locally:
            return FACADE
        if self.upstream is None or self.fell_back:
            return LEGACY
        return self.upstream.name

    def release(self) -> None:
        """What the stages held for this request goes: the service's answer (unless relayed)
        and a spooled body's temporary file. Called once the answer is made, however."""
        if self.service is not None:
            self.service.release()
        self.release_body()

    def release_body(self) -> None:
        """A spooled body's temporary file is closed (and so deleted); idempotent."""
        if isinstance(self.body, SpooledBody):
            self.body.close()


def route_header(ex: Exchange) -> str:
    """``X-Strangler-Route: <capability>;<mode>;<served-by>`` (with ``debug_headers: true``)."""
    return f"{ex.capability_name};{ex.mode};{ex.served_by}"


def problem_for(ex: Exchange, status: int, title: str, detail: str) -> web.Response:
    """A problem+json answer made by the facade itself (with its ``X-Strangler-Route``)."""
    ex.status = status
    response = problem_response(status, title, detail, request_id=ex.request_id)
    if ex.config.routes.debug_headers:
        response.headers["X-Strangler-Route"] = route_header(ex)
    return response
