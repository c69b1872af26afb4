"""Pure HTTP messages the translators work on, and the translator port itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class HttpRequestData:
    method: str
    path: str  # as sent, percent-encoding kept; no query string
    query: Pairs = ()
    headers: Pairs = ()
    body: bytes = b""

    def query_value(self, name: str) -> str | None:
        """The last value of ``name``, as Django's ``request.GET.get`` picks it."""
        found = None
        for key, value in self.query:
            if key == name:
                found = value
        return found

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass(frozen=True, slots=True)
class HttpResponseData:
    status: int
    headers: Pairs = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@runtime_checkable
class Translator(Protocol):
    """One capability's translator pair; both methods are pure and raise TranslationError."""

    def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
        """The service's request for a legacy client's request."""
        ...

    def response_to_legacy(
        self, legacy_req: HttpRequestData, service_resp: HttpResponseData, /
    ) -> HttpResponseData:
        """The legacy answer to ``legacy_req``, built from the service's answer."""
        ...
