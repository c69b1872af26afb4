"""Noise counts survive the trip through the store's rows, and add up across processes."""

from __future__ import annotations

from parallel_run.compare import HttpAnswer, compare_http
from parallel_run.noise import NoiseRule, NoiseTracker
from parallel_run.noise_counts import (
    ROUTE_TOTALS,
    SharedNoise,
    tracker_from_counts,
    tracker_to_counts,
)
from parallel_run.store import NoiseCount

ROUTE = "/api/products/{sku}"


def answer(body: str) -> HttpAnswer:
    return HttpAnswer(200, (("content-type", "application/json"),), body.encode())


def tracker_with(twins: int, candidates: int) -> NoiseTracker:
    tracker = NoiseTracker(rule=NoiseRule(min_twin_samples=10))
    for i in range(twins):
        tracker.record_twin(ROUTE, compare_http(answer(f'{{"id": {i}}}'), answer('{"id": -1}')))
    for i in range(candidates):
        tracker.record(ROUTE, compare_http(answer(f'{{"id": {i}}}'), answer('{"id": -2}')))
    return tracker


def test_counts_round_trip_through_store_rows() -> None:
    tracker = tracker_with(12, 30)
    rows = tracker_to_counts(tracker, experiment="catalog")
    totals = next(r for r in rows if r.template_path == ROUTE_TOTALS)
    assert (totals.twin_samples, totals.samples) == (12, 30)
    assert any(r.template_path == "value:$.id" and r.diffs == 30 for r in rows)
    again = tracker_from_counts(rows, experiment="catalog")
    assert again.to_dict() == tracker.to_dict()


def test_rows_of_two_processes_add_up_and_other_experiments_are_ignored() -> None:
    rows = [
        *tracker_to_counts(tracker_with(12, 10), experiment="catalog"),
        *tracker_to_counts(tracker_with(12, 10), experiment="catalog"),
        NoiseCount("inventory", ROUTE, ROUTE_TOTALS, twin_samples=99, samples=99),
    ]
    merged = tracker_from_counts(rows, experiment="catalog")
    counts = merged.counts(ROUTE, "$.id", kind="value")
    assert (counts.twin_samples, counts.twin_diffs, counts.samples) == (24, 24, 20)
    # 24 twins pass the default rule's 20: together the processes know what neither knew alone
    assert merged.classify(ROUTE, "$.id", kind="value") == "noise"


def test_shared_noise_judges_by_the_stored_counts_and_hands_back_only_what_it_learned() -> None:
    stored = tracker_to_counts(tracker_with(25, 25), experiment="catalog")
    shared = SharedNoise("catalog", stored)
    # learned elsewhere (25 twins of the default rule's 20): it judges from the start
    assert shared.totals.classify(ROUTE, "$.id", kind="value") == "noise"
    for tracker in shared.trackers:
        tracker.record_twin(ROUTE, compare_http(answer('{"id": 1}'), answer('{"id": 2}')))
    rows = {row.template_path: row for row in shared.take()}
    assert rows[ROUTE_TOTALS].twin_samples == 1  # the increment, not the stored 25 again
    assert rows["value:$.id"].twin_diffs == 1
    assert shared.take() == []  # taken once
    assert shared.totals.counts(ROUTE, "$.id", kind="value").twin_samples == 26
