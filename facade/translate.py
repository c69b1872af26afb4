"""Serving through the anti-corruption layer: the legacy request is translated for the
service, and the service's answer back into the legacy API, whole, before the client sees it.

Translation needs whole messages, so these requests are buffered (within the body limit); an
answer that cannot be translated is a 502 problem+json naming the field, never half an answer.
The call itself goes through the service's guard (``facade.resilience``): retries, breaker,
bulkhead and deadline; whether the monolith answers a failed call instead is the fallback
stage's decision (``facade.stages.fallback``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from acl.errors import TranslationError, TranslatorNotFound
from acl.http import HttpRequestData, HttpResponseData, Translator
from acl.registry import load_translator
from facade.config.normalize import Target
from facade.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from facade.headers import (
    Peer,
    downstream_response_headers,
    upstream_request_headers,
    without_facade_headers,
)
from facade.resilience.call import call_service
from facade.resilience.guard import ServiceGuard
from facade.resilience.policy import Failure, stricter_method
from facade.upstream import Upstream, describe_client_error

MAX_TRANSLATED_ANSWER = 16 * 1024 * 1024


class UntranslatableAnswer(UpstreamError):
    """The service's answer (or the client's request) has no legacy equivalent (502)."""


_translators: dict[str, Translator] = {}


def translator_for(spec: str, *, upstream: str) -> Translator:
    """The translator routes.yaml names, loaded once per process."""
    translator = _translators.get(spec)
    if translator is None:
        try:
            translator = _translators[spec] = load_translator(spec)
        except TranslatorNotFound as exc:
            raise UntranslatableAnswer(upstream, f"translator {spec!r} unusable: {exc}") from exc
    return translator


def legacy_request(
    method: str, target: Target, headers: CIMultiDictProxy[str], body: bytes
) -> HttpRequestData:
    # HEAD is translated as the GET it stands for; the body is dropped on the way back
    return HttpRequestData(
        "GET" if method == "HEAD" else method,
        target.path,
        tuple(parse_qsl(target.query or "", keep_blank_values=True)),
        tuple(headers.items()),
        body,
    )


def service_target(request: HttpRequestData) -> Target:
    return Target(request.path, urlencode(request.query) if request.query else None)


def translate_request(
    service: str, translator: Translator, legacy: HttpRequestData
) -> HttpRequestData:
    """The service's request for a legacy one; UntranslatableAnswer if there is none."""
    try:
        return translator.request_to_service(legacy)
    except TranslationError as exc:
        raise UntranslatableAnswer(service, f"request not translatable: {exc}") from exc


def translate_answer(
    service: str, translator: Translator, legacy: HttpRequestData, got: HttpResponseData
) -> HttpResponseData:
    """The service's answer in the legacy API; UntranslatableAnswer naming what did not fit."""
    try:
        return translator.response_to_legacy(legacy, got)
    except TranslationError as exc:
        raise UntranslatableAnswer(service, f"answer not translatable: {exc}") from exc


def service_headers(outgoing: CIMultiDict[str], wanted: HttpRequestData) -> CIMultiDict[str]:
    headers = CIMultiDict(outgoing)
    for name, value in wanted.headers:
        headers[name] = value
    return headers


async def fetch(
    client: Upstream, wanted: HttpRequestData, headers: CIMultiDict[str]
) -> HttpResponseData:
    """Send the translated request once and read its answer whole (aiohttp errors propagate)."""
    async with client.send(
        wanted.method, service_target(wanted), headers=headers, body=wanted.body or None
    ) as answer:
        body = await answer.content.read(MAX_TRANSLATED_ANSWER + 1)
        if len(body) > MAX_TRANSLATED_ANSWER:
            raise UntranslatableAnswer(client.name, "answer too large to translate")
        return HttpResponseData(answer.status, tuple(answer.headers.items()), body)


async def call_translated(
    client: Upstream,
    translator: Translator,
    legacy: HttpRequestData,
    *,
    outgoing: CIMultiDict[str],
) -> HttpResponseData:
    """Translate ``legacy``, call the service once, translate its answer back (replay's call:
    no retries, no breaker); raise UpstreamError. Shadow mode does the same through its lean
    client (``facade.shadow``)."""
    wanted = translate_request(client.name, translator, legacy)
    try:
        got = await fetch(client, wanted, service_headers(outgoing, wanted))
    except TimeoutError as exc:
        raise UpstreamTimeout(client.name, "no answer within the timeout") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(client.name, describe_client_error(exc)) from exc
    return translate_answer(client.name, translator, legacy, got)


@dataclass(frozen=True, slots=True)
class TranslatedCall:
    """A guarded call through the translator: what the service answered (whole), or why not.

    The answer is turned back into the legacy API only when it is relayed (``response``): if
    the monolith serves instead (fallback), an answer it replaces is never translated.
    """

    service: str
    translator: Translator
    legacy: HttpRequestData
    method: str  # the stricter of the client's and the translated method (retries, fallback)
    failure: Failure | None
    answer: HttpResponseData | None

    def response(self, client_method: str) -> web.Response:
        """The client's answer: the service's, in the legacy API (UntranslatableAnswer: 502)."""
        assert self.answer is not None
        answer = translate_answer(self.service, self.translator, self.legacy, self.answer)
        headers_out = downstream_response_headers(CIMultiDictProxy(CIMultiDict(answer.headers)))
        if client_method == "HEAD":
            headers_out["Content-Length"] = str(len(answer.body))
            return web.Response(status=answer.status, headers=headers_out)
        return web.Response(status=answer.status, headers=headers_out, body=answer.body)


async def call_guarded(
    request: web.BaseRequest,
    client: Upstream,
    translator: Translator,
    target: Target,
    *,
    body: bytes,
    peer: Peer,
    trusted_hops: int,
    request_id: str,
    traceparent: str,
    guard: ServiceGuard,
) -> TranslatedCall:
    """Call the service through the translator, with its retries, breaker and bulkhead.

    The body is bytes: a call can be retried as it is. Whether the monolith serves after a
    failure is the caller's decision (``policy.may_fall_back`` on ``TranslatedCall.method``).
    """
    # a translator may copy client headers: never the facade's own namespace (S4)
    legacy = legacy_request(request.method, target, without_facade_headers(request.headers), body)
    outgoing = upstream_request_headers(
        CIMultiDictProxy(CIMultiDict()),  # the translator decides which client headers pass
        peer=peer,
        trusted_hops=trusted_hops,
        request_id=request_id,
        traceparent=traceparent,
    )
    if peer.host is not None:
        outgoing["Host"] = peer.host
    try:
        wanted = translate_request(client.name, translator, legacy)
    except UntranslatableAnswer as exc:
        # the service never sees it: the fallback step may let the monolith serve it
        failure = Failure("untranslatable_request", exc.detail)
        return TranslatedCall(client.name, translator, legacy, request.method, failure, None)
    headers = service_headers(outgoing, wanted)
    # the service gets wanted.method, the monolith (on fallback) the client's: both must allow
    method = stricter_method(request.method, wanted.method)
    outcome = await call_service(
        guard,
        method,
        lambda: fetch(client, wanted, headers),
        status_of=_status,
        discard=_ignore,
        replayable=True,
    )
    outcome.release()  # the answer is read whole: the call is over
    return TranslatedCall(client.name, translator, legacy, method, outcome.failure, outcome.answer)


def _status(answer: HttpResponseData) -> int:
    return answer.status


def _ignore(answer: HttpResponseData) -> None:
    """A translated answer is already read whole: nothing to give back."""
