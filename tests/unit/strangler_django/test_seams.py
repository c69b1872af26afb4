"""strangler_django's pure parts: which implementation a call takes, how routes.yaml is
followed, and that an experiment is published through parallel_run's store publisher."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facade.config import Seam
from facade.config.bucket import sticky_bucket
from parallel_run.publish import StorePublisher
from parallel_run.record import ObservationRecord
from strangler_django import Endpoint, SeamCallFailed, recording, switchboard
from strangler_django import Seam as SeamCall
from strangler_django.decide import choose
from strangler_django.switchboard import Switchboard


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


def test_an_experiment_seam_publishes_each_call_through_the_store_publisher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "routes.yaml"
    _replace(routes, ROUTES + "seams: {pricing: {implementation: experiment, service: catalog}}\n")
    stored: list[ObservationRecord] = []
    published: list[str] = []

    class Recorder:
        def submit(self, record: ObservationRecord) -> bool:
            stored.append(record)
            return True

    monkeypatch.setattr(recording, "recorder_for", lambda config: Recorder())
    real_publish = StorePublisher.__call__
    monkeypatch.setattr(
        StorePublisher,
        "__call__",
        lambda self, result: published.append(result.name) or real_publish(self, result),
    )
    pricing = SeamCall("pricing", board=Switchboard(lambda: routes))

    def down(endpoint: Endpoint) -> int:
        raise SeamCallFailed(endpoint.name, "unreachable")

    assert pricing.run(legacy=lambda: 100, new=lambda endpoint: 100, call="price 1") == 100
    assert pricing.run(legacy=lambda: 100, new=lambda endpoint: 90, call="price 2") == 100
    assert pricing.run(legacy=lambda: 100, new=down, call="price 3") == 100
    assert published == ["seam:pricing"] * 3
    assert [(r.path, r.outcome) for r in stored] == [
        ("price 1", "match"),
        ("price 2", "mismatch"),
        ("price 3", "candidate_error"),
    ]
    assert {(r.experiment, r.kind, r.route, r.method) for r in stored} == {
        ("seam:pricing", "seam", "pricing", "CALL")
    }
