"""The monolith's endpoint inventory: every URL pattern it serves, as routes.yaml templates.

Written by the Django app's ``manage.py strangler_endpoints`` (``strangler_django``) as JSON and
named in routes.yaml by ``legacy.endpoints: FILE``. Read here, with no web or Django import, by
the facade (traffic per endpoint), the migration map, ``strangler plan`` and ``retire``.

The file::

    {"version": 1,
     "endpoints": [
       {"template": "/api/products/{sku}", "methods": ["GET", "HEAD"],
        "name": "api-product", "view": "catalog.views.product_detail",
        "pattern": "api/products/<str:sku>", "params": {"sku": "str"}},
       {"template": null, "methods": null, "view": "legacy.views.old_search",
        "pattern": "^search/(?P<q>[a-z]+)/$", "reason": "a regex no template can express"}
     ]}

``template`` null: the pattern cannot be written as a template; it is listed (the map shows
it), never matched. ``methods`` null: the view accepts any method (a function view without a
method decorator). ``params``: each template parameter's converter (``int``, ``slug``, a
registered one's name) or, for a ``re_path`` group, its regex (``[0-9]+``); absent (older
files): any segment (``str``), any rest (``path``).

Two patterns of one template shape (the parameters' names aside): Django resolves by path alone
and tries them in order, each with its own converters. A later one whose every parameter the
first one's accepts too (the same converter, or ``str`` / ``[^/]+``, ``path`` / ``.+``) is never
reached: ``shadowed_by`` the first's key. Otherwise (``<int:pk>`` then ``<slug:slug>``: Django
serves ``/posts/hello`` from the second) it ``overlaps`` the first: live, but the index cannot
tell converters apart, so its requests are counted under the first's key. Neither is matched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from facade.config.errors import ConfigError, Problem, quoted
from facade.config.matching import Matcher, Route, RouteConflict, TemplateError, parse_template

INVENTORY_VERSION = 1
# the methods an endpoint of ``methods: null`` is taken to answer, for ownership
ANY_METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_METHOD = re.compile(r"^[A-Z]+$")
# a request that matches no endpoint of the inventory is tallied under this name
UNKNOWN_ENDPOINT = "(unknown)"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One URL pattern of the monolith."""

    template: str | None  # routes.yaml's syntax; None: not expressible as a template
    methods: tuple[str, ...] | None  # None: any method
    view: str = ""  # dotted path of the view (class-based: the class)
    name: str | None = None  # the URL name, namespaced (``admin:index``)
    pattern: str = ""  # Django's own pattern text, includes joined
    reason: str | None = None  # why it is not expressible
    line: int = 0  # where the inventory file lists it
    shadowed_by: str | None = None  # an earlier endpoint's key serves all its requests
    # an earlier endpoint's key of the same shape whose converters take some of its paths, not
    # all: it serves requests, counted under that key (the index tells no converters apart)
    overlaps: str | None = None
    # each template parameter's converter or regex, by name (``{"pk": "int"}``)
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """What tallies, the map and the metric call this endpoint (unique in an inventory):
        its template, or else ``pattern`` (Django's text) marked as such."""
        if self.template is None:
            return f"(pattern) {self.pattern}"
        if self.shadowed_by is not None:
            return f"{self.template} (shadowed, line {self.line})"
        if self.overlaps is not None:
            return f"{self.template} (overlaps, line {self.line})"
        return self.template

    @property
    def matchable(self) -> bool:
        return self.template is not None and self.shadowed_by is None and self.overlaps is None

    def answers(self) -> tuple[str, ...]:
        """The methods this endpoint is taken to answer."""
        return self.methods if self.methods is not None else ANY_METHODS


@dataclass(frozen=True, slots=True)
class Inventory:
    source: str
    endpoints: tuple[Endpoint, ...]
    digest: str = ""  # sha256 of the file: two loads of the same file compare equal
    index: EndpointIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", EndpointIndex(self.endpoints))

    def by_key(self) -> dict[str, Endpoint]:
        return {e.key: e for e in self.endpoints}


class EndpointIndex:
    """The matchable endpoints compiled like routes.yaml's routes (one trie probe a segment).

    ``match`` takes a normalized path, as the facade forwards it, and gives the endpoint's key
    or None. The monolith's own resolver decides what it serves; this is the same answer for
    every expressible pattern (tests compare the two on the demo shop and a stock project).

    The matcher takes ``/shop`` and ``/shop/`` for one resource; Django does not. Two endpoints
    that differ by their final slash alone (``shop`` redirecting to ``shop/``) are one route
    here, and the request's own final slash picks between them.
    """

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        by_shape: dict[tuple[tuple[str, str], ...], dict[bool, Endpoint]] = {}
        for e in endpoints:
            if e.matchable and e.template is not None:
                twins = by_shape.setdefault(_shape(e.template), {})
                twins.setdefault(_slashed(e.template), e)
        routes: list[Route] = []
        self._twins: dict[str, dict[bool, Endpoint]] = {}
        for twins in by_shape.values():
            first = next(iter(twins.values()))
            methods = _methods(first.methods)
            if len(twins) > 1:
                self._twins[first.key] = twins
                both = [e.methods for e in twins.values()]
                methods = None
                if all(m is not None for m in both):
                    methods = frozenset(m for ms in both for m in ms or ())
            assert first.template is not None
            routes.append(Route(first.key, first.template, methods, first.line))
        self._matcher = Matcher(routes)

    def match(self, method: str, path: str) -> str | None:
        found = self._matcher.match(method, path)
        if found is None:
            return None
        twins = self._twins.get(found.route.capability)
        if twins is None:
            return found.route.capability
        endpoint = twins[_slashed(path)]
        if endpoint.methods is not None and method not in endpoint.methods:
            return None
        return endpoint.key


def _slashed(path: str) -> bool:
    return path != "/" and path.endswith("/")


def _methods(methods: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(methods) if methods is not None else None


# ---------------------------------------------------------------- ownership


@dataclass(frozen=True, slots=True)
class Claim:
    """Which capability serves each method of an endpoint, per routes.yaml's matcher.

    ``owners`` maps every method the endpoint answers to a capability, or None (the monolith's,
    by default). ``narrower`` lists capabilities whose routes take part of the endpoint's paths
    without taking all of them (``/api/products/featured`` inside ``/api/products/{sku}``).
    """

    endpoint: str
    owners: Mapping[str, str | None]
    narrower: tuple[str, ...] = ()

    @property
    def capabilities(self) -> tuple[str, ...]:
        found = {c for c in self.owners.values() if c is not None} | set(self.narrower)
        return tuple(sorted(found))

    @property
    def owner(self) -> str | None:
        """The one capability that takes all of it, or None (no one, or several in part)."""
        values = set(self.owners.values())
        if len(values) == 1 and not self.narrower:
            (only,) = values
            return only
        return None

    @property
    def partial(self) -> bool:
        """Claimed in part: some methods or paths by a capability, the rest by another or by
        none."""
        return bool(self.capabilities) and self.owner is None


def sample_path(template: str) -> str:
    """A concrete path the template matches (``{x}`` -> ``x``, ``{rest:path}`` -> ``rest/x``)."""
    parts = []
    for segment in parse_template(template):
        if segment.kind == "literal":
            parts.append(segment.value)
        elif segment.kind == "param":
            parts.append(f"{{{segment.value}}}")
        else:
            parts.append(f"{{{segment.value}}}/x")
    return "/" + "/".join(parts)


def ownership(inventory: Inventory, matcher: Matcher) -> dict[str, Claim]:
    """Each endpoint's claim by the capabilities of ``matcher`` (routes.yaml's).

    An endpoint's method belongs to the capability whose route matches a sample of its path;
    a capability route whose own sample falls inside the endpoint (by the inventory's index)
    without matching the endpoint's sample is a narrower claim. Static: traffic decides the
    share of each in the map.
    """
    narrower: dict[str, set[str]] = {}
    for route in matcher.routes:
        sample = sample_path(route.template)
        for method in route.methods or ANY_METHODS:
            key = inventory.index.match(method, sample)
            if key is not None:
                narrower.setdefault(key, set()).add(route.capability)
    claims: dict[str, Claim] = {}
    for endpoint in inventory.endpoints:
        if endpoint.template is None:
            claims[endpoint.key] = Claim(endpoint.key, dict.fromkeys(endpoint.answers()))
            continue
        sample = sample_path(endpoint.template)
        owners: dict[str, str | None] = {}
        for method in endpoint.answers():
            found = matcher.match(method, sample)
            owners[method] = found.route.capability if found is not None else None
        taken = {c for c in owners.values() if c is not None}
        extra = tuple(sorted(narrower.get(endpoint.key, set()) - taken))
        claims[endpoint.key] = Claim(endpoint.key, owners, extra)
    return claims


def retired_claims(
    inventory: Inventory, matcher: Matcher, retired: Iterable[str]
) -> dict[tuple[str, str], str]:
    """(endpoint key, method) -> the retired capability its claim names for that method: a
    request for it that the monolith answers is an alarm (``strangler_retired_reached_monolith``,
    ``strangler status``)."""
    gone = set(retired)
    if not gone:
        return {}
    return {
        (key, method): owner
        for key, claim in ownership(inventory, matcher).items()
        for method, owner in claim.owners.items()
        if owner in gone
    }


# ---------------------------------------------------------------- reading the file


def parse_inventory(text: str, *, source: str = "endpoints.json") -> Inventory:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem(source, exc.lineno, f"not JSON: {exc.msg}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
        raise ConfigError(
            [
                Problem(
                    source,
                    1,
                    "expected an object with 'version' and an 'endpoints' list (written by "
                    "`manage.py strangler_endpoints`)",
                )
            ]
        )
    if data.get("version") != INVENTORY_VERSION:
        raise ConfigError(
            [
                Problem(
                    source,
                    _line_of_key(text, "version"),
                    f"version must be {INVENTORY_VERSION}, got {quoted(data.get('version'))}",
                )
            ]
        )
    lines = _entry_lines(text)
    problems: list[Problem] = []
    endpoints: list[Endpoint] = []
    seen: dict[tuple[tuple[tuple[str, str], ...], bool], list[Endpoint]] = {}
    for i, raw in enumerate(data["endpoints"]):
        line = lines[i] if i < len(lines) else 1
        try:
            endpoint = _endpoint(raw, line)
        except ValueError as exc:
            problems.append(Problem(source, line, f"endpoints[{i}]: {exc}"))
            continue
        template = endpoint.template
        if template is not None:
            # Django's resolver picks a pattern by path alone (the view checks the method),
            # the first whose converters accept the path. "The same shape": as the matcher
            # sees it, which ignores the parameters' names and converters; a final slash is
            # told apart (EndpointIndex)
            shape = (_shape(template), _slashed(template))
            earlier = seen.setdefault(shape, [])
            if earlier:
                cover = next((e for e in earlier if _accepts_all_of(e, endpoint)), None)
                if cover is not None:
                    endpoint = replace(endpoint, shadowed_by=cover.key)
                else:
                    endpoint = replace(endpoint, overlaps=earlier[0].key)
            earlier.append(endpoint)
        endpoints.append(endpoint)
    if problems:
        raise ConfigError(problems[:50])
    try:
        return Inventory(source, tuple(endpoints), hashlib.sha256(text.encode()).hexdigest())
    except RouteConflict as exc:  # the duplicates are shadowed above: a defect if it happens
        raise ConfigError([Problem(source, exc.second.line, str(exc))]) from None


def _shape(template: str) -> tuple[tuple[str, str], ...]:
    """What the matcher tells apart in a template: its literals and where its parameters are."""
    return tuple((s.kind, s.value if s.kind == "literal" else "") for s in parse_template(template))


# converters and regexes that accept the same paths, written one way
_SAME = {"str": "[^/]+", "path": ".+", "int": "[0-9]+", "slug": "[-a-zA-Z0-9_]+"}
# what accepts every value a parameter of that kind can have
_ANY = {"param": frozenset({"[^/]+"}), "rest": frozenset({".*"})}


def _converters(endpoint: Endpoint) -> list[tuple[str, str]]:
    """(kind, converter) of each parameter of the endpoint's template, in order; a parameter
    the file gives no converter for takes any value (``str``, ``path``)."""
    assert endpoint.template is not None
    given = dict(endpoint.params)
    default = {"param": "str", "rest": "path"}
    return [
        (s.kind, _SAME.get(c := given.get(s.value, default[s.kind]), c))
        for s in parse_template(endpoint.template)
        if s.kind != "literal"
    ]


def _accepts_all_of(first: Endpoint, later: Endpoint) -> bool:
    """Whether every path of ``later`` (same shape) is one ``first``'s converters accept."""
    for (kind, a), (_, b) in zip(_converters(first), _converters(later), strict=True):
        if a != b and a not in _ANY[kind] and not (kind == "rest" and a == ".+" and b != ".*"):
            return False
    return True


def _params(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ValueError("params must map each parameter's name to its converter (a string)")
    return tuple(raw.items())


def _endpoint(raw: Any, line: int) -> Endpoint:
    if not isinstance(raw, dict):
        raise ValueError("each endpoint is an object")
    template = raw.get("template")
    if template is not None:
        if not isinstance(template, str):
            raise ValueError(f"template must be a string or null, got {quoted(template)}")
        try:
            parse_template(template)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
    methods = raw.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not methods:
            raise ValueError("methods must be a non-empty list, or null for any method")
        for method in methods:
            if not isinstance(method, str) or not _METHOD.match(method):
                raise ValueError(f"{quoted(method)} is not an HTTP method in capitals")
        methods = tuple(dict.fromkeys(methods))
    pattern = raw.get("pattern", "")
    if template is None and not pattern:
        raise ValueError("an endpoint with no template needs its 'pattern'")
    for name in ("view", "pattern"):
        if not isinstance(raw.get(name, ""), str):
            raise ValueError(f"{name} must be a string")
    for name in ("name", "reason"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise ValueError(f"{name} must be a string or null")
    return Endpoint(
        template=template,
        methods=methods,
        view=raw.get("view", ""),
        name=raw.get("name"),
        pattern=pattern,
        reason=raw.get("reason"),
        line=line,
        params=_params(raw.get("params")),
    )


def _line_of_key(text: str, key: str) -> int:
    at = _top_level_value(text, key)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


_SPACE = " \t\r\n"


def _top_level_value(text: str, key: str) -> int:
    """Where the value of the top-level object's ``key`` starts, or -1: the object is scanned
    member by member, so the key's text inside an earlier string or value is never taken."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0, _SPACE)
    if not text.startswith("{", pos):
        return -1
    pos += 1
    try:
        while True:
            pos = _skip(text, pos, _SPACE + ",")
            if not text.startswith('"', pos):
                return -1
            name, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos, _SPACE + ":")
            if name == key:
                return pos
            _, pos = decoder.raw_decode(text, pos)
    except json.JSONDecodeError:
        return -1


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _entry_lines(text: str) -> list[int]:
    """The 1-based line where each element of the top-level ``endpoints`` list starts."""
    at = _top_level_value(text, "endpoints")
    if at < 0 or not text.startswith("[", at):
        return []
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos = at + 1
    while True:
        pos = _skip(text, pos, _SPACE + ",")
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return lines


def dump_inventory(endpoints: Sequence[Mapping[str, Any]]) -> str:
    """The file's text for endpoint dicts: one endpoint per line, so errors name its line."""
    body = ",\n".join("  " + json.dumps(dict(e), sort_keys=True) for e in endpoints)
    return f'{{"version": {INVENTORY_VERSION}, "endpoints": [\n{body}\n]}}\n'
