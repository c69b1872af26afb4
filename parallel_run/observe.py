"""The one observation path: compare the control's answer with the candidate's, set the
monolith's own noise apart, classify, and build the record to store (pure, no I/O).

Shadow mode (``facade.shadow``), replay (``strangler.replay``) and every ``Experiment``
published with ``parallel_run.publish.StorePublisher`` (the Django seams') all go through
``observe``; they differ only in what they pass (rules, noise trackers, a twin) and in what
they do with the result (the shadow tallies a match instead of storing it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parallel_run.compare import (
    DEFAULT_RULES,
    CompareRules,
    Comparison,
    Difference,
    HttpAnswer,
    compare_http,
)
from parallel_run.noise import NoiseTracker, split
from parallel_run.record import Kind, ObservationRecord, Outcome


@dataclass(frozen=True, slots=True)
class Observed:
    """What one comparison found: its outcome, and its differences with the noise apart."""

    outcome: Outcome
    differences: tuple[Difference, ...]
    noise: tuple[Difference, ...]
    twin: Comparison | None  # the control against its twin, when one was learned from


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where an observation was made: what the record names besides the two answers."""

    experiment: str
    route: str
    method: str
    path: str
    kind: Kind = "http"
    run_id: str | None = None


def classify(
    control: HttpAnswer,
    candidate: HttpAnswer,
    *,
    rules: CompareRules = DEFAULT_RULES,
    route: str = "",
    trackers: Sequence[NoiseTracker] = (),
    twin: HttpAnswer | None = None,
    ignored: bool = False,
) -> Observed:
    """Compare and classify. With ``trackers`` (the first is the one that judges; every one
    learns), the comparison and the ``twin``'s are recorded there first, and differences the
    monolith shows against itself are noise, not mismatches. Without, ``twin`` is unused.

    ``candidate_error``: only the candidate failed. ``ignored``: the caller's experiment said
    to ignore this run. ``match``: nothing but noise differs."""
    comparison = compare_http(control, candidate, rules=rules)
    differences: tuple[Difference, ...] = comparison.differences
    noise: tuple[Difference, ...] = ()
    twins: Comparison | None = None
    if trackers:
        if twin is not None:
            twins = compare_http(control, twin, rules=rules)
            for tracker in trackers:
                tracker.record_twin(route, twins)
        for tracker in trackers:
            tracker.record(route, comparison)
        differences, noise = split(comparison, route=route, tracker=trackers[0])
    outcome: Outcome
    if candidate.error is not None and control.error is None:
        outcome = "candidate_error"
    elif ignored:
        outcome = "ignored"
    elif not differences:
        outcome = "match"  # equal, or differing only where the monolith differs from itself
    else:
        outcome = "mismatch"
    return Observed(outcome, differences, noise, twins)


def record_of(
    observed: Observed,
    control: HttpAnswer,
    candidate: HttpAnswer,
    where: Where,
    *,
    control_ms: float | None,
    candidate_ms: float | None,
    candidate_body_size: int | None = None,
) -> ObservationRecord:
    """The record to store: a match keeps neither headers nor bodies (only sizes), anything
    else keeps both for the report's examples (the store redacts and cuts them)."""
    keep = observed.outcome != "match"
    return ObservationRecord(
        experiment=where.experiment,
        kind=where.kind,
        route=where.route,
        method=where.method,
        path=where.path,
        outcome=observed.outcome,
        control_status=control.status,
        candidate_status=candidate.status,
        control_ms=control_ms,
        candidate_ms=candidate_ms,
        control_error=control.error,
        candidate_error=candidate.error,
        differences=tuple(d.to_dict() for d in observed.differences),
        noise=tuple(d.to_dict() for d in observed.noise),
        signature="\n".join(sorted({d.template_path for d in observed.differences})),
        control_headers=control.headers if keep else (),
        candidate_headers=candidate.headers if keep else (),
        control_body=control.body if keep else None,
        candidate_body=candidate.body if keep else None,
        control_body_size=len(control.body),
        candidate_body_size=(
            len(candidate.body) if candidate_body_size is None else candidate_body_size
        ),
        run_id=where.run_id,
    )


def observe(
    control: HttpAnswer,
    candidate: HttpAnswer,
    where: Where,
    *,
    control_ms: float | None,
    candidate_ms: float | None,
    rules: CompareRules = DEFAULT_RULES,
    trackers: Sequence[NoiseTracker] = (),
    twin: HttpAnswer | None = None,
    ignored: bool = False,
    candidate_body_size: int | None = None,
) -> tuple[Observed, ObservationRecord]:
    """``classify`` then ``record_of``: the outcome and the record of one observation."""
    observed = classify(
        control, candidate, rules=rules, route=where.route, trackers=trackers, twin=twin,
        ignored=ignored,
    )  # fmt: skip
    record = record_of(
        observed, control, candidate, where, control_ms=control_ms, candidate_ms=candidate_ms,
        candidate_body_size=candidate_body_size,
    )  # fmt: skip
    return observed, record
