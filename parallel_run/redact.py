"""Redaction of secrets in headers, targets, bodies and log lines (pure, no I/O).

SECURITY.md, "Secrets": nothing secret reaches a log, the result store, a report or a recorded
flow. A ``Redactor`` is built once from the defaults below plus what routes.yaml's
``store.redact`` names, and applied to every observation *before* it is stored or logged.

What each header keeps, so a diff still says *what kind* of secret differed:

- ``Authorization``, ``Proxy-Authorization``: the scheme (``Bearer [REDACTED]``);
- ``Cookie``: the cookie names (``a=[REDACTED]; b=[REDACTED]``);
- ``Set-Cookie``: the name and every attribute (``sid=[REDACTED]; Path=/; HttpOnly``);
- ``X-API-Key`` and every configured header: nothing (``[REDACTED]``).

Query parameters (``token``, ``code``, ``password``, ...) lose their values and nothing else:
the rest of the target is kept byte for byte. JSON bodies lose the values of the named fields,
at any depth; bodies that are not JSON are returned untouched. Every method is idempotent:
redacting twice gives what redacting once gave.

Configured names *add* to the defaults, never replace them: a routes.yaml that lists only
``cookie`` still has its ``Authorization`` headers redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

MASK = "[REDACTED]"

KEEP_SCHEME = frozenset({"authorization", "proxy-authorization"})
DEFAULT_HEADERS = frozenset({*KEEP_SCHEME, "cookie", "set-cookie", "x-api-key"})
DEFAULT_QUERY_PARAMS = frozenset({"token", "code", "password", "secret", "access_token", "api_key"})
DEFAULT_JSON_FIELDS = frozenset({"password"})

_FORM = "application/x-www-form-urlencoded"


def _names(extra: Iterable[str], defaults: frozenset[str]) -> frozenset[str]:
    return defaults | {name.strip().lower() for name in extra if name.strip()}


class Redactor:
    """Replaces secret values by ``[REDACTED]``; names are matched case-insensitively."""

    __slots__ = ("_header_re", "_headers", "_json_fields", "_query_params", "_query_re")

    def __init__(
        self,
        *,
        headers: Iterable[str] = (),
        query_params: Iterable[str] = (),
        json_fields: Iterable[str] = (),
    ) -> None:
        self._headers = _names(headers, DEFAULT_HEADERS)
        self._query_params = _names(query_params, DEFAULT_QUERY_PARAMS)
        self._json_fields = _names(json_fields, DEFAULT_JSON_FIELDS)
        params = "|".join(sorted(map(re.escape, self._query_params), key=len, reverse=True))
        # a parameter starts the query, follows a separator, or stands alone in a log line
        self._query_re = re.compile(
            rf"(?:(?<=[?&;\s\"'(,])|^)((?:{params})=)([^&#\s\"']*)", re.IGNORECASE
        )
        full = sorted(self._headers - KEEP_SCHEME - {"cookie", "set-cookie"}, key=len)
        full_names = "|".join(map(re.escape, reversed(full)))
        self._header_re = re.compile(
            rf"(?:(?<=[\s\"'{{,])|^)((?:{full_names})\s*[:=]\s*\"?)([^\s\",}}]+)", re.IGNORECASE
        )

    @property
    def header_names(self) -> frozenset[str]:
        """Every header whose value is redacted (lower case)."""
        return self._headers

    @property
    def json_fields(self) -> frozenset[str]:
        """Every JSON field name whose value is redacted (lower case)."""
        return self._json_fields

    @property
    def query_params(self) -> frozenset[str]:
        """Every query parameter whose value is redacted (lower case)."""
        return self._query_params

    # headers -----------------------------------------------------------------------------

    def header(self, name: str, value: str) -> str:
        """One header value, redacted as its name asks (unchanged if the name is not secret)."""
        lower = name.strip().lower()
        if lower not in self._headers:
            return value
        if lower in KEEP_SCHEME:
            scheme, sep, rest = value.strip().partition(" ")
            if not sep or not rest.strip():
                return MASK
            return f"{scheme} {MASK}"
        if lower == "cookie":
            return "; ".join(_cookie_pair(part) for part in value.split(";") if part.strip())
        if lower == "set-cookie":
            first, sep, attributes = value.partition(";")
            return _cookie_pair(first) + sep + attributes
        return MASK

    def headers(self, pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """Header pairs with secret values redacted; names, order and repeats are kept."""
        return tuple((name, self.header(name, value)) for name, value in pairs)

    # targets -----------------------------------------------------------------------------

    def target(self, path_qs: str) -> str:
        """``path?query`` with secret parameter values redacted; everything else byte for byte."""
        path, sep, rest = path_qs.partition("?")
        if not sep:
            return path_qs
        query, hash_sep, fragment = rest.partition("#")
        return path + sep + self._query(query, self._query_params) + hash_sep + fragment

    def _query(self, query: str, names: frozenset[str]) -> str:
        parts = re.split(r"([&;])", query)
        for index in range(0, len(parts), 2):
            name, eq, _value = parts[index].partition("=")
            if eq and unquote_plus(name).strip().lower() in names:
                parts[index] = name + eq + MASK
        return "".join(parts)

    # bodies ------------------------------------------------------------------------------

    def body(self, data: bytes, content_type: str | None = None) -> bytes:
        """A body with the values of secret JSON fields (or form fields) redacted.

        JSON is recognised by its content type (``application/json``, ``*+json``) or, when
        the content type says nothing, by parsing. Anything else, and JSON that does not
        parse, is returned untouched. A body without secrets is returned as the same bytes.
        """
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media == _FORM:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return data
            form_names = self._query_params | self._json_fields
            redacted = self._query(text, form_names)
            return data if redacted == text else redacted.encode("utf-8")
        is_json = media.endswith(("/json", "+json"))
        if not is_json and media and media != "application/octet-stream":
            return data
        if data.strip()[:1] not in (b"{", b"["):
            return data
        if b"\\u" not in data and not self._names_in(data):
            # no secret field name anywhere in the bytes (and no escapes that could spell one):
            # nothing to redact, and no parse on the recording path
            return data
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):
            return data
        redacted_value, changed = self._redact_json(parsed)
        if not changed:
            return data
        return json.dumps(redacted_value, ensure_ascii=False, separators=(",", ":")).encode()

    def _names_in(self, data: bytes) -> bool:
        lowered = data.lower()
        return any(name.encode() in lowered for name in self._json_fields)

    def value(self, obj: Any) -> Any:
        """A JSON-like value with the named fields redacted at any depth (for diff values)."""
        return self._redact_json(obj)[0]

    def _redact_json(self, obj: Any) -> tuple[Any, bool]:
        if isinstance(obj, dict):
            changed = False
            out: dict[Any, Any] = {}
            for key, item in obj.items():
                if isinstance(key, str) and key.lower() in self._json_fields:
                    out[key] = MASK
                    changed = changed or item != MASK
                else:
                    out[key], sub = self._redact_json(item)
                    changed = changed or sub
            return out, changed
        if isinstance(obj, list | tuple):
            items = [self._redact_json(item) for item in obj]
            return [item for item, _ in items], any(sub for _, sub in items)
        return obj, False

    # free text ---------------------------------------------------------------------------

    def text(self, line: str) -> str:
        """A log line or error message with secrets it may quote redacted.

        Catches ``token=...`` style parameters, ``Bearer``/``Basic`` credentials, headers
        written ``Name: value``, and ``"password": "..."`` JSON members.
        """
        line = self._query_re.sub(lambda m: m.group(1) + MASK, line)
        line = _CREDENTIAL_RE.sub(lambda m: m.group(1) + MASK, line)
        line = self._header_re.sub(lambda m: m.group(1) + MASK, line)
        line = _COOKIE_LINE_RE.sub(
            lambda m: m.group(1) + self.header(m.group(1).split(":")[0].strip(), m.group(2)), line
        )
        for field in self._json_fields:
            line = re.sub(
                rf"(\"{re.escape(field)}\"\s*:\s*)(\"(?:[^\"\\]|\\.)*\"|[^\s,}}\]]+)",
                lambda m: m.group(1) + f'"{MASK}"',
                line,
                flags=re.IGNORECASE,
            )
        return line


def _cookie_pair(part: str) -> str:
    name, eq, _value = part.strip().partition("=")
    if not eq:
        return MASK
    return f"{name.strip()}={MASK}"


# a credential after its scheme: "Bearer abc.def", "Basic dXNlcjpw"
_CREDENTIAL_RE = re.compile(
    r"\b((?:Bearer|Basic|Digest|Token|ApiKey)\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=:-]+",
    re.IGNORECASE,
)
# "Cookie: a=1; b=2" in a log line: the pairs up to a space or a quote
_COOKIE_LINE_RE = re.compile(
    r"((?:^|(?<=[\s\"']))(?:set-)?cookie\s*:\s*)([^\s\"';]+(?:;\s*[^\s\"';]+)*)", re.IGNORECASE
)
