"""Noise counts survive the trip through the store's rows, and add up across processes."""

from __future__ import annotations

from parallel_run.compare import HttpAnswer, compare_http
from parallel_run.noise import NoiseRule, NoiseTracker
from parallel_run.noise_counts import ROUTE_TOTALS, tracker_from_counts, tracker_to_counts
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
