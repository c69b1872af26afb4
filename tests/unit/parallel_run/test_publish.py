"""The store publisher: an Experiment's runs become stored observations through the one
observation path, whoever runs the experiment (the Django seams, or any other user)."""

from __future__ import annotations

import logging
import random

import pytest

from parallel_run.experiment import Experiment, Observation, Result
from parallel_run.observe import Where
from parallel_run.publish import StorePublisher, records_of
from parallel_run.record import ObservationRecord

JSON = (("Content-Type", "application/json"),)
WHERE = Where(
    experiment="seam:inventory", kind="seam", route="inventory", method="CALL", path="reserve"
)


class Conflict(Exception):
    """A domain error as a project raises it: an HTTP status the caller would see."""

    status = 409
    code = "E409"


class Unreachable(Exception):
    """A service that did not answer (what a seam's SeamCallFailed is)."""


class Store:
    """What a Recorder's ``submit`` is to the publisher: accepts, or drops when full."""

    def __init__(self, *, full: bool = False) -> None:
        self.records: list[ObservationRecord] = []
        self.full = full

    def submit(self, record: ObservationRecord) -> bool:
        if self.full:
            return False
        self.records.append(record)
        return True


def _result(control: Observation[object], *candidates: Observation[object]) -> Result[object]:
    return Result(
        "seam:inventory",
        control,
        candidates,
        mismatched=tuple(c for c in candidates if not control.equivalent_to(c)),
        ignored=(),
        context={},
    )


def _seen(name: str, value: object = None, exc: Exception | None = None) -> Observation[object]:
    return Observation(name, value, exc, 0.01, value)


@pytest.mark.parametrize(
    ("control", "candidate", "outcome"),
    [
        (_seen("control", {"qty": 1}), _seen("candidate", {"qty": 1}), "match"),
        (_seen("control", {"qty": 1}), _seen("candidate", {"qty": 2}), "mismatch"),
        (
            _seen("control", exc=Conflict("insufficient stock")),
            _seen("candidate", exc=Conflict("insufficient stock")),
            "match",
        ),
        (_seen("control", {"qty": 1}), _seen("candidate", exc=Conflict("no")), "mismatch"),
        (
            _seen("control", exc=Conflict("insufficient stock")),
            _seen("candidate", exc=Conflict("insufficient stock: 2 left")),
            "mismatch",
        ),
        (
            _seen("control", {"qty": 1}),
            _seen("candidate", exc=ValueError("bug")),
            "candidate_error",
        ),
        (
            _seen("control", {"qty": 1}),
            _seen("candidate", exc=Unreachable("inventory: down")),
            "candidate_error",
        ),
        (_seen("control", {"qty": 1}), _seen("candidate", exc=TimeoutError()), "candidate_error"),
    ],
)
def test_an_experiment_result_becomes_an_observation(
    control: Observation[object], candidate: Observation[object], outcome: str
) -> None:
    (record,) = records_of(_result(control, candidate), WHERE)
    assert (record.experiment, record.kind, record.route) == ("seam:inventory", "seam", "inventory")
    assert (record.method, record.path) == ("CALL", "reserve")
    assert record.outcome == outcome
    assert (record.control_ms, record.candidate_ms) == (10.0, 10.0)
    assert record.control_headers == record.candidate_headers == JSON  # even a failure's
    if outcome == "mismatch":
        assert record.differences
        assert record.signature
        assert record.control_body is not None  # a mismatch keeps its evidence
    if isinstance(candidate.exception, TimeoutError):
        assert record.candidate_error == "timeout"  # what the report counts as a timeout


def test_an_ignored_candidate_is_recorded_as_ignored() -> None:
    control, candidate = _seen("control", {"qty": 1}), _seen("candidate", {"qty": 2})
    result = Result("seam:inventory", control, (candidate,), (), (candidate,), {})
    assert [r.outcome for r in records_of(result, WHERE)] == ["ignored"]


def test_each_candidate_that_ran_is_one_observation_and_none_ran_is_none() -> None:
    control = _seen("control", {"qty": 1})
    store = Store()
    publish = StorePublisher(store.submit, route="inventory", call="reserve X x1")
    publish(_result(control, _seen("fast", {"qty": 1}), _seen("slow", {"qty": 3})))
    assert [r.outcome for r in store.records] == ["match", "mismatch"]
    assert {(r.experiment, r.route, r.path) for r in store.records} == {
        ("seam:inventory", "inventory", "reserve X x1")
    }
    publish(_result(control))  # run_if or the enabled draw raised: nothing was compared
    assert len(store.records) == 2


def test_a_real_experiment_publishes_through_it_and_the_route_defaults_to_its_name() -> None:
    store = Store()
    experiment: Experiment[dict[str, int]] = Experiment(
        "pricing", publish=[StorePublisher(store.submit)], rng=random.Random(1)
    )
    experiment.control(lambda: {"cents": 100})
    experiment.candidate(lambda: {"cents": 101})
    assert experiment.run() == {"cents": 100}  # the control's value, whatever was published
    (record,) = store.records
    assert (record.experiment, record.route, record.kind) == ("pricing", "pricing", "seam")
    assert record.outcome == "mismatch"
    assert [d["path"] for d in record.differences] == ["$.cents"]


def test_a_full_store_queue_costs_a_logged_observation_never_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    experiment: Experiment[int] = Experiment(
        "pricing", publish=[StorePublisher(Store(full=True).submit)]
    )
    experiment.control(lambda: 1)
    experiment.candidate(lambda: 1)
    with caplog.at_level(logging.WARNING, logger="strangler.parallel_run"):
        assert experiment.run() == 1
    assert "'pricing': observation dropped (the store queue is full)" in caplog.text
