"""Noise learned from twin legacy calls, the rule that separates it from mismatches, and the
interval statistics underneath."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_run.compare import (
    CompareRules,
    Comparison,
    ComparisonError,
    Difference,
    DifferenceKind,
    HttpAnswer,
    compare_http,
)
from parallel_run.noise import NoiseRule, NoiseTracker, should_sample_twin, split
from parallel_run.stats import difference_interval, wilson_interval

ROUTE = "GET /api/products/{sku}"


def differing(*paths: str, kind: DifferenceKind = "value") -> Comparison:
    """A comparison that differed at these template paths (one element each)."""
    if not paths:
        return Comparison(True, (), "parsed")
    found = tuple(Difference(p.replace("[*]", "[0]"), p, kind, 1, 2) for p in paths)
    return Comparison(False, found, "deepdiff")


def observe(
    tracker: NoiseTracker,
    path: str,
    *,
    twins: tuple[int, int],
    candidates: tuple[int, int],
    kind: DifferenceKind = "value",
    route: str = ROUTE,
) -> None:
    """Record `differed` of `total` twin and candidate comparisons differing at `path`."""
    for differed, total, record in (
        (*twins, tracker.record_twin),
        (*candidates, tracker.record),
    ):
        for i in range(total):
            record(route, differing(path, kind=kind) if i < differed else differing())


# -- statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 100, 0.0018, 0.0545),
        (0, 0, 0.0, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


@given(st.integers(0, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_observed_rate_within_0_and_1(sample: tuple[int, int]) -> None:
    successes, n = sample
    low, high = wilson_interval(successes, n)
    rate = successes / n if n else 0.5
    assert 0.0 <= low <= rate <= high <= 1.0


@pytest.mark.parametrize(("successes", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_interval_refuses_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n)


def test_difference_interval_matches_newcombe_1998() -> None:
    # Newcombe, Statistics in Medicine 17:873-890, table II, example (a): 56/70 - 48/80
    assert difference_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    # example (d): 0/10 - 0/20
    assert difference_interval(0, 10, 0, 20) == pytest.approx((-0.1611, 0.2775), abs=1e-4)


# -- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twins", "candidates", "verdict"),
    [
        # a timestamp or generated id: differs in every legacy pair and every candidate pair
        ((30, 30), (50, 50), "noise"),
        # wrong in the candidate only: the monolith never varies there
        ((0, 30), (40, 50), "mismatch"),
        ((0, 200), (1, 1000), "mismatch"),
        # noisy in 10% of legacy pairs, but different in every candidate answer
        ((10, 100), (50, 50), "mismatch"),
        ((10, 100), (100, 200), "mismatch"),
        # the same 10% either way: noise
        ((10, 100), (12, 100), "noise"),
        # half of the time in legacy, always in the candidate
        ((50, 100), (100, 100), "mismatch"),
        # a candidate answering a little later crosses a second boundary a little more often
        ((950, 1000), (965, 1000), "noise"),
        # too few twin calls to call anything noise yet
        ((5, 5), (50, 50), "unknown"),
        ((19, 19), (50, 50), "unknown"),
        # twins say noisy, but no candidate comparison recorded yet
        ((30, 30), (0, 0), "unknown"),
        # noisy once in 30 legacy pairs is not yet shown to be noisy at all
        ((1, 30), (1, 30), "mismatch"),
    ],
)
def test_a_path_is_noise_only_when_legacy_varies_as_often_as_the_candidate_does(
    twins: tuple[int, int], candidates: tuple[int, int], verdict: str
) -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=twins, candidates=candidates)
    assert tracker.classify(ROUTE, "$.generated_at") == verdict


def test_a_noisy_value_that_changes_type_or_vanishes_in_the_candidate_is_a_mismatch() -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=(30, 30), candidates=(50, 50))
    observe(tracker, "$.generated_at", twins=(0, 0), candidates=(5, 5), kind="missing")
    assert tracker.classify(ROUTE, "$.generated_at", kind="value") == "noise"
    assert tracker.classify(ROUTE, "$.generated_at", kind="missing") == "mismatch"
    assert tracker.classify(ROUTE, "$.generated_at", kind="type") == "mismatch"


def test_noise_is_learned_per_route() -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=(30, 30), candidates=(50, 50))
    observe(tracker, "$.other", twins=(0, 30), candidates=(0, 50), route="GET /api/orders")
    assert tracker.classify(ROUTE, "$.generated_at") == "noise"
    assert tracker.classify("GET /api/orders", "$.generated_at") == "mismatch"
    assert tracker.classify("GET /api/never-seen", "$.generated_at") == "unknown"


def test_stricter_rules_can_be_chosen() -> None:
    tracker = NoiseTracker(rule=NoiseRule(min_twin_samples=100))
    observe(tracker, "$.generated_at", twins=(30, 30), candidates=(50, 50))
    assert tracker.classify(ROUTE, "$.generated_at") == "unknown"


@pytest.mark.parametrize(
    "rule",
    [
        {"min_twin_samples": 0},
        {"min_noise_rate": 0.0},
        {"margin": 1.0},
        {"margin": -0.1},
        {"z": 0.0},
    ],
)
def test_rules_out_of_range_are_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(rule))):
        NoiseRule(**rule)


# -- recording ---------------------------------------------------------------------------------


def test_a_path_counts_once_per_comparison_however_many_elements_differ() -> None:
    tracker = NoiseTracker()
    many = Comparison(
        False,
        tuple(
            Difference(f"$.items[{i}].ts", "$.items[*].ts", "value", i, i + 1) for i in range(40)
        ),
        "deepdiff",
    )
    tracker.record_twin(ROUTE, many)
    counts = tracker.counts(ROUTE, "$.items[*].ts")
    assert (counts.twin_samples, counts.twin_diffs) == (1, 1)


def test_comparisons_where_a_side_failed_teach_nothing() -> None:
    tracker = NoiseTracker()
    failed = compare_http(HttpAnswer.failed("timeout"), HttpAnswer(200, body=b"{}"))
    assert not tracker.record(ROUTE, failed)
    assert not tracker.record_twin(ROUTE, failed)
    assert tracker.to_dict()["routes"] == {}


def test_paths_tracked_per_route_are_bounded() -> None:
    tracker = NoiseTracker(max_paths=3)
    for i in range(30):
        tracker.record_twin(ROUTE, differing(f"$.prices['SKU-{i}']"))
    assert len(tracker.to_dict()["routes"][ROUTE]["paths"]) == 3
    assert tracker.classify(ROUTE, "$.prices['SKU-9']") == "mismatch"


# -- split -------------------------------------------------------------------------------------


def test_split_sets_noise_apart_and_keeps_everything_else_as_mismatches() -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=(30, 30), candidates=(50, 50))
    comparison = differing("$.generated_at", "$.price", "$.items[*].ts")
    mismatches, noise = split(comparison, route=ROUTE, tracker=tracker)
    assert [d.template_path for d in noise] == ["$.generated_at"]
    # $.price: the twins never differ there; $.items[*].ts: unknown to the twins, not excused
    assert [d.template_path for d in mismatches] == ["$.price", "$.items[*].ts"]


def test_nothing_is_noise_before_enough_twin_calls() -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=(3, 3), candidates=(3, 3))
    mismatches, noise = split(differing("$.generated_at"), route=ROUTE, tracker=tracker)
    assert (len(mismatches), len(noise)) == (1, 0)


def test_learning_from_real_answers_end_to_end() -> None:
    """Twin legacy answers teach that generated_at is noise; a wrong price still stands out,
    and so does a generated_at the candidate leaves out."""
    rng = random.Random(7)
    rules = CompareRules()
    tracker = NoiseTracker()

    def legacy(price: int = 10) -> HttpAnswer:
        body = {
            "sku": "A",
            "price": price,
            "generated_at": f"10:00:{rng.randrange(60):02d}.{rng.random()}",
        }
        return HttpAnswer(200, (("content-type", "application/json"),), json.dumps(body).encode())

    for _ in range(40):
        tracker.record_twin(ROUTE, compare_http(legacy(), legacy(), rules=rules))
    for i in range(60):
        tracker.record(
            ROUTE, compare_http(legacy(), legacy(price=11 if i % 2 else 10), rules=rules)
        )

    comparison = compare_http(legacy(), legacy(price=11), rules=rules)
    mismatches, noise = split(comparison, route=ROUTE, tracker=tracker)
    assert [d.path for d in mismatches] == ["$.price"]
    assert [d.path for d in noise] == ["$.generated_at"]
    assert [c.path for c in tracker.noise_paths(ROUTE)] == ["$.generated_at"]

    without = HttpAnswer(200, (("content-type", "application/json"),), b'{"sku": "A", "price": 10}')
    mismatches, noise = split(
        compare_http(legacy(), without, rules=rules), route=ROUTE, tracker=tracker
    )
    assert [(d.path, d.kind) for d in mismatches] == [("$.generated_at", "missing")]
    assert noise == ()


# -- persistence and merging -------------------------------------------------------------------


def test_counts_round_trip_through_plain_json() -> None:
    tracker = NoiseTracker()
    observe(tracker, "$.generated_at", twins=(25, 30), candidates=(40, 50))
    observe(tracker, "$['a b']", twins=(0, 3), candidates=(2, 5), route="GET /x")
    data = json.loads(json.dumps(tracker.to_dict()))
    restored = NoiseTracker.from_dict(data)
    assert restored.to_dict() == tracker.to_dict()
    assert restored.classify(ROUTE, "$.generated_at") == tracker.classify(ROUTE, "$.generated_at")


def test_merging_adds_the_counts_of_several_processes() -> None:
    first, second = NoiseTracker(), NoiseTracker()
    observe(first, "$.generated_at", twins=(10, 10), candidates=(25, 25))
    observe(second, "$.generated_at", twins=(12, 12), candidates=(25, 25))
    observe(second, "$.price", twins=(0, 0), candidates=(1, 1))
    # alone, neither process has seen enough twin calls
    assert first.classify(ROUTE, "$.generated_at") == "unknown"
    assert second.classify(ROUTE, "$.generated_at") == "unknown"

    total = NoiseTracker.from_dict(first.to_dict())
    total.merge(second)
    counts = total.counts(ROUTE, "$.generated_at")
    assert (counts.twin_samples, counts.twin_diffs, counts.samples, counts.diffs) == (
        22,
        22,
        51,
        50,
    )
    assert total.counts(ROUTE, "$.price").diffs == 1
    assert total.classify(ROUTE, "$.generated_at") == "noise"
    # merging is order-free
    other = NoiseTracker.from_dict(second.to_dict())
    other.merge(first)
    assert other.to_dict() == total.to_dict()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 2, "routes": {}}, "version"),
        ({"version": 1, "routes": []}, "routes"),
        ({"version": 1, "routes": {"r": {"twin_samples": -1}}}, "twin_samples"),
        ({"version": 1, "routes": {"r": {"samples": "3"}}}, "samples"),
        ({"version": 1, "routes": {"r": {"paths": {}}}}, "paths"),
        ({"version": 1, "routes": {"r": {"paths": [{"path": "$.a"}]}}}, "kind"),
        (
            {
                "version": 1,
                "routes": {
                    "r": {
                        "twin_samples": 1,
                        "paths": [{"path": "$.a", "kind": "value", "twin_diffs": 2}],
                    }
                },
            },
            "more differences than comparisons",
        ),
    ],
)
def test_malformed_counts_are_refused_with_the_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ComparisonError, match=message):
        NoiseTracker.from_dict(data)


# -- sampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_are_never_sent_twice(method: str) -> None:
    assert not should_sample_twin(random.Random(1), fraction=1.0, method=method)


def test_twin_sampling_follows_the_fraction() -> None:
    rng = random.Random(42)
    assert not any(should_sample_twin(rng, fraction=0.0, method="GET") for _ in range(1000))
    assert all(should_sample_twin(rng, fraction=1.0, method="head") for _ in range(1000))
    drawn = sum(should_sample_twin(rng, fraction=0.1, method="GET") for _ in range(10_000))
    low, high = wilson_interval(drawn, 10_000, z=4.0)
    assert low <= 0.1 <= high


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_twin_sampling_refuses_fractions_outside_0_and_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        should_sample_twin(random.Random(1), fraction=fraction, method="GET")
