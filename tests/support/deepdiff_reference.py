"""The comparator's differ as it was until issue 17: deepdiff's tree report, turned into the
walker's `Found` tuples exactly as `parallel_run.compare` turned it into differences.

Kept as the reference the walker (`parallel_run.json_diff.differences`) is held to by the
property test, and as the "before" of the comparator benchmark (`bench/compare_bench.py`,
through `before_issue_17()`). deepdiff is a dev dependency for this alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from deepdiff import DeepDiff

from parallel_run import compare
from parallel_run.json_diff import Found, Kind, is_number, numbers_close

_KINDS: Final[dict[str, Kind]] = {
    "values_changed": "value",
    "type_changes": "type",
    "dictionary_item_added": "extra",
    "dictionary_item_removed": "missing",
    "iterable_item_added": "extra",
    "iterable_item_removed": "missing",
}


def deepdiff_differences(
    ours: Any,
    theirs: Any,
    *,
    tolerance: float = 0.0,
    ordered: bool = True,
    settled_equal: Callable[[Any, Any], bool] | None = None,
) -> list[Found]:
    """What `compare._compare_json` reported after its fast check, before issue 17
    (deepdiff walks every value: ``settled_equal``, a shortcut of the walker, is unused)."""
    tree = DeepDiff(
        ours,
        theirs,
        view="tree",
        verbose_level=2,
        math_epsilon=tolerance or None,
        threshold_to_diff_deeper=0,
        zip_ordered_iterables=ordered,
    )
    found: list[tuple[tuple[tuple[bool, Any], ...], Found]] = []
    for report, levels in tree.items():
        kind = _KINDS.get(report, "value")
        for level in levels:
            location = tuple(level.path(output_format="list"))
            control = None if kind == "extra" else level.t1
            candidate = None if kind == "missing" else level.t2
            this = kind
            if kind == "type" and is_number(control) and is_number(candidate):
                if control == candidate or (
                    tolerance and numbers_close(control, candidate, tolerance)
                ):
                    continue
                this = "value"
            key = tuple((isinstance(s, str), s) for s in location)
            found.append((key, (location, this, control, candidate)))
    found.sort(key=lambda item: item[0])
    return [difference for _, difference in found]


def _parse_before(body: bytes) -> Any:
    """`compare._parse` before issue 17: json.loads built a decoder on every call."""
    head = body[:64].lstrip()
    if not head or (head[0] < 0x80 and head[0] not in compare._JSON_STARTS):
        return compare._NOT_JSON
    try:
        return json.loads(body, parse_constant=compare._reject_constant)
    except (ValueError, RecursionError):
        return compare._NOT_JSON


@contextmanager
def before_issue_17() -> Iterator[None]:
    """`compare_http` as it was before issue 17, for the benchmark's "before": deepdiff as the
    differ, a decoder built per parse, content types parsed on every answer. One change stays:
    C's `==` before the strict walk (one C-speed comparison more on equal values)."""
    saved = compare.DeepDiff, compare._parse, compare._media_type_key
    compare.DeepDiff = deepdiff_differences
    compare._parse = _parse_before
    compare._media_type_key = compare._media_type_key.__wrapped__  # type: ignore[assignment]
    try:
        yield
    finally:
        compare.DeepDiff, compare._parse, compare._media_type_key = saved
