"""The differences between two parsed JSON documents, in one walk: what the comparator reports.

`differences(ours, theirs, tolerance=..., ordered=...)` returns one `Found` per location that
differs, sorted by location (at each level list indices before keys, keys in code point order,
a node before what is under it), with the kind and both values:

- `"value"`: same JSON type, other value; or numbers further apart than the tolerance (`1` and
  `1.0` are one JSON number, whatever their Python types);
- `"type"`: another JSON type (`true` is not `1`, `"1"` is not `1`, `null` is not `0`, an object
  is not a list); the node is named, not what is under it;
- `"missing"` / `"extra"`: a key or list element only the control / only the candidate has; the
  other value is None.

Lists are compared position by position, extra elements at the end named at their index. With
`ordered=False` (the comparator's rules declare some unordered lists, which it has realigned
before) a list holding only scalars on both sides is aligned as difflib's `SequenceMatcher`
aligns it, unless that names more than one difference and position by position names no more.
That is what deepdiff 8 and 9
report with `zip_ordered_iterables=False`, quirks included (elements Python calls equal, `true`
and `1`, align; an element removed and another added at one index are one "value" change), and
the property test (`tests/unit/parallel_run/test_json_diff.py`) holds the walker to deepdiff's
report, as the comparator made it before this module, on random pairs of documents.

One deliberate departure: with a tolerance, deepdiff raised OverflowError on two unequal integers
too large for a float (the whole comparison failed); the walker calls them not close, a "value"
difference.

Pure and allocation-free on equal subtrees: the location is a stack of steps copied only when
something differs, and scalars are compared inline rather than by a call per leaf.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any, Final, Literal, TypeAlias

from parallel_run.jsonpath import Step

Kind: TypeAlias = Literal["value", "type", "missing", "extra"]
Location: TypeAlias = tuple[Step, ...]
Found: TypeAlias = tuple[Location, Kind, Any, Any]
"""(location, kind, control value, candidate value): `(("items", 3, "sku"), "value", "a", "b")`."""

# as deepdiff reported it, before numbers of two Python types were settled
_Report: TypeAlias = Found

_ABSENT: Final = object()
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def differences(
    ours: Any,
    theirs: Any,
    *,
    tolerance: float = 0.0,
    ordered: bool = True,
    settled_equal: Callable[[Any, Any], bool] | None = None,
) -> list[Found]:
    """Every difference between two parsed JSON values, sorted by location (module docstring).

    `tolerance`: absolute; numbers closer than this (or within a relative 1e-9, as
    `math.isclose` has it) are equal. `ordered=False`: lists of scalars are aligned by difflib.
    Empty exactly when the two values are equal as JSON, under the tolerance, when `ordered`.

    `settled_equal(x, y)`: a check (in C, or mostly) that two objects or two lists are equal
    JSON, True only when they are (False: not known, walk them). Subtrees it settles are
    passed over: the same report, the equal parts never walked. Python's `==` is one where
    neither value holds a boolean (only `true` facing `1` tells it from JSON's equality; `1`
    and `1.0`, `0.0` and `-0.0` are one number to both).
    """
    reports: list[_Report] = []
    _pair(ours, theirs, [], reports, tolerance, ordered, settled_equal)
    if not reports:
        return []
    if not ordered:  # only difflib's alignment names one location as added and removed
        reports = _pair_up(reports)
    found: list[Found] = []
    for report in reports:
        at, kind, control, candidate = report
        if kind == "type" and is_number(control) and is_number(candidate):
            # 1 vs 1.0 is one JSON number; 1 vs 1.5 is a value change, not a type change
            if control == candidate or (tolerance and numbers_close(control, candidate, tolerance)):
                continue
            report = (at, "value", control, candidate)
        found.append(report)
    if len(found) > 1:
        found.sort(key=_order)
    return found


def _order(found: Found) -> tuple[tuple[bool, Step], ...]:
    return tuple((type(step) is str, step) for step in found[0])


def is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def numbers_close(a: Any, b: Any, tolerance: float) -> bool:
    """`math.isclose` with an absolute tolerance, as deepdiff's `math_epsilon` has it."""
    try:
        return math.isclose(a, b, abs_tol=tolerance)
    except OverflowError:  # an integer too large for a float: never close to another
        return False


def _pair_up(reports: list[_Report]) -> list[_Report]:
    """A removal and an addition at one location become one value change (deepdiff's
    `mutual_add_removes_to_become_value_changes`); only difflib's alignment makes such pairs."""
    added = {r[0]: r for r in reports if r[1] == "extra"}
    removed = {r[0]: r for r in reports if r[1] == "missing"}
    both = added.keys() & removed.keys()
    if not both:
        return reports
    kept = [r for r in reports if not (r[1] in ("extra", "missing") and r[0] in both)]
    kept.extend((at, "value", removed[at][2], added[at][3]) for at in both)
    return kept


def _pair(
    a: Any,
    b: Any,
    path: list[Step],
    out: list[_Report],
    tol: float,
    ordered: bool,
    skip: Callable[[Any, Any], bool] | None = None,
) -> None:
    """Compare a pair found at `path`: the roots, or two scalars difflib aligned."""
    ta = type(a)
    if ta is not type(b):
        out.append((tuple(path), "type", a, b))
    elif ta is dict:
        _dicts(a, b, path, out, tol, ordered, skip)
    elif ta is list:
        _lists(a, b, path, out, tol, ordered, skip)
    elif a != b and not (tol and ta is not str and _close_same(a, b, tol)):
        out.append((tuple(path), "value", a, b))


def _dicts(
    a: dict[str, Any],
    b: dict[str, Any],
    path: list[Step],
    out: list[_Report],
    tol: float,
    ordered: bool,
    skip: Callable[[Any, Any], bool] | None,
) -> None:
    # skip: `differences`' settled_equal
    shared = 0
    for key, x in a.items():
        y = b.get(key, _ABSENT)
        if y is _ABSENT:
            out.append(((*path, key), "missing", x, None))
            continue
        shared += 1
        tx = type(x)
        if tx is not type(y):
            out.append(((*path, key), "type", x, y))
        elif tx is dict:
            if skip is not None and skip(x, y):
                continue
            path.append(key)
            _dicts(x, y, path, out, tol, ordered, skip)
            path.pop()
        elif tx is list:
            if skip is not None and skip(x, y):
                continue
            path.append(key)
            _lists(x, y, path, out, tol, ordered, skip)
            path.pop()
        elif x != y and not (tol and tx is not str and _close_same(x, y, tol)):
            out.append(((*path, key), "value", x, y))
    if shared != len(b):
        out.extend(((*path, key), "extra", None, y) for key, y in b.items() if key not in a)


def _lists(
    a: list[Any],
    b: list[Any],
    path: list[Step],
    out: list[_Report],
    tol: float,
    ordered: bool,
    skip: Callable[[Any, Any], bool] | None,
) -> None:
    if not ordered and _only_scalars(a) and _only_scalars(b):
        _align(a, b, path, out, tol)
        return
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        # the same steps as `_dicts`, inline in both: a call per element was a third of a walk
        tx = type(x)
        if tx is not type(y):
            out.append(((*path, index), "type", x, y))
        elif tx is dict:
            if skip is not None and skip(x, y):
                continue
            path.append(index)
            _dicts(x, y, path, out, tol, ordered, skip)
            path.pop()
        elif tx is list:
            if skip is not None and skip(x, y):
                continue
            path.append(index)
            _lists(x, y, path, out, tol, ordered, skip)
            path.pop()
        elif x != y and not (tol and tx is not str and _close_same(x, y, tol)):
            out.append(((*path, index), "value", x, y))
    if len(a) > len(b):
        out.extend(((*path, i), "missing", a[i], None) for i in range(len(b), len(a)))
    elif len(b) > len(a):
        out.extend(((*path, j), "extra", None, b[j]) for j in range(len(a), len(b)))


def _align(a: list[Any], b: list[Any], path: list[Step], out: list[_Report], tol: float) -> None:
    """Two lists of scalars as deepdiff aligns them without `zip_ordered_iterables`: difflib's
    opcodes, unless they name more than one difference and position by position names no
    more."""
    by_difflib: list[_Report] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "replace":
            _pairs(a[i1:i2], b[j1:j2], i1, j1, path, by_difflib, tol)
        elif tag == "delete":
            by_difflib.extend(((*path, i), "missing", a[i], None) for i in range(i1, i2))
        elif tag == "insert":
            by_difflib.extend(((*path, j), "extra", None, b[j]) for j in range(j1, j2))
    if len(by_difflib) > 1:
        in_order: list[_Report] = []
        _pairs(a, b, 0, 0, path, in_order, tol)
        if len(by_difflib) >= len(in_order):
            by_difflib = in_order
    out.extend(by_difflib)


def _pairs(
    a: list[Any], b: list[Any], i0: int, j0: int, path: list[Step], out: list[_Report], tol: float
) -> None:
    """deepdiff's `_diff_by_forming_pairs_and_comparing_one_by_one` on scalars: an element
    without a partner is named at its own side's index, a pair at the control's."""
    for k, (x, y) in enumerate(zip_longest(a, b, fillvalue=_ABSENT)):
        i, j = i0 + k, j0 + k
        if y is _ABSENT:
            out.append(((*path, i), "missing", x, None))
        elif x is _ABSENT:
            out.append(((*path, j), "extra", None, y))
        else:  # deepdiff's "moved" (an equal pair at two indices) cannot be: difflib matched
            # every element equal to another within a replaced range
            path.append(i)
            _pair(x, y, path, out, tol, True)
            path.pop()


def _close_same(a: Any, b: Any, tolerance: float) -> bool:
    """Two numbers of one type (or two booleans) within the tolerance, as deepdiff's
    `math_epsilon` has it."""
    if type(a) is bool:
        return False  # deepdiff compares booleans by value, whatever the tolerance
    return numbers_close(a, b, tolerance)


def _only_scalars(items: list[Any]) -> bool:
    return all(type(item) in _SCALARS for item in items)
