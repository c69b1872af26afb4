"""One HTTP call from the monolith to an extracted service, synchronous (Django under gunicorn).

The request and the answer are the ACL's pure ``HttpRequestData`` / ``HttpResponseData``, so
the translators build the one and read the other. Any answer with a status is returned, 4xx
and 5xx included (the translator decides what it means); a call that got no answer raises
``SeamCallFailed``. No retries: a seam's caller is a request already being served, and the
service's ``timeout`` bounds the wait.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

from acl.http import HttpRequestData, HttpResponseData
from facade.config import Service
from strangler_django import SeamCallFailed

MAX_ANSWER = 4 * 1024 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a service that redirects answers with its 3xx, never somewhere else


_OPENER = urllib.request.build_opener(_NoRedirects)


def send(name: str, service: Service, request: HttpRequestData, *, seam: str) -> HttpResponseData:
    """Send ``request`` to ``service`` (named ``name`` in routes.yaml) and return its answer."""
    url = service.url + request.path
    if request.query:
        url += "?" + urlencode(request.query)
    headers = {**dict(request.headers), "X-Strangler-Seam": seam}
    outgoing = urllib.request.Request(
        url, data=request.body or None, method=request.method, headers=headers
    )
    try:
        with _OPENER.open(outgoing, timeout=service.timeout) as answer:
            return _answer(name, answer.status, answer.headers.items(), answer.read(MAX_ANSWER + 1))
    except urllib.error.HTTPError as error:
        with error:
            return _answer(name, error.code, error.headers.items(), error.read(MAX_ANSWER + 1))
    except TimeoutError as exc:
        raise SeamCallFailed(name, f"no answer within {service.timeout:g}s") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SeamCallFailed(name, f"cannot reach {service.url}: {reason}") from exc


def _answer(name: str, status: int, headers: object, body: bytes) -> HttpResponseData:
    if len(body) > MAX_ANSWER:
        raise SeamCallFailed(name, f"answer larger than {MAX_ANSWER} bytes")
    pairs = tuple((str(k), str(v)) for k, v in headers)  # type: ignore[attr-defined]
    return HttpResponseData(status, pairs, body)
