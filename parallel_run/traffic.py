"""Recorded traffic as plain values: one request and the answer it got (pure, no I/O).

Every recording format (mitmproxy flow files, HAR, GoReplay) is read into ``RecordedExchange``
values, and the facade's own sampler builds them before they become mitmproxy flows, so the
replay and the redaction rules see one shape whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from parallel_run.redact import Redactor

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    """The answer as the client got it: status, headers and the whole (decoded) body."""

    status: int
    headers: Headers = ()
    body: bytes = b""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    """One recorded request (``target`` in origin form: ``/path?query``) and its answer.

    ``response`` is None when the recording holds no answer (a GoReplay request whose
    response was not captured, a flow that failed).
    """

    method: str
    target: str
    headers: Headers = ()
    body: bytes = b""
    response: RecordedResponse | None = None
    scheme: str = "http"
    host: str = "127.0.0.1"
    port: int = 80
    started: float = 0.0  # seconds since the epoch; 0 when the recording does not say

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def redacted(self, redactor: Redactor) -> RecordedExchange:
        """A copy with secret headers, query parameters and JSON/form fields redacted."""
        response = self.response
        if response is not None:
            response = replace(
                response,
                headers=redactor.headers(response.headers),
                body=redactor.body(response.body, header(response.headers, "content-type")),
            )
        return replace(
            self,
            target=redactor.target(self.target),
            headers=redactor.headers(self.headers),
            body=redactor.body(self.body, header(self.headers, "content-type")),
            response=response,
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of a recording that cannot be replayed, and why (``index`` counts from 1)."""

    index: int
    reason: str


def header(headers: Headers, name: str) -> str | None:
    """The first value of ``name`` (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def path_matches(path: str, pattern: str) -> bool:
    """Does ``path`` fall under ``pattern``? Segment by segment, as routes.yaml matches.

    A pattern with ``{name}`` segments is a route template (``/api/products/{sku}``;
    ``{rest:path}`` takes one or more final segments). Any other pattern is a prefix of whole
    segments: ``/api/products`` covers ``/api/products`` and ``/api/products/SKU-1``, never
    ``/api/productsX``. ``/`` covers everything.
    """
    parts = [p for p in path.split("/") if p]
    wanted = [p for p in pattern.split("/") if p]
    template = "{" in pattern
    for index, segment in enumerate(wanted):
        if segment.startswith("{") and segment.endswith(":path}"):
            return len(parts) > index
        if index >= len(parts):
            return False
        if segment.startswith("{") and segment.endswith("}"):
            continue
        if parts[index] != segment:
            return False
    return len(parts) == len(wanted) if template else True
