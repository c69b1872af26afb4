"""What an observation keeps once redacted: differing values are cut, bodies to the limit."""

from __future__ import annotations

import json

from parallel_run.record import CUT_MARK, VALUE_LIMIT, ObservationRecord, cut_value
from parallel_run.redact import Redactor


def test_short_values_are_kept_as_they_are() -> None:
    for value in ("x", 7, 1.5, True, None, [1, 2], {"a": "b"}):
        assert cut_value(value) == value


def test_a_long_string_is_cut_and_marked() -> None:
    cut = cut_value("x" * 5_000_000)
    assert cut == "x" * VALUE_LIMIT + CUT_MARK


def test_a_large_list_or_object_becomes_its_cut_json_text() -> None:
    value = {"items": [{"sku": f"SKU-{n}"} for n in range(10_000)]}
    cut = cut_value(value)
    assert isinstance(cut, str)
    assert len(cut) == VALUE_LIMIT + len(CUT_MARK)
    assert cut.startswith(json.dumps(value, sort_keys=True)[:100])


def test_a_redacted_record_holds_no_large_value_and_no_body_past_the_limit() -> None:
    big = "y" * 2_000_000
    record = ObservationRecord(
        experiment="catalog",
        route="/p/{id}",
        outcome="mismatch",
        differences=({"path": "$.d", "template_path": "$.d", "kind": "value",
                      "control": big, "candidate": [big]},),
        control_body=b"a" * 100_000,
        candidate_body=b"b" * 5_000_000,
    )  # fmt: skip
    redacted = record.redacted(Redactor(), 4096)
    (difference,) = redacted.differences
    assert len(difference["control"]) <= VALUE_LIMIT + 1
    assert len(difference["candidate"]) <= VALUE_LIMIT + 1
    assert redacted.control_body == b"a" * 4096
    assert redacted.candidate_body == b"b" * 4096
    assert (redacted.control_body_size, redacted.candidate_body_size) == (100_000, 5_000_000)
