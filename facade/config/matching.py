"""Compiled method + path-template matching, independent of the number of capabilities.

Templates are ``/api/products``, ``/api/products/{sku}`` and ``/files/{rest:path}`` (a final
catch-all of one or more segments). They are compiled into a segment trie, so a lookup costs
one dictionary probe per path segment whatever the number of routes. Matching is segment-aware
(``/orders`` never matches ``/ordersXYZ``) and case-sensitive; ``/orders`` and ``/orders/`` are
the same resource. When several templates fit, the more specific one wins segment by segment:
a literal beats ``{param}``, which beats ``{rest:path}``. Two routes that fit exactly the same
requests are a configuration error (``RouteConflict``), never a silent first-wins.

Paths given to ``Matcher.match`` must already be normalized (``facade.config.normalize``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from facade.config.errors import FacadeError, PathRejected
from facade.config.normalize import _SAFE_RAW, _normalize_segment

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}$")


@dataclass(frozen=True, slots=True)
class Route:
    """One ``match:`` entry of a capability; ``methods`` None means any method."""

    capability: str
    template: str
    methods: frozenset[str] | None = None
    line: int = 0  # where routes.yaml declares it, for error messages


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: Mapping[str, str]


class TemplateError(FacadeError, ValueError):
    """A path template is malformed."""


class RouteConflict(FacadeError, ValueError):
    """Two routes fit exactly the same requests."""

    def __init__(self, first: Route, second: Route) -> None:
        self.first, self.second = first, second
        super().__init__(
            f"route {second.template!r} of capability {second.capability!r} overlaps "
            f"{first.template!r} of capability {first.capability!r} (line {first.line}) "
            "for the same methods: a request could go to either"
        )


class _Segment(NamedTuple):
    # a tuple, made in a third of the time of a frozen dataclass (20,000 templates of 10,000
    # capabilities are 60,000 segments); immutable and compared by value all the same
    kind: str  # "literal" | "param" | "rest"
    value: str  # literal text, or the parameter's name


# characters of a template whose segments are all literals as written (normalize's safe ones)
_PLAIN = _SAFE_RAW | frozenset("/")
# a segment made by tuple.__new__ (C) rather than the NamedTuple's __new__ (Python)
_segment = functools.partial(tuple.__new__, _Segment)


# routes.yaml's check parses each template and the matcher built from it parses it again: the
# second is a lookup (10,000 capabilities: 20,000 templates, 0.15 s). Bounded, the cache holds
# a few MB at most across reloads; its segments are immutable and shared safely.
@functools.lru_cache(maxsize=1 << 16)
def parse_template(template: str) -> tuple[_Segment, ...]:
    """Split a template into segments, normalizing literals the way request paths are."""
    if not template.startswith("/"):
        raise TemplateError(f"path template {template!r} must start with '/'")
    raw = template.rstrip("/").split("/")[1:] if template != "/" else []
    if _PLAIN.issuperset(template) and "//" not in template and "/." not in template:
        # each segment a literal as written (no brace, no escape to normalize), none empty or
        # a dot segment: checked for the whole template in three C calls
        return tuple([_segment(("literal", part)) for part in raw])
    segments: list[_Segment] = []
    for i, part in enumerate(raw):
        if "{" in part and (m := _PARAM.match(part)):
            if m.group(2) and i != len(raw) - 1:
                raise TemplateError(
                    f"{{{m.group(1)}:path}} must be the last segment of {template!r}"
                )
            segments.append(_segment(("rest" if m.group(2) else "param", m.group(1))))
            continue
        if "{" in part or "}" in part:
            raise TemplateError(f"segment {part!r} of {template!r}: use {{name}} or {{name:path}}")
        try:
            literal = _normalize_segment(part)
        except PathRejected as exc:
            raise TemplateError(f"segment {part!r} of {template!r}: {exc}") from None
        if literal in ("", ".", ".."):
            raise TemplateError(f"{template!r} has an empty or dot segment; write it normalized")
        segments.append(_segment(("literal", literal)))
    names = [s.value for s in segments if s.kind != "literal"]
    if len(names) != len(set(names)):
        raise TemplateError(f"{template!r} uses a parameter name twice")
    return tuple(segments)


@dataclass(slots=True)
class _Leaf:
    route: Route
    names: tuple[str, ...]


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    # terminal routes: by method, plus routes that accept any method
    by_method: dict[str, _Leaf] = field(default_factory=dict)
    any_method: _Leaf | None = None
    rest_by_method: dict[str, _Leaf] = field(default_factory=dict)
    rest_any: _Leaf | None = None


class Matcher:
    """Routes compiled into a trie; build once per configuration, then share read-only."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._root = _Node()
        self.routes: tuple[Route, ...] = tuple(routes)
        for route in self.routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        segments = parse_template(route.template)
        node = self._root
        names: list[str] = []
        rest = False
        for seg in segments:
            if seg.kind == "literal":
                child = node.literals.get(seg.value)
                if child is None:  # not setdefault: a _Node made for nothing costs its dicts
                    child = node.literals[seg.value] = _Node()
                node = child
            elif seg.kind == "param":
                names.append(seg.value)
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                names.append(seg.value)
                rest = True
        leaf = _Leaf(route, tuple(names))
        by_method = node.rest_by_method if rest else node.by_method
        any_attr = "rest_any" if rest else "any_method"
        existing_any: _Leaf | None = getattr(node, any_attr)
        if route.methods is None:
            clash = existing_any or next(iter(by_method.values()), None)
            if clash is not None:
                raise RouteConflict(clash.route, route)
            setattr(node, any_attr, leaf)
            return
        for method in sorted(route.methods):
            clash = by_method.get(method) or existing_any
            if clash is not None:
                raise RouteConflict(clash.route, route)
            by_method[method] = leaf

    def match(self, method: str, path: str) -> Match | None:
        """The route for a normalized path, or None (the request then belongs to the monolith)."""
        stripped = path.strip("/")
        segments = stripped.split("/") if stripped else []
        found = self._walk(self._root, segments, 0, method, [])
        if found is None:
            return None
        leaf, values = found
        return Match(leaf.route, dict(zip(leaf.names, values, strict=True)))

    def _walk(
        self, node: _Node, segs: list[str], i: int, method: str, values: list[str]
    ) -> tuple[_Leaf, list[str]] | None:
        if i == len(segs):
            leaf = node.by_method.get(method) or node.any_method
            return (leaf, values) if leaf is not None else None
        child = node.literals.get(segs[i])
        if child is not None and (found := self._walk(child, segs, i + 1, method, values)):
            return found
        if node.param is not None and (
            found := self._walk(node.param, segs, i + 1, method, [*values, segs[i]])
        ):
            return found
        leaf = node.rest_by_method.get(method) or node.rest_any
        if leaf is not None:
            return leaf, [*values, "/".join(segs[i:])]
        return None
