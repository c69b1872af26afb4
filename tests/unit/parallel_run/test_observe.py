"""The one observation path: compare, set noise apart, classify, build the record."""

from __future__ import annotations

import json

import pytest

from parallel_run.compare import CompareRules, HttpAnswer
from parallel_run.noise import NoiseTracker
from parallel_run.observe import Where, classify, observe, record_of

JSON = (("Content-Type", "application/json"),)
WHERE = Where(experiment="catalog", route="/p/{sku}", method="GET", path="/p/1?x=1", run_id="r")


def answer(status: int = 200, **fields: object) -> HttpAnswer:
    return HttpAnswer(status, JSON, json.dumps(fields, sort_keys=True).encode())


@pytest.mark.parametrize(
    ("control", "candidate", "ignored", "outcome"),
    [
        (answer(sku="1"), answer(sku="1"), False, "match"),
        (answer(sku="1"), answer(sku="2"), False, "mismatch"),
        (answer(sku="1"), HttpAnswer.failed("timeout"), False, "candidate_error"),
        # both failed: the candidate is no worse than the monolith
        (HttpAnswer.failed("timeout"), HttpAnswer.failed("timeout"), False, "match"),
        (answer(sku="1"), answer(sku="2"), True, "ignored"),
        (answer(sku="1"), HttpAnswer.failed("timeout"), True, "candidate_error"),
    ],
)
def test_outcomes(control: HttpAnswer, candidate: HttpAnswer, ignored: bool, outcome: str) -> None:
    assert classify(control, candidate, ignored=ignored).outcome == outcome


def test_ignored_paths_follow_the_rules() -> None:
    rules = CompareRules(ignore_paths=("$.at",))
    assert classify(answer(at=1), answer(at=2), rules=rules).outcome == "match"


def test_what_the_monolith_varies_on_by_itself_is_noise_and_every_tracker_learns() -> None:
    judge, pending = NoiseTracker(), NoiseTracker()
    for n in range(60):
        observed = classify(
            answer(at=n),
            answer(at=n + 1),
            route=WHERE.route,
            trackers=(judge, pending),
            twin=answer(at=n + 2),
        )
        assert observed.twin is not None
    assert observed.outcome == "match"
    assert [d.path for d in observed.noise] == ["$.at"]
    assert observed.differences == ()
    for tracker in (judge, pending):
        counts = tracker.counts(WHERE.route, "$.at")
        assert (counts.twin_samples, counts.samples) == (60, 60)


def test_without_trackers_a_twin_is_not_compared() -> None:
    observed = classify(answer(at=1), answer(at=2), twin=answer(at=3))
    assert observed.twin is None
    assert observed.outcome == "mismatch"


def test_a_match_is_recorded_without_headers_or_bodies_anything_else_with_both() -> None:
    _, match = observe(answer(sku="1"), answer(sku="1"), WHERE, control_ms=1.0, candidate_ms=2.0)
    assert (match.control_body, match.candidate_headers) == (None, ())
    assert match.control_body_size == len(answer(sku="1").body)
    observed, mismatch = observe(
        answer(sku="1"), answer(sku="2"), WHERE, control_ms=1.0, candidate_ms=2.0
    )
    assert mismatch.outcome == observed.outcome == "mismatch"
    assert (mismatch.experiment, mismatch.route, mismatch.method, mismatch.path) == (
        "catalog",
        "/p/{sku}",
        "GET",
        "/p/1?x=1",
    )
    assert mismatch.run_id == "r"
    assert mismatch.signature == "$.sku"
    assert mismatch.candidate_body == answer(sku="2").body
    assert mismatch.control_headers == JSON
    assert (mismatch.control_ms, mismatch.candidate_ms) == (1.0, 2.0)


def test_the_record_takes_a_declared_candidate_size_and_both_errors() -> None:
    control, candidate = answer(sku="1"), HttpAnswer.failed("timeout")
    observed = classify(control, candidate)
    record = record_of(
        observed, control, candidate, WHERE, control_ms=None, candidate_ms=5.0,
        candidate_body_size=4096,
    )  # fmt: skip
    assert record.outcome == "candidate_error"
    assert record.candidate_error == "timeout"
    assert record.control_error is None
    assert record.candidate_body_size == 4096
