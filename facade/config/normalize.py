"""Request-target normalization: the one place a path is decoded, before matching and forwarding.

The facade routes on exactly the string it forwards, so every ambiguity is settled here, once:

* only unreserved characters (``A-Z a-z 0-9 - . _ ~``) are percent-decoded (``%6F`` -> ``o``,
  ``%2e`` -> ``.``); every other escape stays encoded, with upper-case hex, so ``%252F`` is
  never decoded twice;
* dot segments are resolved after that decoding (or rejected in strict mode), and a ``..`` that
  would climb above the root is rejected;
* duplicate slashes are merged; a trailing slash is kept;
* encoded ``/`` and ``\\`` (``%2F``, ``%5C``), NUL and control characters, malformed escapes,
  fragments, Tomcat-style ``..;`` segments and anything but origin-form are rejected.

Pure functions only: no I/O, no aiohttp, so routes.yaml validation can use them too.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from facade.config.errors import PathRejected

DotSegments = Literal["resolve", "reject"]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# RFC 3986 pchar minus '%' (handled apart): unreserved, sub-delims, ':' and '@'. A raw backslash
# is kept as the literal character it is; it is never treated as a separator.
_SAFE_RAW = _UNRESERVED | frozenset("!$&'()*+,;=:@\\")
_SAFE_PATH = _SAFE_RAW | frozenset("/")
_HEX = frozenset(string.hexdigits)
_FORBIDDEN_DECODED = {0x2F: "an encoded slash (%2F)", 0x5C: "an encoded backslash (%5C)"}


@dataclass(frozen=True, slots=True)
class Target:
    """A request-target split and normalized: ``path`` is what is matched and forwarded."""

    path: str
    query: str | None  # raw bytes after '?', forwarded exactly as received

    @property
    def path_qs(self) -> str:
        return self.path if self.query is None else f"{self.path}?{self.query}"


def normalize_target(raw_target: str, *, dot_segments: DotSegments = "resolve") -> Target:
    """Split a raw request-target into a normalized path and the untouched query string."""
    if not raw_target.startswith("/"):
        # absolute-form (GET http://evil/ ...) and asterisk-form: the upstream host comes only
        # from routes.yaml, so a client-supplied authority is refused outright.
        raise PathRejected("the request-target must be a path starting with '/'")
    if "#" in raw_target:
        raise PathRejected("a request-target cannot carry a fragment ('#')")
    raw_path, sep, query = raw_target.partition("?")
    return Target(normalize_path(raw_path, dot_segments=dot_segments), query if sep else None)


def normalize_path(raw_path: str, *, dot_segments: DotSegments = "resolve") -> str:
    """Normalize an origin-form path (see the module docstring); raise PathRejected if unsafe."""
    if not raw_path.startswith("/"):
        raise PathRejected("the path must start with '/'")
    if _SAFE_PATH.issuperset(raw_path) and "//" not in raw_path and "/." not in raw_path:
        # nearly every request: no escape to decode or encode (each segment comes back as it
        # is), no empty segment to merge, no dot segment: the loop below would rebuild the
        # same string
        return raw_path
    parts = raw_path.split("/")[1:]
    out: list[str] = []
    trailing_slash = False
    last = len(parts) - 1
    for i, raw_segment in enumerate(parts):
        segment = _normalize_segment(raw_segment)
        trailing_slash = i == last and segment in ("", ".", "..")
        if segment in (".", "..") and dot_segments == "reject":
            raise PathRejected(f"dot segments ({segment!r}) are not accepted (strict paths)")
        if segment in ("", "."):
            continue
        if segment == "..":
            if not out:
                raise PathRejected("the path climbs above the root with '..'")
            out.pop()
            continue
        if segment.startswith((".;", "..;")):
            raise PathRejected("a dot segment with path parameters (';') is ambiguous")
        out.append(segment)
    if not out:
        return "/"
    return "/" + "/".join(out) + ("/" if trailing_slash else "")


def _normalize_segment(segment: str) -> str:
    if _SAFE_RAW.issuperset(segment):  # one C loop; "%" is not in it
        return segment  # the common case: nothing to decode or encode
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        if c == "%":
            hex_digits = segment[i + 1 : i + 3]
            if len(hex_digits) != 2 or not all(h in _HEX for h in hex_digits):
                raise PathRejected(f"malformed percent-escape {segment[i : i + 3]!r}")
            byte = int(hex_digits, 16)
            if byte in _FORBIDDEN_DECODED:
                raise PathRejected(f"{_FORBIDDEN_DECODED[byte]} in the path is ambiguous")
            if byte < 0x20 or byte == 0x7F:
                raise PathRejected(f"a control character (%{byte:02X}) in the path")
            decoded = chr(byte)
            out.append(decoded if decoded in _UNRESERVED else f"%{byte:02X}")
            i += 3
            continue
        if c in _SAFE_RAW:
            out.append(c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            raise PathRejected("a control character in the path")
        else:
            # not allowed raw in a path (space, quotes, non-ASCII): forward it encoded, as
            # browsers do, so the upstream and the matcher read the same bytes
            try:
                raw = c.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate: no byte sequence stands for it
                raise PathRejected("a character that is not valid UTF-8 in the path") from None
            out.extend(f"%{b:02X}" for b in raw)
        i += 1
    return "".join(out)
