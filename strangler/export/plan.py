"""What routes.yaml means for a proxy that is not the facade: one plan, two renderings.

Both targets (``envoy.py``, ``nginx.py``) route on the same ordered list of rules: each
``match:`` entry becomes a path regex, and the list is sorted the way the facade's matcher
walks its trie (``facade.config.matching``): segment by segment, a literal before a
``{param}`` before a ``{rest:path}``. Two templates that can fit the same path are then in
the order the matcher would prefer them, so "the first regex that fits" picks the same
capability as the matcher does, method included (a route whose methods do not fit lets the
next one try, as the trie's walk backtracks).

Each rule is split by method into a ``safe`` group (GET, HEAD, OPTIONS, TRACE: retried,
always allowed to fall back, shadowed) and an ``unsafe`` one (the rest), since retries,
fallback and shadow traffic differ between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from facade.config import Capability, Config
from facade.config.matching import parse_template
from parallel_run.methods import IDEMPOTENT_METHODS, SAFE_METHODS

# the facade's own shadow default is 100%; a proxy mirrors a sample unless told otherwise,
# since each mirrored request costs the compare service one more monolith call
DEFAULT_MIRROR_PERCENT = 10.0
# no route may end up on a method Envoy's or nginx's matchers cannot spell
_METHOD = re.compile(r"^[A-Z]+$")

# PUT and DELETE: retried like reads, but never moved to the monolith once sent
IDEMPOTENT_UNSAFE = tuple(sorted(IDEMPOTENT_METHODS - SAFE_METHODS))
Kind = Literal["legacy", "shadow", "canary", "extracted", "facade"]
Group = Literal["safe", "unsafe"]


class ExportError(ValueError):
    """routes.yaml asks for something the target cannot express at all; ``str`` says why."""


@dataclass(frozen=True, slots=True)
class Options:
    """What routes.yaml does not say: where the proxy listens and its helpers are."""

    listen: tuple[str, int] = ("127.0.0.1", 8080)
    admin_port: int = 9901  # Envoy's admin, on loopback
    facade_url: str | None = None  # a Python facade, for capabilities with a translator
    compare_url: str | None = None  # the compare service, the mirror's target
    access_log: str | None = None  # "json": one JSON object per request on stdout (Envoy)
    # serve --engine envoy: its admin process, which answers /healthz, /readyz and /metrics
    admin_url: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``match:`` entry, one method group of it."""

    capability: str
    template: str
    group: Group
    # the methods this rule takes; None: every method of its group (the entry named none)
    methods: tuple[str, ...] | None
    line: int

    @property
    def name(self) -> str:
        return f"{self.capability} {self.template} {self.group}"


@dataclass(frozen=True, slots=True)
class Target:
    """What one capability compiles to."""

    name: str
    capability: Capability
    kind: Kind
    mirror_percent: float  # shadow only; 0 when there is nothing to mirror to

    @property
    def service(self) -> str:
        assert self.capability.service is not None
        return self.capability.service


def specificity(template: str) -> tuple[int, ...]:
    """The matcher's preference as a sort key: per segment, literal 0, param 1, rest 2."""
    rank = {"literal": 0, "param": 1, "rest": 2}
    return tuple(rank[segment.kind] for segment in parse_template(template))


def path_regex(template: str, *, decoded: bool = False) -> str:
    """An anchored regex (RE2 and PCRE alike) for the normalized paths ``template`` fits.

    ``decoded``: literals percent-decoded, for nginx's ``$uri``; else as the matcher holds them
    (Envoy routes on the path as sent, normalized but not decoded).
    """
    parts = []
    for segment in parse_template(template):
        if segment.kind == "literal":
            parts.append("/" + _escape(unquote(segment.value) if decoded else segment.value))
        elif segment.kind == "param":
            parts.append("/[^/]+")
        else:
            parts.append("(?:/[^/]+)+")
    if not parts:
        return "^/$"
    return "^" + "".join(parts) + "/?$"


# regex metacharacters a path literal may hold: a backslash before them means the character
# itself in RE2 and PCRE alike, and nginx keeps a backslash before them in a quoted string
_METACHARACTERS = frozenset(".*+()|^")
# characters that are themselves in every regex syntax: never escaped (RE2 rejects \_ or \-)
_PLAIN = frozenset("-_~%!&,=:@;'/")


def _escape(literal: str) -> str:
    out = []
    for char in literal:
        if (char.isascii() and char.isalnum()) or char in _PLAIN:
            out.append(char)
        elif char in _METACHARACTERS:
            out.append("\\" + char)
        elif not char.isascii():
            # as itself, UTF-8 in the file: RE2 matches the character, PCRE (no UTF) its bytes
            out.append(char)
        else:  # quotes, braces, brackets, $, ?, backslashes, spaces, controls: ASCII hex
            out.append(f"\\x{ord(char):02x}")
    return "".join(out)


def rules(config: Config) -> list[Rule]:
    """Every ``match:`` entry as rules, most specific first, each split by method group."""
    routes = sorted(config.matcher.routes, key=lambda r: specificity(r.template))
    found = []
    for route in routes:
        methods = sorted(route.methods) if route.methods is not None else None
        for method in methods or ():
            if not _METHOD.match(method):
                raise ExportError(f"method {method!r} of {route.capability!r} is not a token")
        if methods is None:
            found.append(Rule(route.capability, route.template, "safe", None, route.line))
            found.append(Rule(route.capability, route.template, "unsafe", None, route.line))
            continue
        safe = tuple(m for m in methods if m in SAFE_METHODS)
        unsafe = tuple(m for m in methods if m not in SAFE_METHODS)
        if safe:
            found.append(Rule(route.capability, route.template, "safe", safe, route.line))
        if unsafe:
            found.append(Rule(route.capability, route.template, "unsafe", unsafe, route.line))
    return found


def rule_methods(rule: Rule) -> tuple[str, ...] | None:
    """The methods a rule must check: its own, or its group's (None: any method)."""
    if rule.methods is not None:
        return rule.methods
    return tuple(sorted(SAFE_METHODS)) if rule.group == "safe" else None


def targets(config: Config, options: Options) -> dict[str, Target]:
    """Each capability's target; ExportError when one cannot be expressed at all."""
    found = {}
    for name, cap in config.routes.capabilities.items():
        kind: Kind = cap.mode
        if cap.mode != "legacy" and cap.translator is not None:
            if options.facade_url is None:
                raise ExportError(
                    f"capability {name!r} has a translator ({cap.translator}) and mode "
                    f"{cap.mode!r}: a proxy cannot translate; pass --facade-url to send its "
                    "requests to a Python facade (strangler serve)"
                )
            kind = "facade"
        mirror = 0.0
        if kind == "shadow" and options.compare_url is not None:
            mirror = (
                cap.shadow.percent
                if "percent" in cap.shadow.model_fields_set
                else (DEFAULT_MIRROR_PERCENT)
            )
        found[name] = Target(name, cap, kind, mirror)
    return found


def mirrors(target: Target, group: Group) -> bool:
    """Whether requests of ``group`` are mirrored to the compare service: safe ones only.

    The compare service asks the monolith itself for the control answer, so a mirrored write
    would reach the monolith twice (``shadow.unsafe_methods: send`` is the facade's alone)."""
    return target.kind == "shadow" and target.mirror_percent > 0 and group == "safe"


def falls_back(target: Target, group: Group) -> bool:
    """Whether a failed service call of ``group`` may be served by the monolith instead."""
    cap = target.capability
    return cap.fallback == "legacy" and (group == "safe" or cap.unsafe_falls_back)


@dataclass(frozen=True, slots=True)
class HostPort:
    scheme: str
    host: str
    port: int


def host_port(url: str) -> HostPort:
    """Scheme, host and port of an upstream URL (routes.yaml checked it already)."""
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        raise ExportError(f"upstream {url!r} has a path: a proxy forwards to an origin only")
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return HostPort(parts.scheme, parts.hostname, port)


def upstream_urls(config: Config, options: Options) -> Iterator[tuple[str, str]]:
    """(role, url) of every upstream the proxy may call, for an early check of each."""
    yield "legacy", config.routes.legacy.url
    for name, service in config.routes.services.items():
        yield f"service {name}", service.url
    if options.facade_url:
        yield "--facade-url", options.facade_url
    if options.compare_url:
        yield "--compare-url", options.compare_url


def check_upstreams(config: Config, options: Options) -> None:
    for role, url in upstream_urls(config, options):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExportError(f"{role}: expected an http(s) URL, got {url!r}")
        host_port(url)
