"""The walker (`parallel_run.json_diff`) against deepdiff's report, as the comparator made it
before issue 17 (`tests/support/deepdiff_reference.py`): on random pairs of JSON documents,
independent or one derived from the other by a few edits, both name the same differences, in
the same order, with the same kinds and values."""

from __future__ import annotations

import json
import math
import operator
import random
from collections import Counter
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_run import compare as compare_module
from parallel_run.compare import CompareRules, HttpAnswer, compare_http
from parallel_run.json_diff import Found, differences
from tests.support.deepdiff_reference import deepdiff_differences

# -- documents ---------------------------------------------------------------------------------
# Built from one seeded `random.Random` per example, the seed the only draw: drawing every node
# through Hypothesis cost ~10 ms an example, fifty times what the comparison costs, and 10,000
# examples must run in the suite in well under a minute (~1 ms an example is Hypothesis's own).

TEXTS = ["", "a", "b", "x y", "it's", "ünï", "\n", "1", "true", "🙂", "\ud800", "é", "a.b"]
KEYS = ["a", "b", "c", "id", "a b", "ü", "7", "", "*", "it's"]
FLOATS = [0.0, -0.0, 1.0, 1.5, 2.0, 0.1, 0.3, 1e300, -2.5, math.inf, -math.inf, 1e-12]


def scalar(rng: random.Random) -> Any:
    pick = rng.randrange(10)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randint(-3, 3)
    if pick == 3:
        return rng.randint(-(2**70), 2**70)  # beyond 64 bits
    if pick == 4:
        return rng.choice([10**400, -(10**400)]) if rng.random() < 0.1 else rng.randint(0, 9)
    if pick == 5:
        return rng.choice(FLOATS)  # json.loads refuses NaN, but reads 1e400 as inf
    if pick == 6:
        return rng.uniform(-1e6, 1e6)
    if pick == 7:
        return "".join(
            chr(rng.choice([rng.randint(32, 126), rng.randint(0, 0x10FFFF)]))
            for _ in range(rng.randint(0, 3))
        )
    return rng.choice(TEXTS)


def key(rng: random.Random) -> str:
    return rng.choice(KEYS) if rng.random() < 0.8 else str(scalar(rng))


# few distinct values, so that difflib finds runs to align and elements repeat
FEW = ["a", "b", "c", 1, 1.0, True, 0, False, None]


def document(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if depth >= 4 or pick < 0.35:
        return scalar(rng)
    size = rng.randint(0, 5)
    if pick < 0.45:
        return [rng.choice(FEW[: rng.randint(2, len(FEW))]) for _ in range(size + 1)]
    if pick < 0.65:
        return [document(rng, depth + 1) for _ in range(size)]
    return {key(rng): document(rng, depth + 1) for _ in range(size)}


def replacement(rng: random.Random, value: Any) -> Any:
    """Another value for a node: a neighbour of the same type, or another type."""
    related: list[Any] = [None, True, False, 0, 1, 1.0, "1", [], {}]
    if type(value) is bool:
        related += [not value, int(value), float(value)]
    elif type(value) is int:
        related += [value + 1, value == 1]
        if abs(value) < 2**53:
            related += [float(value)] * 3  # one JSON number, spelled 1.0: not a difference
    elif type(value) is float:
        related += [value * 2, value + 0.005, value + 1e-10, -value]
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            related += [int(value)] * 3
    elif type(value) is str:
        related += [value + "x", value.upper(), value[:-1]]
    return rng.choice(related) if rng.random() < 0.8 else document(rng)


def edited(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """`value` with a few realistic edits: a value or type changed, a key or element added or
    removed, elements inserted or swapped, 1 written as 1.0, keys reordered."""
    if type(value) is dict and value and depth < 6 and rng.random() < 0.75:
        out = dict(value)
        for _ in range(rng.randint(1, 2)):
            action = rng.choice(["edit", "edit", "drop", "add"])
            chosen = rng.choice(list(out)) if out else None
            if action == "edit" and chosen is not None:
                out[chosen] = edited(rng, out[chosen], depth + 1)
            elif action == "drop" and chosen is not None:
                del out[chosen]
            else:
                out[key(rng)] = document(rng)
        if rng.random() < 0.5:  # key order never matters
            out = dict(reversed(list(out.items())))
        return out
    if type(value) is list and value and depth < 6 and rng.random() < 0.75:
        items = list(value)
        for _ in range(rng.randint(1, 2)):
            action = rng.choice(["edit", "edit", "drop", "insert", "append", "swap"])
            if not items:
                action = "append"
            index = rng.randrange(max(1, len(items)))
            if action == "edit":
                items[index] = edited(rng, items[index], depth + 1)
            elif action == "drop":
                items.pop(index)
            elif action == "insert":
                items.insert(index, rng.choice([*items, *FEW, document(rng, 3)]))
            elif action == "append":
                items.append(document(rng, 3))
            else:
                other = rng.randrange(len(items))
                items[index], items[other] = items[other], items[index]
        return items
    return replacement(rng, value)


def pair_of(rng: random.Random) -> tuple[Any, Any]:
    """Two documents: unrelated (one time in five), or one and a few edits of it."""
    ours = document(rng)
    if rng.random() < 0.2:
        return ours, document(rng)
    theirs = ours
    for _ in range(rng.randint(1, 3)):
        theirs = edited(rng, theirs)
    return (theirs, ours) if rng.random() < 0.5 else (ours, theirs)


seeds = st.integers(min_value=0, max_value=2**64 - 1)
TOLERANCES = [0.0, 0.0, 0.01, 0.5, 2.0]  # 2: True and False are never close


def case_of(seed: int) -> tuple[Any, Any, float, random.Random]:
    """A pair of documents and a tolerance (0 beside integers too large for a float, on which
    deepdiff's `math_epsilon` raised OverflowError), and the generator for further choices."""
    rng = random.Random(seed)
    ours, theirs = pair_of(rng)
    tolerance = rng.choice(TOLERANCES)
    if tolerance and (_beyond_floats(ours) or _beyond_floats(theirs)):
        tolerance = 0.0
    return ours, theirs, tolerance, rng


def _beyond_floats(value: Any) -> bool:
    """Whether an integer too large for a float is somewhere in `value` (deepdiff's
    `math_epsilon` raises OverflowError on those; the walker calls them not close)."""
    if type(value) is int:
        return abs(value) > 1e308
    if type(value) is list:
        return any(_beyond_floats(v) for v in value)
    if type(value) is dict:
        return any(_beyond_floats(v) for v in value.values())
    return False


# -- the comparison of two reports -------------------------------------------------------------


def _exact(found: list[Found]) -> list[tuple[Any, ...]]:
    # repr tells True from 1, 1 from 1.0 and 0.0 from -0.0, which == does not
    return [(at, kind, repr(control), repr(candidate)) for at, kind, control, candidate in found]


def _order_key(at: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((isinstance(s, str), s) for s in at)


def assert_same_report(walked: list[Found], reference: list[Found]) -> None:
    ours, theirs = _exact(walked), _exact(reference)
    if len({entry[0] for entry in theirs}) == len(theirs):
        assert ours == theirs
        return
    # two differences at one location (difflib's alignment names an added element at its
    # index in the candidate and a changed one at its index in the control): deepdiff's order
    # between them follows its report types, a set, which differs from process to process
    assert Counter(ours) == Counter(theirs)
    keys = [_order_key(entry[0]) for entry in ours]
    assert keys == sorted(keys)


# -- the properties ----------------------------------------------------------------------------


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seeds)
def test_the_walker_names_what_deepdiff_named(seed: int) -> None:
    ours, theirs, tolerance, rng = case_of(seed)
    ordered = rng.random() < 0.5
    walked = differences(ours, theirs, tolerance=tolerance, ordered=ordered)
    reference = deepdiff_differences(ours, theirs, tolerance=tolerance, ordered=ordered)
    assert_same_report(walked, reference)


def _without_booleans(value: Any) -> Any:
    """``value`` with every boolean turned into the integer Python already calls it equal to."""
    if type(value) is bool:
        return int(value)
    if type(value) is dict:
        return {k: _without_booleans(v) for k, v in value.items()}
    if type(value) is list:
        return [_without_booleans(v) for v in value]
    return value


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seeds)
def test_passing_over_settled_subtrees_changes_no_report(seed: int) -> None:
    """Subtrees the comparator's checks settle as equal are passed over (``settled_equal``):
    the report is the whole walk's, difference for difference and in the same order. Python's
    `==` settles them once booleans are gone, equal canonical encodings whatever they hold."""
    ours, theirs, tolerance, rng = case_of(seed)
    ordered = rng.random() < 0.5
    walked = differences(ours, theirs, tolerance=tolerance, ordered=ordered)
    settle = compare_module._equal_encodings
    by_encoding = differences(
        ours, theirs, tolerance=tolerance, ordered=ordered, settled_equal=settle
    )
    assert _exact(by_encoding) == _exact(walked)
    ours, theirs = _without_booleans(ours), _without_booleans(theirs)
    walked = differences(ours, theirs, tolerance=tolerance, ordered=ordered)
    by_eq = differences(
        ours, theirs, tolerance=tolerance, ordered=ordered, settled_equal=operator.eq
    )
    assert _exact(by_eq) == _exact(walked)


def test_with_a_boolean_the_shortcut_would_hide_a_difference() -> None:
    # why the caller must know there is none: Python calls these subtrees equal
    ours, theirs = {"a": {"flag": True}}, {"a": {"flag": 1}}
    assert differences(ours, theirs) == [(("a", "flag"), "type", True, 1)]
    assert differences(ours, theirs, settled_equal=operator.eq) == []
    assert differences(ours, theirs, settled_equal=compare_module._equal_encodings) == [
        (("a", "flag"), "type", True, 1)
    ]


def test_the_comparator_settles_subtrees_by_eq_only_without_a_boolean_literal() -> None:
    calls: list[object] = []
    real = compare_module.DeepDiff

    def spy(*args: Any, **kwargs: Any) -> list[Found]:
        calls.append(kwargs["settled_equal"])
        return real(*args, **kwargs)

    rules = CompareRules()
    with mock.patch.object(compare_module, "DeepDiff", spy):
        plain = compare_http(
            HttpAnswer(200, (), b'{"a": {"b": [1, 2]}, "n": 1}'),
            HttpAnswer(200, (), b'{"a": {"b": [1, 2]}, "n": 2}'),
            rules=rules,
        )
        flagged = compare_http(
            HttpAnswer(200, (), b'{"a": {"b": [true, 2]}, "n": 1}'),
            HttpAnswer(200, (), b'{"a": {"b": [1, 2]}, "n": 2}'),
            rules=rules,
        )
    assert calls == [operator.eq, compare_module._equal_encodings]
    assert [d.path for d in plain.differences] == ["$.n"]
    assert [d.path for d in flagged.differences] == ["$.a.b[0]", "$.n"]


IGNORE_SETS = [(), ("$.a",), ("$..id",), ("$.*",), ("$[*].b",), ("$[1]",), ("$.a[*]", "$..c")]
UNORDERED_SETS = [(), ("$",), ("$.a",), ("$..*",), ("$[*]", "$.b")]


@settings(
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seeds)
def test_the_comparator_reports_what_it_reported_with_deepdiff(seed: int) -> None:
    """The whole comparator, ignore paths pruned and unordered lists aligned first: every
    difference (path, template path, kind, both values) and the method as before."""
    ours, theirs, tolerance, rng = case_of(seed)
    rules = CompareRules(
        ignore_paths=rng.choice(IGNORE_SETS),
        unordered_paths=rng.choice(UNORDERED_SETS),
        numeric_tolerance=tolerance,
        max_differences=10_000,
    )
    control = HttpAnswer(200, (), json.dumps(ours).encode())
    candidate = HttpAnswer(200, (), json.dumps(theirs, indent=1).encode())
    walked = compare_http(control, candidate, rules=rules)
    with mock.patch.object(compare_module, "DeepDiff", deepdiff_differences):
        reference = compare_http(control, candidate, rules=rules)
    assert (walked.equal, walked.method) == (reference.equal, reference.method)

    def exact(result: Any) -> list[Found]:
        return [(d.path, d.kind, d.control, d.candidate) for d in result.differences]

    assert_same_report(exact(walked), exact(reference))
    assert [d.template_path for d in walked.differences] == [
        d.template_path for d in reference.differences
    ]


@pytest.mark.parametrize(
    ("ours", "theirs", "ordered", "expected"),
    [
        ({"a": 1}, {"a": 1.0}, True, []),
        ({"a": 1}, {"a": 1.5}, True, [(("a",), "value", 1, 1.5)]),
        ({"a": True}, {"a": 1}, True, [(("a",), "type", True, 1)]),
        ({"a": [1, 2, 3]}, {"a": [1, 2]}, True, [(("a", 2), "missing", 3, None)]),
        ({"a": [1]}, {"a": [1, {"b": 2}]}, True, [(("a", 1), "extra", None, {"b": 2})]),
        ({"b": 1, "a": {"x": 1}}, {"a": {"x": 2}}, True, [
            (("a", "x"), "value", 1, 2), (("b",), "missing", 1, None),
        ]),
        ([[1], {"a": 1}], [[2], {"a": 2}], True, [
            ((0, 0), "value", 1, 2), ((1, "a"), "value", 1, 2),
        ]),
        # difflib's alignment: the removed element is named, not every one after it
        (["a", "b", "c"], ["b", "c"], False, [((0,), "missing", "a", None)]),
        (["a", "b", "c"], ["b", "c"], True, [
            ((0,), "value", "a", "b"), ((1,), "value", "b", "c"), ((2,), "missing", "c", None),
        ]),
        ([True], [1], False, []),  # difflib pairs what Python calls equal
        (2**80, 2**80 + 1, True, [((), "value", 2**80, 2**80 + 1)]),
    ],
)  # fmt: skip
def test_examples(ours: Any, theirs: Any, ordered: bool, expected: list[Found]) -> None:
    assert differences(ours, theirs, ordered=ordered) == expected
    assert _exact(deepdiff_differences(ours, theirs, ordered=ordered)) == _exact(expected)


def test_integers_beyond_floats_are_never_close() -> None:
    """Where deepdiff raised OverflowError (the comparison failed), the walker names the
    difference."""
    big = 10**400
    assert differences([big], [big + 1], tolerance=0.5) == [((0,), "value", big, big + 1)]
    assert differences([big], [big], tolerance=0.5) == []
