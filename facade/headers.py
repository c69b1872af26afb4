"""Header policy at the boundary: what crosses the facade, in each direction. Pure functions.

Requests: hop-by-hop headers (RFC 9110 §7.6.1) and every header named in ``Connection`` are
dropped; so are framing headers (the client library frames the body it sends), names with an
underscore (gunicorn turns them into WSGI environ keys that can shadow ``SCRIPT_NAME`` and the
like), method-override headers, ``Expect`` (the facade answers 100-continue itself), the
client's own forwarding headers, which the facade replaces with values it can vouch for, and
every ``X-Strangler-*`` header: that prefix is the facade's own namespace (the shadow marker
``X-Strangler-Shadow``, replay's run id), so a client could otherwise forge what only the
facade may say (SECURITY.md S4).

``Host`` must be a valid authority (a DNS name or IP address, with an optional port: see
``valid_authority``): it is copied into rewritten ``Location`` headers and
``X-Forwarded-Host``, where anything else would let a client write into another user's
redirect. A trusted proxy's ``X-Forwarded-Host`` must be one too, else the Host is used.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy, istr

# Header names are compared lower-cased: a frozenset of ``istr`` does not match "keep-alive" or
# "TRANSFER-ENCODING" (istr only compares case-insensitively inside a CIMultiDict), and clients
# may spell a name in any case.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "HTTP2-Settings",
    )
)
_REQUEST_ONLY_DROPPED = frozenset(
    h.lower()
    for h in (
        "Content-Length",  # re-set from the parsed, validated length; never copied
        "Expect",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        # forwarding headers: rebuilt by the facade from what it saw
        "Forwarded",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Port",
        "X-Forwarded-Prefix",
        "X-Forwarded-SSL",
        "X-Forwarded-Scheme",
        "X-Real-IP",
        "X-Url-Scheme",
        "Front-End-Https",
    )
)
# every request header the facade never forwards as a client sent it; the exported Envoy and
# nginx configurations (strangler.export) drop the same names
NEVER_FORWARDED = HOP_BY_HOP | _REQUEST_ONLY_DROPPED
# the facade's own header namespace: never taken from a client, never passed on from one
FACADE_PREFIX = "x-strangler-"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
# ids only need to be unique, not secret: a PRNG seeded from the OS saves a syscall per request
_random = random.Random()
TRACEPARENT = istr("traceparent")
REQUEST_ID = istr("X-Request-Id")
_REPLACED_BY_FACADE = frozenset({TRACEPARENT.lower(), REQUEST_ID.lower()})


_NONE: frozenset[str] = frozenset()


def connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> frozenset[str]:
    """Header names listed in every ``Connection`` header, lower-cased."""
    values = headers.getall("Connection", ())
    if not values:  # most requests: no generator, no new set
        return _NONE
    return frozenset(
        token.strip().lower() for value in values for token in value.split(",") if token.strip()
    )


@dataclass(frozen=True, slots=True)
class Peer:
    """What the facade knows about the client: socket address, scheme and Host header."""

    address: str
    scheme: str
    host: str | None


def upstream_request_headers(
    incoming: CIMultiDictProxy[str],
    *,
    peer: Peer,
    trusted_hops: int = 0,
    request_id: str,
    traceparent: str,
) -> CIMultiDict[str]:
    """The headers an upstream sees: the client's end-to-end ones plus the facade's own."""
    dropped = connection_tokens(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in _REQUEST_ONLY_DROPPED or lower in dropped:
            if lower == "te" and value.strip().lower() == "trailers" and "te" not in dropped:
                out.add(name, value)
            continue
        if "_" in name or lower in _REPLACED_BY_FACADE or lower.startswith(FACADE_PREFIX):
            continue
        out.add(name, value)
    if peer.host is not None and "Host" not in out:
        # HTTP/1.0 without Host: the client library would otherwise send the upstream's own
        # (internal) address, and the upstream would build its URLs from it
        out["Host"] = peer.host
    out["X-Forwarded-For"] = forwarded_for(incoming, peer.address, trusted_hops)
    scheme, host = peer.scheme, peer.host
    if trusted_hops > 0:
        # behind a trusted proxy (a TLS-terminating load balancer), what the client asked for is
        # what that proxy says, not what the proxy->facade hop was
        told = _rightmost(incoming, "X-Forwarded-Proto")
        scheme = told if told in ("http", "https") else scheme
        told_host = _rightmost(incoming, "X-Forwarded-Host")
        # the proxy relays what its client sent: held to the rule the facade holds Host to
        host = told_host if told_host is not None and valid_authority(told_host) else host
    out["X-Forwarded-Proto"] = scheme
    if host is not None:
        out["X-Forwarded-Host"] = host
    out[TRACEPARENT] = traceparent
    out[REQUEST_ID] = request_id
    return out


def without_facade_headers(incoming: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """``incoming`` without ``X-Strangler-*``: what a translator may see of the client's headers."""
    if not any(name.lower().startswith(FACADE_PREFIX) for name in incoming):
        return incoming
    return CIMultiDictProxy(
        CIMultiDict(
            (name, value)
            for name, value in incoming.items()
            if not name.lower().startswith(FACADE_PREFIX)
        )
    )


# A name a resolver could look up: letters, digits, '-', '.' and '_' (seen in real internal
# names), at least one (an empty Host names nothing). RFC 3986's reg-name also allows '~',
# %XX and the sub-delims "!$&'()*+,;=", which no DNS name or IPv4 address contains and which
# would let "a,b" or "(evil)" into a Location. IP-literals are checked by ``ipaddress`` (no
# zone ids, no IPvFuture).
_REG_NAME = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


# a facade sees a handful of Host values, each on every request: the check is pure, and a
# bounded cache keeps a flood of distinct values from costing more than the check itself
@functools.lru_cache(maxsize=256)
def valid_authority(value: str) -> bool:
    """Is ``value`` a Host the facade may forward and write into ``Location``: ``host[:port]``.

    ``host`` is a DNS name (which covers IPv4) or a bracketed IPv6 address; ``port``
    is 1 to 5 digits up to 65535. No userinfo (``@``), path, whitespace or control character.
    """
    host, port = value, None
    if value.startswith("["):
        literal, sep, rest = value[1:].partition("]")
        if not sep or "%" in literal or (rest and not rest.startswith(":")):
            return False  # ipaddress would take a zone id ("%eth0"): not for a Host
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        port = rest[1:] if rest else None
    else:
        host, sep, tail = value.rpartition(":")
        if not sep:
            host = value
        else:
            port = tail
        if not _REG_NAME.fullmatch(host):
            return False
    return port is None or (_PORT.fullmatch(port) is not None and int(port) <= 65535)


def authority_of(sockname: object) -> str | None:
    """``host:port`` of a TCP socket address (IPv6 bracketed); None for anything else."""
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return None
    host, port = sockname[0], sockname[1]
    if not isinstance(host, str) or not isinstance(port, int):
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _rightmost(incoming: CIMultiDictProxy[str], name: str) -> str | None:
    values = incoming.getall(name, ())
    if not values:
        return None
    return values[-1].rsplit(",", 1)[-1].strip().lower() or None


def forwarded_for(incoming: CIMultiDictProxy[str], peer_address: str, trusted_hops: int) -> str:
    """``X-Forwarded-For`` with exactly ``trusted_hops`` right-most client-sent hops kept.

    At the edge (0 trusted hops) a client's own value is discarded: it is whatever the client
    wants it to be. Behind N proxies, only the N right-most entries were written by them.
    """
    if trusted_hops <= 0:
        return peer_address
    hops = [
        hop.strip()
        for value in incoming.getall("X-Forwarded-For", ())
        for hop in value.split(",")
        if hop.strip()
    ]
    kept = hops[-trusted_hops:] if hops else []
    return ", ".join([*kept, peer_address])


def downstream_response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The headers a client sees from an upstream answer: end-to-end ones only."""
    dropped = connection_tokens(upstream)
    return CIMultiDict(
        [
            (name, value)
            for name, value in upstream.items()
            if (lower := name.lower()) not in HOP_BY_HOP and lower not in dropped
        ]
    )


def request_id_from(incoming: CIMultiDictProxy[str]) -> str:
    """Keep a well-formed incoming ``X-Request-Id`` (it ties logs across hops); else mint one."""
    value = incoming.get(REQUEST_ID)
    if value is not None and _REQUEST_ID.match(value):
        return value
    return f"{_random.getrandbits(128):032x}"


def traceparent_from(incoming: CIMultiDictProxy[str]) -> str:
    """A W3C ``traceparent``: the client's when valid, else a new root span."""
    value = incoming.get(TRACEPARENT)
    if value is not None:
        m = _TRACEPARENT.match(value.strip())
        if m and m.group(1) != "0" * 32 and m.group(2) != "0" * 16:
            return value.strip()
    bits = _random.getrandbits(192)  # 128-bit trace id, 64-bit span id, neither all zeros
    return f"00-{bits >> 64 | 1 << 127:032x}-{bits & (2**64 - 1) | 1:016x}-01"
