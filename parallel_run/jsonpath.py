"""JSON paths: rendering concrete locations, parsing the patterns of routes.yaml, matching them.

A *location* is the list of steps from the root to a value (`["items", 3, "sku"]`: object
keys are `str`, list indices `int`). It renders as `$.items[3].sku`; its *template* generalizes
every index, `$.items[*].sku`, so that one field of every list element counts as one path.
Keys that are not identifiers are quoted with RFC 9535 escapes: `$['a b']`, `$['it\\'s']`.

A *pattern* (routes.yaml `compare.ignore`; `CompareRules.unordered_paths`) is a subset of JSONPath:

    $.a.b   $['a b']   $.items[3]   $.items[*].id   $.*   $..generated_at   $..*

`..name` matches `name` at any depth (recursive descent). A pattern matches a location when it
matches the location exactly; callers that prune a matched node drop its whole subtree, so
`$.a` also covers `$.a.b`.

Matching runs as a small NFA: `PathMatcher.start()` gives the set of live pattern positions
at the root, `step()` advances it by one key or index, `matched()` says whether a pattern
ended there. Walking a document carries the state down and stops as soon as no pattern is
live, so a pattern set costs nothing below the subtrees it can reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

Step: TypeAlias = str | int
"""One step of a location: an object key or a list index."""

_ESCAPES: Final = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES: Final = {
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "/": "/",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


class JsonPathError(ValueError):
    """A pattern that is not in the supported JSONPath subset; `position` is the bad offset."""

    def __init__(self, path: str, position: int, reason: str) -> None:
        super().__init__(f"bad JSON path {path!r} at offset {position}: {reason}")
        self.path = path
        self.position = position
        self.reason = reason


def _quote(key: str) -> str:
    out = ["['"]
    for ch in key:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch < " ":
            out.append(_ESCAPES.get(ch) or f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append("']")
    return "".join(out)


def _render_step(step: Step) -> str:
    if isinstance(step, int):
        return f"[{step}]"
    if step.isascii() and step.isidentifier():  # [A-Za-z_][A-Za-z0-9_]*
        return f".{step}"
    return _quote(step)


def render(location: Iterable[Step]) -> str:
    """`["items", 3, "a b"]` -> `$.items[3]['a b']`."""
    return "$" + "".join(_render_step(step) for step in location)


def render_template(location: Iterable[Step]) -> str:
    """`["items", 3, "sku"]` -> `$.items[*].sku`: indices generalized, keys kept."""
    return "$" + "".join("[*]" if isinstance(s, int) else _render_step(s) for s in location)


def render_both(location: Iterable[Step]) -> tuple[str, str]:
    """`render(location), render_template(location)`, each key rendered once."""
    path = ["$"]
    template = ["$"]
    for step in location:
        if isinstance(step, int):
            path.append(f"[{step}]")
            template.append("[*]")
        else:
            rendered = _render_step(step)
            path.append(rendered)
            template.append(rendered)
    return "".join(path), "".join(template)


_MEMBER: Final = re.compile(r"[^.\[\]'\"\s]+")
_INDEX: Final = re.compile(r"(0|[1-9][0-9]*)\]")
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")


class _Marker:
    """A pattern segment that is not a literal key or index."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


WILDCARD: Final = _Marker("*")
"""`[*]` or `.*`: any one key or index."""
DESCEND: Final = _Marker("..")
"""Recursive descent: zero or more steps of any kind."""


@dataclass(frozen=True, slots=True)
class Key:
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    index: int


Segment: TypeAlias = Key | Index | _Marker


def parse(path: str) -> tuple[Segment, ...]:
    """Parse a pattern into segments; raise `JsonPathError` on anything outside the subset."""
    if not path.startswith("$"):
        raise JsonPathError(path, 0, "a JSON path starts with '$'")
    segments: list[Segment] = []
    i, n = 1, len(path)
    while i < n:
        ch = path[i]
        if ch == ".":
            if path.startswith("..", i):
                segments.append(DESCEND)
                i += 2
                if i < n and path[i] == "[":
                    continue  # `$..['a b']`, `$..[*]`
            else:
                i += 1
            if i < n and path[i] == "*":
                segments.append(WILDCARD)
                i += 1
                continue
            match = _MEMBER.match(path, i)
            if match is None:
                raise JsonPathError(path, i, "expected a member name after '.'")
            segments.append(Key(match.group()))
            i = match.end()
        elif ch == "[":
            segment, i = _parse_bracket(path, i)
            segments.append(segment)
        else:
            raise JsonPathError(path, i, f"unexpected {ch!r}")
    if segments and segments[-1] is DESCEND:
        raise JsonPathError(path, n, "'..' must be followed by a member name or [ ]")
    return tuple(segments)


def _parse_bracket(path: str, start: int) -> tuple[Segment, int]:
    i = start + 1
    if path.startswith("*]", i):
        return WILDCARD, i + 2
    match = _INDEX.match(path, i)
    if match:
        return Index(int(match.group(1))), match.end()
    if i < len(path) and path[i] in "'\"":
        quote = path[i]
        i += 1
        out: list[str] = []
        while i < len(path):
            ch = path[i]
            if ch == quote:
                if not path.startswith("]", i + 1):
                    raise JsonPathError(path, i + 1, "expected ']' after the quoted name")
                return Key("".join(out)), i + 2
            if ch == "\\":
                esc = path[i + 1 : i + 2]
                if esc == "u" and _HEX4.fullmatch(path, i + 2, i + 6):
                    out.append(chr(int(path[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                if esc not in _UNESCAPES:
                    raise JsonPathError(path, i, "bad escape in a quoted name")
                out.append(_UNESCAPES[esc])
                i += 2
                continue
            out.append(ch)
            i += 1
        raise JsonPathError(path, start, "unterminated quoted name")
    raise JsonPathError(path, start, "expected [N], [*] or ['name']")


State: TypeAlias = frozenset[tuple[int, int]]
"""Live positions: (pattern number, segments consumed)."""

_EMPTY: Final[State] = frozenset()
_CACHE_SIZE: Final = 4096


def _segment_accepts(segment: Segment, step: Step) -> bool:
    if segment is WILDCARD:
        return True
    if isinstance(segment, Key):
        return isinstance(step, str) and step == segment.name
    if isinstance(segment, Index):
        return isinstance(step, int) and step == segment.index
    return False


class PathMatcher:
    """A compiled set of patterns. Immutable once built; safe to share."""

    __slots__ = ("_cache", "_final", "_patterns", "_start", "sources")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.sources: tuple[str, ...] = tuple(patterns)
        self._patterns = tuple(parse(p) for p in self.sources)
        self._start = self._closure({(i, 0) for i in range(len(self._patterns))})
        # the same few (state, key) pairs recur in every document of a route; bounded
        self._cache: dict[tuple[State, Step], State] = {}
        self._final: dict[State, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __repr__(self) -> str:
        return f"PathMatcher({list(self.sources)!r})"

    def _closure(self, states: set[tuple[int, int]]) -> State:
        # a DESCEND may match zero steps: its successor position is live at once
        todo = list(states)
        while todo:
            p, pos = todo.pop()
            pattern = self._patterns[p]
            if pos < len(pattern) and pattern[pos] is DESCEND and (p, pos + 1) not in states:
                states.add((p, pos + 1))
                todo.append((p, pos + 1))
        return frozenset(states)

    def start(self) -> State:
        """The state at the root (`$`)."""
        return self._start

    def step(self, state: State, step: Step) -> State:
        """The state one key or index further down."""
        if not state:
            return _EMPTY
        cached = self._cache.get((state, step))
        if cached is not None:
            return cached
        result = self._advance(state, step)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[(state, step)] = result
        return result

    def _advance(self, state: State, step: Step) -> State:
        nxt: set[tuple[int, int]] = set()
        for p, pos in state:
            pattern = self._patterns[p]
            if pos == len(pattern):
                continue
            segment = pattern[pos]
            if segment is DESCEND:
                nxt.add((p, pos))
            elif _segment_accepts(segment, step):
                nxt.add((p, pos + 1))
        return self._closure(nxt) if nxt else _EMPTY

    def matched(self, state: State) -> bool:
        """Whether some pattern ends exactly here."""
        final = self._final.get(state)
        if final is None:
            final = any(pos == len(self._patterns[p]) for p, pos in state)
            if len(self._final) >= _CACHE_SIZE:
                self._final.clear()
            self._final[state] = final
        return final

    def matches(self, location: Sequence[Step]) -> bool:
        """Whether some pattern matches this location exactly."""
        state = self._start
        for step in location:
            state = self.step(state, step)
            if not state:
                return False
        return self.matched(state)

    def covers(self, location: Sequence[Step]) -> bool:
        """Whether some pattern matches this location or one of its ancestors."""
        state = self._start
        if self.matched(state):
            return True
        for step in location:
            state = self.step(state, step)
            if not state:
                return False
            if self.matched(state):
                return True
        return False
