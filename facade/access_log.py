"""The JSON access log (``strangler serve --access-log json``): one object per request, one line.

The same keys, with the same meanings, as the Envoy engine's access log
(``strangler.export.envoy.ACCESS_LOG_FORMAT``; docs/engines.md compares them):

- ``time``: when the request arrived, RFC 3339 in UTC with milliseconds;
- ``method``, ``path``: the path as forwarded (normalized) with its query, the values of secret
  query parameters (``token=``, ``password=``, ... and routes.yaml's ``store.redact_fields``)
  replaced by ``[REDACTED]``; null for a request-target that could not be parsed;
- ``status``, ``latency_ms`` (to the end of the answer), ``bytes`` (of the answer's body);
- ``capability`` (null for none), ``mode``, ``served_by`` (``legacy``, the service's name,
  ``facade`` for what the facade answered itself; a fallback is ``legacy``);
- ``request_id``; ``trace_id``: the trace id of the ``traceparent`` sent upstream (the client's
  when it sent a valid one).

Pure: ``entry`` builds the line from a finished exchange; the caller writes it.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from aiohttp import web

from facade.config.derived import PerConfig
from facade.config.evidence import redactor_for
from facade.exchange import Exchange

FIELDS = (
    "time",
    "method",
    "path",
    "status",
    "latency_ms",
    "bytes",
    "capability",
    "mode",
    "served_by",
    "request_id",
    "trace_id",
)
# statuses whose answers never carry a body (RFC 9110 §6.4.1)
_BODILESS = frozenset({204, 304})
_redactors = PerConfig(redactor_for)  # one per configuration: a reload's new names apply at once


def rfc3339(epoch: float) -> str:
    """``2026-12-03T21:03:34.766Z``: UTC, milliseconds, as Envoy's ``%START_TIME%`` is written."""
    seconds, millis = divmod(int(epoch * 1000), 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4)  # one formatted second, reused by the requests within it
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def trace_id(traceparent: str) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``), else None."""
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return None


def body_bytes(request: web.BaseRequest, response: web.StreamResponse, status: int) -> int:
    """Bytes of the answer's body: what Envoy's ``%BYTES_SENT%`` counts (headers excluded)."""
    if request.method == "HEAD" or status in _BODILESS or status < 200:
        return 0
    if isinstance(response, web.Response):
        # written after the handler returns: its length is known now
        body = response.body
        if isinstance(body, bytes | bytearray):
            return len(body)
    if response.content_length is not None:
        return response.content_length
    # streamed chunked: what was written, its chunk framing (and status line) included
    return response.body_length


def record(
    ex: Exchange, response: web.StreamResponse, *, status: int, elapsed: float
) -> dict[str, Any]:
    """The access log's object for one finished exchange (``elapsed``: seconds)."""
    request = ex.request
    target = ex.target
    capability = ex.capability_name
    return {
        "time": rfc3339(time.time() - elapsed),
        "method": request.method,
        "path": _redactors.get(ex.config).target(target.path_qs) if target is not None else None,
        "status": status,
        "latency_ms": round(elapsed * 1000, 3),
        "bytes": body_bytes(request, response, status),
        "capability": None if capability == "-" else capability,
        "mode": ex.mode,
        "served_by": ex.served_by,
        "request_id": ex.request_id,
        "trace_id": trace_id(ex.traceparent),
    }


def entry(ex: Exchange, response: web.StreamResponse, *, status: int, elapsed: float) -> str:
    """``record`` as one line of JSON (no newline)."""
    return _ENCODER.encode(record(ex, response, status=status, elapsed=elapsed))


# json.dumps with any argument but the object builds a new encoder per call: one, made once
_ENCODER = json.JSONEncoder(separators=(",", ":"))
