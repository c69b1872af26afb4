"""The example sampler: the first N of each signature per window keep their bodies."""

from __future__ import annotations

import pytest

from parallel_run import sampling
from parallel_run.sampling import ExampleSampler, SampleKey, SamplePolicy, difference_shape

BODY: SampleKey = ("catalog", None, "mismatch", "body")
PRICE: SampleKey = ("catalog", None, "mismatch", "$.price")


def kept(sampler: ExampleSampler, key: SampleKey, times: list[float]) -> list[bool]:
    return [sampler.keep(key, now=t) for t in times]


def test_the_first_examples_of_a_signature_are_kept_and_the_rest_counted() -> None:
    sampler = ExampleSampler(SamplePolicy(examples=3, window=3600))
    assert kept(sampler, BODY, [float(t) for t in range(10)]) == [True] * 3 + [False] * 7


def test_each_signature_has_its_own_examples() -> None:
    sampler = ExampleSampler(SamplePolicy(examples=1, window=60))
    assert kept(sampler, BODY, [0, 1]) == [True, False]
    assert kept(sampler, PRICE, [2, 3]) == [True, False]
    # the same signature in a replay run, or as a candidate error, is another example
    assert sampler.keep(("catalog", "run-1", "mismatch", "body"), now=4)
    assert sampler.keep(("catalog", None, "candidate_error", "body"), now=5)


def test_a_new_window_keeps_examples_again() -> None:
    sampler = ExampleSampler(SamplePolicy(examples=2, window=60))
    assert kept(sampler, BODY, [0, 10, 59.9]) == [True, True, False]
    assert kept(sampler, BODY, [60, 61, 119]) == [True, True, False]
    assert kept(sampler, BODY, [600]) == [True]


def test_zero_examples_keeps_none() -> None:
    sampler = ExampleSampler(SamplePolicy(examples=0))
    assert kept(sampler, BODY, [0, 1, 2]) == [False, False, False]


def test_signatures_past_the_bound_are_counted_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "MAX_SIGNATURES", 3)
    sampler = ExampleSampler(SamplePolicy(examples=1, window=60))
    fresh = [sampler.keep(("catalog", None, "mismatch", f"$.k{n}"), now=1) for n in range(5)]
    assert fresh == [True, True, True, False, False]
    # a new window forgets them: memory is bounded per window, not per process lifetime
    assert sampler.keep(("catalog", None, "mismatch", "$.k4"), now=61)


@pytest.mark.parametrize(("examples", "window"), [(-1, 60.0), (1, 0.0), (1, float("inf"))])
def test_a_policy_that_makes_no_sense_is_refused(examples: int, window: float) -> None:
    with pytest.raises(ValueError, match=r"examples|window"):
        SamplePolicy(examples=examples, window=window)


def test_a_shape_keeps_paths_and_kinds_never_values() -> None:
    differences = [
        {"path": "$.items[0].sku", "template_path": "$.items[*].sku", "kind": "value",
         "control": "A" * 10_000, "candidate": "B"},
        {"path": "$.items[1].sku", "template_path": "$.items[*].sku", "kind": "value"},
        {"path": "body", "template_path": "body", "kind": "body"},
        {"path": "$.extra", "kind": "extra"},
    ]  # fmt: skip
    assert difference_shape(differences) == (
        ("$.extra", "extra"),
        ("$.items[*].sku", "value"),
        ("body", "body"),
    )
