"""Serving through the anti-corruption layer: the legacy request is translated for the
service, and the service's answer back into the legacy API, whole, before the client sees it.

Translation needs whole messages, so these requests are buffered (within the body limit); an
answer that cannot be translated is a 502 problem+json naming the field, never half an answer.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from acl.errors import TranslationError, TranslatorNotFound
from acl.http import HttpRequestData, HttpResponseData, Translator
from acl.registry import load_translator
from facade.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from facade.headers import Peer, downstream_response_headers, upstream_request_headers
from facade.normalize import Target
from facade.upstream import UpstreamClient, describe_client_error

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


async def call_translated(
    client: UpstreamClient,
    translator: Translator,
    legacy: HttpRequestData,
    *,
    outgoing: CIMultiDict[str],
) -> HttpResponseData:
    """Translate ``legacy``, call the service, translate its answer back; raise UpstreamError."""
    try:
        wanted = translator.request_to_service(legacy)
    except TranslationError as exc:
        raise UntranslatableAnswer(client.name, f"request not translatable: {exc}") from exc
    headers = CIMultiDict(outgoing)
    for name, value in wanted.headers:
        headers[name] = value
    try:
        async with client.send(
            wanted.method, service_target(wanted), headers=headers, body=wanted.body or None
        ) as answer:
            body = await answer.content.read(MAX_TRANSLATED_ANSWER + 1)
            if len(body) > MAX_TRANSLATED_ANSWER:
                raise UntranslatableAnswer(client.name, "answer too large to translate")
            got = HttpResponseData(answer.status, tuple(answer.headers.items()), body)
    except TimeoutError as exc:
        raise UpstreamTimeout(client.name, "no answer within the timeout") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(client.name, describe_client_error(exc)) from exc
    try:
        return translator.response_to_legacy(legacy, got)
    except TranslationError as exc:
        raise UntranslatableAnswer(client.name, f"answer not translatable: {exc}") from exc


async def serve_translated(
    request: web.BaseRequest,
    client: UpstreamClient,
    translator: Translator,
    target: Target,
    *,
    body: bytes,
    peer: Peer,
    trusted_hops: int,
    request_id: str,
    traceparent: str,
) -> web.Response:
    legacy = legacy_request(request.method, target, request.headers, body)
    outgoing = upstream_request_headers(
        CIMultiDictProxy(CIMultiDict()),  # the translator decides which client headers pass
        peer=peer,
        trusted_hops=trusted_hops,
        request_id=request_id,
        traceparent=traceparent,
    )
    if peer.host is not None:
        outgoing["Host"] = peer.host
    answer = await call_translated(client, translator, legacy, outgoing=outgoing)
    headers = downstream_response_headers(CIMultiDictProxy(CIMultiDict(answer.headers)))
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(answer.body))
        return web.Response(status=answer.status, headers=headers)
    return web.Response(status=answer.status, headers=headers, body=answer.body)
