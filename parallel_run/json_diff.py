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
aligns it, unless position by position names fewer differences. That is what deepdiff 8 and 9
report with `zip_ordered_iterables=False`, quirks included (elements Python calls equal, `true`
and `1`, align; an equal pair at two indices is a "value" difference, deepdiff's move), and
the property test (`tests/unit/parallel_run/test_json_diff.py`) holds the walker to deepdiff's
report, as the comparator made it before this module, on random pairs of documents.

Pure and allocation-free on equal subtrees: the location is a stack of steps copied only when
something differs, and scalars are compared inline rather than by a call per leaf.
"""

from __future__ import annotations

import math
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any, Final, Literal, TypeAlias

from parallel_run.jsonpath import Step

Kind: TypeAlias = Literal["value", "type", "missing", "extra"]
Location: TypeAlias = tuple[Step, ...]
Found: TypeAlias = tuple[Location, Kind, Any, Any]
"""(location, kind, control value, candidate value): `(("items", 3, "sku"), "value", "a", "b")`."""

# what deepdiff reported before the kinds were mapped; "moved" is deepdiff's iterable_item_moved
_Raw: TypeAlias = Literal["value", "type", "missing", "extra", "moved"]
_Report: TypeAlias = tuple[Location, _Raw, Any, Any]

_ABSENT: Final = object()
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def differences(
    ours: Any, theirs: Any, *, tolerance: float = 0.0, ordered: bool = True
) -> list[Found]:
    """Every difference between two parsed JSON values, sorted by location (module docstring).

    `tolerance`: absolute; numbers closer than this (or within a relative 1e-9, as
    `math.isclose` has it) are equal. `ordered=False`: lists of scalars are aligned by difflib.
    Empty exactly when the two values are equal as JSON, under the tolerance, when `ordered`.
    """
    reports: list[_Report] = []
    walker = _Walker(reports, tolerance, ordered)
    walker.pair(ours, theirs)
    if not reports:
        return []
    if walker.aligned:
        reports = _pair_up(reports)
    found: list[Found] = []
    for location, raw, control, candidate in reports:
        kind: Kind
        if raw == "type":
            if is_number(control) and is_number(candidate):
                # 1 vs 1.0 is one JSON number; 1 vs 1.5 is a value change, not a type change
                if control == candidate or (
                    tolerance and numbers_close(control, candidate, tolerance)
                ):
                    continue
                kind = "value"
            else:
                kind = "type"
        elif raw == "moved":
            kind = "value"
        else:
            kind = raw
        found.append((location, kind, control, candidate))
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


class _Walker:
    __slots__ = ("aligned", "ordered", "path", "reports", "tolerance")

    def __init__(self, reports: list[_Report], tolerance: float, ordered: bool) -> None:
        self.reports = reports
        self.tolerance = tolerance
        self.ordered = ordered
        self.path: list[Step] = []
        self.aligned = False  # whether some list went through difflib

    def at(self, step: Step) -> Location:
        return (*self.path, step)

    def pair(self, a: Any, b: Any) -> None:
        """Compare a pair found at `self.path` (the root, or a pair difflib aligned)."""
        if a is b:
            return
        ta = type(a)
        if ta is not type(b):
            self.reports.append((tuple(self.path), "type", a, b))
        elif ta is dict:
            self.dicts(a, b)
        elif ta is list:
            self.lists(a, b)
        elif a != b and not (
            self.tolerance and ta is not str and _close_same(a, b, self.tolerance)
        ):
            self.reports.append((tuple(self.path), "value", a, b))

    def child(self, step: Step, x: Any, y: Any) -> None:
        """Compare `x` and `y`, both found under `step`: scalars inline, containers one deeper."""
        tx = type(x)
        if tx is not type(y):
            self.reports.append((self.at(step), "type", x, y))
        elif tx is dict:
            self.path.append(step)
            self.dicts(x, y)
            self.path.pop()
        elif tx is list:
            self.path.append(step)
            self.lists(x, y)
            self.path.pop()
        elif x != y and not (
            self.tolerance and tx is not str and _close_same(x, y, self.tolerance)
        ):
            self.reports.append((self.at(step), "value", x, y))

    def dicts(self, a: dict[str, Any], b: dict[str, Any]) -> None:
        reports = self.reports
        tolerance = self.tolerance
        shared = 0
        for key, x in a.items():
            y = b.get(key, _ABSENT)
            if y is _ABSENT:
                reports.append((self.at(key), "missing", x, None))
                continue
            shared += 1
            if x is y:
                continue
            tx = type(x)
            if tx is type(y) and tx is not dict and tx is not list:
                # the common case inline: a scalar facing a scalar of its type
                if x != y and not (tolerance and tx is not str and _close_same(x, y, tolerance)):
                    reports.append((self.at(key), "value", x, y))
            else:
                self.child(key, x, y)
        if shared != len(b):
            for key, y in b.items():
                if key not in a:
                    reports.append((self.at(key), "extra", None, y))

    def lists(self, a: list[Any], b: list[Any]) -> None:
        if not self.ordered and _only_scalars(a) and _only_scalars(b):
            self.align(a, b)
            return
        reports = self.reports
        tolerance = self.tolerance
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            if x is y:
                continue
            tx = type(x)
            if tx is type(y) and tx is not dict and tx is not list:
                if x != y and not (tolerance and tx is not str and _close_same(x, y, tolerance)):
                    reports.append((self.at(index), "value", x, y))
            else:
                self.child(index, x, y)
        if len(a) > len(b):
            for index in range(len(b), len(a)):
                reports.append((self.at(index), "missing", a[index], None))
        elif len(b) > len(a):
            for index in range(len(a), len(b)):
                reports.append((self.at(index), "extra", None, b[index]))

    def align(self, a: list[Any], b: list[Any]) -> None:
        """Two lists of scalars as deepdiff aligns them without `zip_ordered_iterables`:
        difflib's opcodes, unless they name more than one difference and position by position
        names no more."""
        self.aligned = True
        outer = self.reports
        by_difflib: list[_Report] = []
        self.reports = by_difflib
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag == "replace":
                self.pairs(a[i1:i2], b[j1:j2], i1, j1)
            elif tag == "delete":
                by_difflib.extend((self.at(i), "missing", a[i], None) for i in range(i1, i2))
            elif tag == "insert":
                by_difflib.extend((self.at(j), "extra", None, b[j]) for j in range(j1, j2))
        chosen = by_difflib
        if len(by_difflib) > 1:
            in_order: list[_Report] = []
            self.reports = in_order
            self.pairs(a, b, 0, 0)
            if len(by_difflib) >= len(in_order):
                chosen = in_order
        self.reports = outer
        outer.extend(chosen)

    def pairs(self, a: list[Any], b: list[Any], i0: int, j0: int) -> None:
        """deepdiff's `_diff_by_forming_pairs_and_comparing_one_by_one` on scalars: an element
        without a partner is named at its own side's index, a pair at the control's."""
        for k, (x, y) in enumerate(zip_longest(a, b, fillvalue=_ABSENT)):
            i, j = i0 + k, j0 + k
            if y is _ABSENT:
                self.reports.append((self.at(i), "missing", x, None))
            elif x is _ABSENT:
                self.reports.append((self.at(j), "extra", None, y))
            elif i != j and x == y:  # Python equality: True == 1
                self.reports.append((self.at(i), "moved", x, y))
            else:
                self.path.append(i)
                self.pair(x, y)
                self.path.pop()


def _close_same(a: Any, b: Any, tolerance: float) -> bool:
    """Two numbers of one type (or two booleans) within the tolerance, as deepdiff's
    `math_epsilon` has it."""
    if type(a) is bool:
        return False  # deepdiff compares booleans by value, whatever the tolerance
    return numbers_close(a, b, tolerance)


def _only_scalars(items: list[Any]) -> bool:
    return all(type(item) in _SCALARS for item in items)
