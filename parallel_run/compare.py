"""Compare two HTTP answers (legacy vs candidate, or legacy vs legacy): status, chosen headers,
bodies.

`compare_http()` is pure and runs once per shadowed request, so it avoids deepdiff whenever it
can. Bodies are compared in stages, cheapest first:

1. identical bytes: equal, nothing parsed (method `"bytes"`);
2. either body larger than `max_body_compare`: sha256 only (method `"hash"`);
3. both bodies parse as JSON (msgspec's decoder, json's for what it refuses: the values are
   json's, type for type): ignore paths are dropped, unordered lists aligned, and the parsed
   values compared strictly (`true` is not `1`; `1` is `1.0`; numeric tolerance applied), in
   C where C can tell (`==`, then canonical encodings), by a walk otherwise: equal values end
   here (method `"parsed"`);
4. only values that really differ are walked again for their differences
   (`parallel_run.json_diff`), one `Difference` per JSON path, with both values. The method is
   still called `"deepdiff"`: deepdiff did this until issue 17, the walker reports exactly what
   it reported (a property test holds it to that), and stored comparisons keep one name;
5. anything that is not JSON on both sides: one `"body"` difference naming the sha256 and length
   of each body, never the bytes (method `"hash"`).

Paths use the notation of routes.yaml: `$.items[3].sku`, and each difference also carries its
template `$.items[*].sku`, which is what noise learning and report grouping count.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NoReturn, TypeAlias

import msgspec

from parallel_run.json_diff import Found, differences
from parallel_run.json_diff import is_number as _is_number
from parallel_run.json_diff import numbers_close as _close
from parallel_run.jsonpath import (
    JsonPathError,
    PathMatcher,
    State,
    render_both,
)

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
DifferenceKind: TypeAlias = Literal[
    "status", "header", "value", "type", "missing", "extra", "body", "error"
]
Method: TypeAlias = Literal["bytes", "parsed", "deepdiff", "hash", "none"]
"""How the bodies were settled; `"none"` when an error on either side left nothing to compare."""


class ComparisonError(ValueError):
    """Comparison rules or answers that make no sense (a bad JSON path, a negative tolerance).

    Defined here until `parallel_run.errors` has a root to hang it under.
    """


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """One side's answer as received: a status, headers and body; or an error and no status."""

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error: str | None = None  # "timeout", "ConnectionResetError: ...": set when status is None

    def __post_init__(self) -> None:
        if (self.status is None) == (self.error is None):
            raise ComparisonError(
                f"an answer has a status or an error, exactly one: "
                f"status={self.status!r}, error={self.error!r}"
            )

    @classmethod
    def failed(cls, error: str) -> HttpAnswer:
        """An answer that never came: `HttpAnswer.failed("timeout")`."""
        return cls(None, error=error)

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of a header, case-insensitively, in the order received."""
        wanted = name.lower()
        # a list built in place: a generator costs more than the two or three headers it reads
        return tuple([value for key, value in self.headers if key.lower() == wanted])

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    @property
    def content_type(self) -> str | None:
        """The media type, lower-cased, without parameters: `application/json`."""
        value = self.header("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower() or None

    @property
    def is_json(self) -> bool:
        """Whether the content type declares JSON (`application/json`, `application/*+json`)."""
        media = self.content_type
        return media is not None and (media == "application/json" or media.endswith("+json"))

    @property
    def error_kind(self) -> str | None:
        """The error up to its first colon: `ConnectionResetError: [Errno 104] ...` -> the class."""
        return None if self.error is None else self.error.split(":", 1)[0].strip()


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """One thing that differs, with both sides' values (JSON-serializable, never raw bytes).

    `path` is `$.items[3].sku` for a JSON body; `status`, `header:<name>`, `body` (a non-JSON or
    oversized body: values are `{"sha256", "length"}`) or `error` otherwise. `template_path`
    generalizes list indices (`$.items[*].sku`) and equals `path` when there are none.
    `missing`: the control has it, the candidate does not (candidate value None); `extra`: the
    reverse.
    """

    path: str
    template_path: str
    kind: DifferenceKind
    control: JsonValue
    candidate: JsonValue

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "path": self.path,
            "template_path": self.template_path,
            "kind": self.kind,
            "control": self.control,
            "candidate": self.candidate,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict on one pair of answers.

    `omitted` counts differences left out by `CompareRules.max_differences`; every template
    path keeps at least one representative, so `signature()` is unaffected.
    """

    equal: bool
    differences: tuple[Difference, ...] = ()
    method: Method = "bytes"
    omitted: int = 0

    def __post_init__(self) -> None:
        if self.equal == bool(self.differences):
            raise ComparisonError("a comparison is equal exactly when it has no differences")

    def template_paths(self) -> frozenset[str]:
        return frozenset(d.template_path for d in self.differences)

    def signature(self) -> str:
        """The sorted template paths, one per line: one bug is one group, however many requests
        or list elements it touched. Empty when equal."""
        return "\n".join(sorted(self.template_paths()))

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "equal": self.equal,
            "method": self.method,
            "omitted": self.omitted,
            "differences": [d.to_dict() for d in self.differences],
        }


# -- rules -------------------------------------------------------------------------------------

# never compared under compare_headers=("*",): transport details, or covered by the body
_TRANSPORT_HEADERS: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclass(frozen=True, slots=True)
class CompareRules:
    """What counts as a difference; built once per capability from routes.yaml `compare:`.

    - `ignore_paths`: JSON paths dropped from both bodies (`$.generated_at`, `$.items[*].id`,
      `$..etag`); dropping a node drops everything below it.
    - `ignore_headers`: header names never compared (case-insensitive).
    - `compare_headers`: header names compared; `("*",)` compares every header except the
      ignored ones and transport headers (hop-by-hop, content-length). The default compares
      content-type only, because most headers (date, server, etags) differ legitimately.
    - `unordered_paths`: JSON paths of lists compared as multisets.
    - `numeric_tolerance`: absolute; numbers closer than this are equal.
    - `max_body_compare`: bodies above this many bytes are compared by sha256 only.
    - `max_differences`: a cap on the differences kept per comparison.
    """

    ignore_paths: tuple[str, ...] = ()
    ignore_headers: tuple[str, ...] = ()
    compare_headers: tuple[str, ...] = ("content-type",)
    unordered_paths: tuple[str, ...] = ()
    numeric_tolerance: float = 0.0
    max_body_compare: int = 1 << 20
    max_differences: int = 100
    _ignore: PathMatcher = field(init=False, repr=False, compare=False)
    _unordered: PathMatcher = field(init=False, repr=False, compare=False)
    _header_names: tuple[str, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # tuples even when a caller hands lists: the rules are hashable and shared
        for name in ("ignore_paths", "ignore_headers", "compare_headers", "unordered_paths"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not (math.isfinite(self.numeric_tolerance) and self.numeric_tolerance >= 0):
            raise ComparisonError(
                f"numeric_tolerance must be a finite number >= 0, got {self.numeric_tolerance!r}"
            )
        if self.max_body_compare < 0:
            raise ComparisonError(f"max_body_compare must be >= 0, got {self.max_body_compare}")
        if self.max_differences < 1:
            raise ComparisonError(f"max_differences must be >= 1, got {self.max_differences}")
        object.__setattr__(self, "_ignore", _matcher(self.ignore_paths, "ignore_paths"))
        object.__setattr__(self, "_unordered", _matcher(self.unordered_paths, "unordered_paths"))
        ignored = {name.lower() for name in self.ignore_headers}
        wanted = [name.lower() for name in self.compare_headers]
        names: tuple[str, ...] | None
        if "*" in wanted:
            names = None
        else:
            names = tuple(dict.fromkeys(n for n in wanted if n not in ignored))
        object.__setattr__(self, "_header_names", names)

    def headers_to_compare(self, control: HttpAnswer, candidate: HttpAnswer) -> tuple[str, ...]:
        """The lower-cased header names compared for this pair of answers."""
        if self._header_names is not None:
            return self._header_names
        ignored = {name.lower() for name in self.ignore_headers} | _TRANSPORT_HEADERS
        seen = {key.lower() for key, _ in control.headers + candidate.headers}
        return tuple(sorted(seen - ignored))


def _matcher(paths: Iterable[str], setting: str) -> PathMatcher:
    try:
        return PathMatcher(paths)
    except JsonPathError as exc:
        raise ComparisonError(f"{setting}: {exc}") from exc


DEFAULT_RULES: Final = CompareRules()


# -- the comparison ----------------------------------------------------------------------------


def compare_http(
    control: HttpAnswer, candidate: HttpAnswer, *, rules: CompareRules = DEFAULT_RULES
) -> Comparison:
    """Compare two answers under `rules`; see the module docstring for the stages."""
    if control.error is not None or candidate.error is not None:
        # nothing else to compare; two failures of the same kind behave alike for a client
        if control.error_kind == candidate.error_kind:
            return Comparison(True, (), "none")
        error = Difference("error", "error", "error", control.error, candidate.error)
        return Comparison(False, (error,), "none")

    differences: list[Difference] = []
    if control.status != candidate.status:
        differences.append(
            Difference("status", "status", "status", control.status, candidate.status)
        )
    differences.extend(_compare_headers(control, candidate, rules))
    body_differences, method = _compare_bodies(control.body, candidate.body, rules)
    differences.extend(body_differences)
    kept, omitted = _limit(differences, rules.max_differences)
    return Comparison(not kept, kept, method, omitted)


def _compare_headers(
    control: HttpAnswer, candidate: HttpAnswer, rules: CompareRules
) -> list[Difference]:
    differences = []
    for name in rules.headers_to_compare(control, candidate):
        ours, theirs = control.header_values(name), candidate.header_values(name)
        if _header_key(name, ours) != _header_key(name, theirs):
            path = f"header:{name}"
            differences.append(Difference(path, path, "header", _joined(ours), _joined(theirs)))
    return differences


def _joined(values: tuple[str, ...]) -> str | None:
    return ", ".join(values) if values else None


def _header_key(name: str, values: tuple[str, ...]) -> tuple[str, ...]:
    if name == "content-type":
        return tuple([_media_type_key(value) for value in values])
    return tuple([value.strip() for value in values])


@functools.lru_cache(maxsize=256)  # a few content types recur on every answer
def _media_type_key(value: str) -> str:
    """`Application/JSON; Charset="UTF-8"` -> `application/json`: case, spacing, quoting and
    parameter order do not matter, and JSON's charset is always UTF-8 (RFC 8259 defines no
    charset parameter), so `application/json; charset=utf-8` equals `application/json`."""
    media, *raw_params = value.split(";")
    media = media.strip().lower()
    params = []
    for raw in raw_params:
        key, _, val = raw.partition("=")
        key, val = key.strip().lower(), val.strip().strip('"')
        if key == "charset":
            val = val.lower()
        if key:
            params.append((key, val))
    if media == "application/json" or media.endswith("+json"):
        params = [p for p in params if p != ("charset", "utf-8")]
    return media + "".join(f";{k}={v}" for k, v in sorted(params))


# -- bodies ------------------------------------------------------------------------------------

_NOT_JSON: Final = object()
# bytes that can start a JSON text; an ASCII body starting with anything else is not parsed
_JSON_STARTS: Final = frozenset(b'{["-0123456789tfn')


def _body_digest(body: bytes) -> dict[str, JsonValue]:
    return {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}


def _body_difference(control: bytes, candidate: bytes) -> Difference:
    return Difference("body", "body", "body", _body_digest(control), _body_digest(candidate))


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; NaN != NaN would make a body differ from itself
    raise ValueError(f"{name} is not JSON")


# what json.loads(body, parse_constant=_reject_constant) builds on every call: built once
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


_FAST_DECODE: Final = msgspec.json.Decoder().decode
_FAST_ENCODE: Final = msgspec.json.Encoder(order="sorted").encode


def _parse(body: bytes) -> Any:
    head = body[:64].lstrip()
    if not head or (head[0] < 0x80 and head[0] not in _JSON_STARTS):
        return _NOT_JSON  # an HTML page or plain text: skip decoding it whole to fail at once
    if head[0] < 0x80:
        # msgspec's decoder in C, 2.5x json's: whatever it accepts, json reads as the same
        # values, type for type (integers beyond 64 bits stay exact, as do duplicate keys:
        # the last wins, in the first one's place); whatever it refuses is json's to decide
        # (UTF-16/32 and BOMs, lone surrogates, 1e400 as inf, NaN refused again)
        try:
            return _fast_decode_as_deep_as_json(body)
        except (msgspec.DecodeError, RecursionError):
            pass
    try:
        # json.loads of bytes, step by step (UTF-8, -16 or -32, as it detects them)
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both
        return _NOT_JSON


# Both decoders count nesting on the interpreter's recursion budget, so how deep a body may nest
# depends on the frames below the call. json's C scanner runs two frames below `_parse`
# (JSONDecoder.decode, raw_decode): msgspec runs as deep, so that it gives up on exactly the
# bodies json gives up on (a RecursionError, hence _NOT_JSON), never parsing one json refuses.
# tests/unit/parallel_run/test_compare_parse.py holds the two boundaries equal.
def _fast_decode_as_deep_as_json(body: bytes) -> Any:
    return _fast_decode_one_frame_deeper(body)


def _fast_decode_one_frame_deeper(body: bytes) -> Any:
    return _fast_decode_two_frames_deeper(body)


def _fast_decode_two_frames_deeper(body: bytes) -> Any:
    return _FAST_DECODE(body)


def _compare_bodies(
    control: bytes, candidate: bytes, rules: CompareRules
) -> tuple[list[Difference], Method]:
    if control == candidate:
        return [], "bytes"
    if max(len(control), len(candidate)) > rules.max_body_compare:
        return [_body_difference(control, candidate)], "hash"
    ours, theirs = _parse(control), _parse(candidate)
    if ours is _NOT_JSON or theirs is _NOT_JSON:
        return [_body_difference(control, candidate)], "hash"
    try:
        return _compare_json(ours, theirs, rules, (control, candidate))
    except RecursionError:  # nesting deep enough to parse but not to walk
        return [_body_difference(control, candidate)], "hash"


def _compare_json(
    ours: Any, theirs: Any, rules: CompareRules, bodies: tuple[bytes, ...] = ()
) -> tuple[list[Difference], Method]:
    tolerance = rules.numeric_tolerance
    ignore = rules._ignore
    if ignore:
        root = ignore.start()
        if ignore.matched(root):
            return [], "parsed"
        ours, theirs = _prune(ours, ignore, root), _prune(theirs, ignore, root)
    unordered = rules._unordered
    if unordered:
        theirs = _align(ours, theirs, unordered, unordered.start(), tolerance)
    # C's == settles most unequal pairs at once: without a tolerance, values Python calls
    # unequal are unequal JSON (the converse fails: Python says `true` is `1`)
    if tolerance:
        if _same(ours, theirs, tolerance):
            return [], "parsed"
    elif ours == theirs and (
        _without_booleans(bodies) or _same_encoding(ours, theirs) or _same(ours, theirs, 0.0)
    ):
        return [], "parsed"
    # deepdiff's alignment of ordered lists of unequal length depended on which side was which
    # (swapping sides named other paths), so ordered lists go position by position; lists
    # realigned as unordered above were compared with deepdiff's own alignment, which names the
    # missing element, and the walker does as deepdiff did there (see parallel_run.json_diff)
    found = DeepDiff(
        ours,
        theirs,
        tolerance=tolerance,
        ordered=not unordered,
        settled_equal=operator.eq if _without_booleans(bodies) else _equal_encodings,
    )
    return [Difference(*_rendered(at), *rest) for at, *rest in found], "deepdiff"


# The differ of unequal values. Named after the library it replaced, so that whatever swaps it
# keeps working: the comparator's tests (its fast paths must never reach the differ) and the
# benchmark's reference run (deepdiff's report, tests/support/deepdiff_reference.py).
DeepDiff: Callable[..., list[Found]] = differences


# the same few locations differ comparison after comparison (a field the candidate gets wrong
# differs on every answer): each rendered once (both strings), not per difference
_rendered: Final = functools.lru_cache(maxsize=4096)(render_both)


def _limit(differences: list[Difference], limit: int) -> tuple[tuple[Difference, ...], int]:
    if len(differences) <= limit:
        return tuple(differences), 0
    # the first of each template path always stays, so the signature names every group
    keep: set[int] = set()
    seen: set[str] = set()
    for i, difference in enumerate(differences):
        if difference.template_path not in seen:
            seen.add(difference.template_path)
            keep.add(i)
    for i in range(len(differences)):
        if len(keep) >= limit:
            break
        keep.add(i)
    kept = tuple(d for i, d in enumerate(differences) if i in keep)
    return kept, len(differences) - len(kept)


# -- JSON values -------------------------------------------------------------------------------


def _same(a: Any, b: Any, tolerance: float) -> bool:
    """Strict JSON equality: `true` is not `1` (Python says it is), `1` is `1.0`.

    The fast path runs this on every pair of unequal bytes, so scalars are compared inline
    rather than by a call per leaf.
    """
    ta = type(a)
    if ta is not type(b):
        return _is_number(a) and _is_number(b) and _numbers_same(a, b, tolerance)
    if ta is dict:
        if len(a) != len(b):
            return False
        for key, x in a.items():
            y = b.get(key, _ABSENT)
            tx = type(x)
            if tx is type(y) and tx is not dict and tx is not list:
                if x != y and not (tolerance and _is_number(x) and _close(x, y, tolerance)):
                    return False
            elif y is _ABSENT or not _same(x, y, tolerance):
                return False
        return True
    if ta is list:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            tx = type(x)
            if tx is type(y) and tx is not dict and tx is not list:
                if x != y and not (tolerance and _is_number(x) and _close(x, y, tolerance)):
                    return False
            elif not _same(x, y, tolerance):
                return False
        return True
    if tolerance and _is_number(a):
        return _numbers_same(a, b, tolerance)
    return bool(a == b)


_ABSENT: Final = object()


def _without_booleans(bodies: tuple[bytes, ...]) -> bool:
    """Whether the bodies, as parsed, hold no `true` or `false`: then C's `==` is the strict
    equality (only a boolean facing a number tells them apart).

    Conservative: a literal inside a string counts. In UTF-8 only: UTF-16 and -32 spell `true`
    otherwise, and every ASCII character there holds a NUL byte, which UTF-8 JSON never does.
    """
    for body in bodies:
        if b"true" in body or b"false" in body or b"\x00" in body:
            return False
    return bool(bodies)


def _same_encoding(a: Any, b: Any) -> bool:
    """Strict equality settled in C, for values Python already calls equal (`a == b`).

    Equal values of one shape and keys differ strictly only where `true` faces `1`, which
    encode differently, so equal canonical encodings (keys sorted) are equal JSON. The converse
    fails (`1` and `1.0`, `0.0` and `-0.0` encode differently, `_same` calls them equal): False
    only means "walk them". Without `a == b` first, equal encodings would prove nothing:
    infinity (`1e400`) encodes as `null`.
    """
    try:
        return _FAST_ENCODE(a) == _FAST_ENCODE(b)
    except (msgspec.EncodeError, ValueError, RecursionError):
        return False  # a lone surrogate (json's parse keeps it), or nesting: the walk decides


def _equal_encodings(a: Any, b: Any) -> bool:
    """Two subtrees the walker may pass over: equal to Python and in canonical encoding, so
    equal JSON (``_same_encoding``); False only means "walk them"."""
    return bool(a == b) and _same_encoding(a, b)


def _numbers_same(a: float, b: float, tolerance: float) -> bool:
    return a == b or (tolerance > 0 and _close(a, b, tolerance))


def _prune(value: Any, matcher: PathMatcher, state: State) -> Any:
    """`value` without the nodes the ignore patterns match; untouched subtrees are shared."""
    if type(value) is dict:
        kept: dict[str, Any] = {}
        changed = False
        for key, child in value.items():
            inner = matcher.step(state, key)
            if inner:
                if matcher.matched(inner):
                    changed = True
                    continue
                new = _prune(child, matcher, inner)
                changed = changed or new is not child
                child = new
            kept[key] = child
        return kept if changed else value
    if type(value) is list:
        items: list[Any] = []
        changed = False
        for index, child in enumerate(value):
            inner = matcher.step(state, index)
            if inner:
                if matcher.matched(inner):
                    changed = True
                    continue
                new = _prune(child, matcher, inner)
                changed = changed or new is not child
                child = new
            items.append(child)
        return items if changed else value
    return value


def _align(ours: Any, theirs: Any, matcher: PathMatcher, state: State, tolerance: float) -> Any:
    """`theirs` with every list at an unordered path reordered to follow `ours`."""
    if type(ours) is dict and type(theirs) is dict:
        out: dict[str, Any] | None = None
        for key, child in theirs.items():
            if key in ours:
                inner = matcher.step(state, key)
                if inner:
                    new = _align(ours[key], child, matcher, inner, tolerance)
                    if new is not child:
                        if out is None:
                            out = dict(theirs)
                        out[key] = new
        return theirs if out is None else out
    if type(ours) is list and type(theirs) is list:
        if matcher.matched(state):
            theirs = _reorder(ours, theirs, tolerance)
        copied: list[Any] | None = None
        for index, (mine, child) in enumerate(zip(ours, theirs, strict=False)):
            inner = matcher.step(state, index)
            if inner:
                new = _align(mine, child, matcher, inner, tolerance)
                if new is not child:
                    if copied is None:
                        copied = list(theirs)
                    copied[index] = new
        return theirs if copied is None else copied
    return theirs


# beyond this many unpaired elements, pairing by similarity (quadratic) gives way to list order
_MAX_FUZZY_PAIRING: Final = 64


def _reorder(ours: list[Any], theirs: list[Any], tolerance: float) -> list[Any]:
    """`theirs` reordered so that its elements face their equals (or closest) in `ours`.

    Exact equals pair first (as multisets: a repeated element pairs as often as it repeats);
    the rest pair greedily by similarity, so that a changed element is reported as one value
    change rather than a removal and an addition. Unpaired extras go last.
    """
    if _same(ours, theirs, tolerance):
        return theirs  # already in order: the common case costs one walk
    buckets: dict[str, list[int]] = {}
    for j, item in enumerate(theirs):
        buckets.setdefault(_canonical(item), []).append(j)
    for bucket in buckets.values():
        bucket.reverse()  # pop() hands out the lowest index first
    paired: list[int | None] = []
    for item in ours:
        equals = buckets.get(_canonical(item))
        paired.append(equals.pop() if equals else None)
    taken = {j for j in paired if j is not None}
    leftover = [j for j in range(len(theirs)) if j not in taken]
    fuzzy = len(leftover) <= _MAX_FUZZY_PAIRING
    for i, partner in enumerate(paired):
        if partner is None and leftover:
            if fuzzy:
                best = min(leftover, key=lambda k: _distance(ours[i], theirs[k], tolerance))
            else:
                best = leftover[0]
            leftover.remove(best)
            paired[i] = best
    order = [j for j in paired if j is not None] + leftover
    if order == list(range(len(theirs))):
        return theirs
    return [theirs[j] for j in order]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _distance(a: Any, b: Any, tolerance: float) -> float:
    """0 for equal values, 1 for unrelated ones; objects by the share of members that differ."""
    if type(a) is dict and type(b) is dict:
        keys = a.keys() | b.keys()
        if not keys:
            return 0.0
        differing = sum(
            1 for k in keys if k not in a or k not in b or not _same(a[k], b[k], tolerance)
        )
        return differing / len(keys)
    return 0.0 if _same(a, b, tolerance) else 1.0
