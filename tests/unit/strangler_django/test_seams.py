"""strangler_django's pure parts: which implementation a call takes, how routes.yaml is
followed, and how an experiment's result becomes a stored observation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facade.config import Seam
from facade.config.bucket import sticky_bucket
from parallel_run.experiment import Observation, Result
from strangler_django import SeamCallFailed, switchboard
from strangler_django.decide import choose
from strangler_django.recording import record_of
from strangler_django.switchboard import Switchboard


class Conflict(Exception):
    """A domain error as a project raises it: an HTTP status the caller would see."""

    status = 409
    code = "E409"


def never() -> float:
    raise AssertionError("no random draw expected")


@pytest.mark.parametrize(
    ("seam", "expected"),
    [
        (None, "legacy"),
        (Seam(implementation="legacy", service="catalog"), "legacy"),
        (Seam(implementation="new"), "legacy"),  # no service to call
        (Seam(implementation="new", service="catalog"), "new"),  # percent omitted: 100
        (Seam(implementation="experiment", service="catalog"), "experiment"),
        (Seam(implementation="new", service="catalog", percent=0), "legacy"),
    ],
)
def test_the_implementation_without_a_draw(seam: Seam | None, expected: str) -> None:
    assert choose("pricing", seam, keys={}, draw=never) == expected


def test_percent_is_the_share_of_calls_that_go_new() -> None:
    seam = Seam(implementation="new", service="catalog", percent=30)
    assert choose("pricing", seam, keys={}, draw=lambda: 0.29) == "new"
    assert choose("pricing", seam, keys={}, draw=lambda: 0.30) == "legacy"


def test_sticky_keeps_a_customer_on_one_side_and_only_moves_more_over() -> None:
    customers = [str(n) for n in range(2000)]
    chosen = {
        percent: {
            c
            for c in customers
            if choose(
                "pricing",
                Seam(implementation="new", service="catalog", percent=percent, sticky="customer"),
                keys={"customer": c},
                draw=never,
            )
            == "new"
        }
        for percent in (10, 50)
    }
    assert chosen[10] < chosen[50]  # raising the percent never moves anyone back
    assert 100 < len(chosen[10]) < 300
    assert 850 < len(chosen[50]) < 1150
    assert sticky_bucket("pricing", "7") == sticky_bucket("pricing", "7")
    assert sticky_bucket("pricing", "7") != sticky_bucket("inventory", "7")


ROUTES = "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\nservices: {catalog: {url: 'http://127.0.0.1:9'}}\n"


def _replace(path: Path, text: str) -> None:
    aside = path.with_suffix(".new")
    aside.write_text(text)
    os.replace(aside, path)


def test_the_switchboard_follows_the_file_and_parses_only_on_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "routes.yaml"
    _replace(routes, ROUTES + "seams: {pricing: {implementation: new, service: catalog}}\n")
    loads = []
    real_load = switchboard.load
    monkeypatch.setattr(switchboard, "load", lambda path: loads.append(path) or real_load(path))
    board = Switchboard(lambda: routes)
    for _ in range(5):
        _, seam = board.seam("pricing")
        assert seam is not None
        assert seam.implementation == "new"
    assert len(loads) == 1  # a stat per call, one parse
    _replace(routes, ROUTES + "seams: {pricing: {implementation: experiment, service: catalog}}\n")
    assert board.seam("pricing")[1] == Seam(implementation="experiment", service="catalog")
    _replace(routes, "version: 1\nlegacy: {url: [\n")
    assert board.seam("pricing")[1] == Seam(implementation="experiment", service="catalog")
    assert board.last_error is not None
    assert "routes.yaml:" in board.last_error  # PATH:LINE
    assert len(loads) == 3
    routes.unlink()
    assert board.seam("pricing")[1] is not None  # a vanished file keeps the last good one


def test_no_routes_setting_means_no_seams() -> None:
    assert Switchboard(lambda: None).current() is None


def _result(control: Observation[object], candidate: Observation[object]) -> Result[object]:
    equal = control.equivalent_to(candidate)
    return Result(
        "seam:inventory",
        control,
        (candidate,),
        mismatched=() if equal else (candidate,),
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
            _seen("candidate", exc=SeamCallFailed("inventory", "down")),
            "candidate_error",
        ),
        (_seen("control", {"qty": 1}), _seen("candidate", exc=TimeoutError()), "candidate_error"),
    ],
)
def test_an_experiment_result_becomes_an_observation(
    control: Observation[object], candidate: Observation[object], outcome: str
) -> None:
    record = record_of(_result(control, candidate), seam="inventory", call="reserve_stock X x1")
    assert (record.experiment, record.kind, record.route) == ("seam:inventory", "seam", "inventory")
    assert record.outcome == outcome
    if outcome == "mismatch":
        assert record.differences
        assert record.signature
    if isinstance(candidate.exception, TimeoutError):
        assert record.candidate_error == "timeout"  # what the report counts as a timeout
