"""One lifecycle step in process: the audit record comes before the file, so a reloading
facade never takes a CLI change for a hand edit; concurrent steps queue on the lock."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from facade import config as config_module
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from strangler import audit as hand_edits
from strangler.lifecycle import steps as lifecycle
from strangler.lifecycle.steps import BadRequest, LifecycleError, Refused, Who

ROUTES = """\
version: 1
legacy: {url: "http://127.0.0.1:8000"}
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  products:
    match: [{path: "/api/products"}]
    service: catalog
    mode: shadow
    canary: {percent: 5}
  reviews:
    match: [{path: "/api/reviews"}]
    service: catalog
    mode: shadow
store:
  url: sqlite:///store.db
"""
WHO = Who("ann", "ops-1")


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


def chain(routes: Path) -> list[audit.AuditRecord]:
    store = ResultStore.open(f"sqlite:///{routes.parent}/store.db", redactor=Redactor())
    try:
        assert audit.verify(store).ok
        return audit.records(store)
    finally:
        store.close()


def test_a_cli_change_is_recorded_before_the_file_so_the_facade_does_not_record_it_again(
    routes: Path,
) -> None:
    old = config_module.load(routes)
    outcome = lifecycle.step(routes, "products", "canary", percent=8, who=WHO)
    new = config_module.load(routes)
    assert (outcome.changed, outcome.digest_before, outcome.digest_after) == (
        True,
        old.digest,
        new.digest,
    )
    changes = hand_edits.capability_changes(old.routes, new.routes)
    assert changes  # the facade sees a change...
    assert hand_edits.record(old, new, changes) == []  # ...already recorded by the CLI
    (record,) = chain(routes)
    assert (record.entry.source, record.entry.user, record.entry.to_percent) == ("cli", "ann", 8)


def test_a_refused_step_writes_neither_the_file_nor_a_record(routes: Path) -> None:
    with pytest.raises(Refused) as refused:
        lifecycle.step(routes, "products", "cutover", who=WHO)
    assert refused.value.exit_code == 3
    assert routes.read_text() == ROUTES
    assert chain(routes) == []


def test_an_unknown_capability_is_bad_input(routes: Path) -> None:
    with pytest.raises(BadRequest, match="known: products, reviews") as bad:
        lifecycle.step(routes, "nope", "shadow", who=WHO)
    assert bad.value.exit_code == 2


def test_a_store_that_cannot_be_written_leaves_the_file_alone(routes: Path) -> None:
    (routes.parent / "store.db").mkdir()  # a directory where the SQLite file should be
    with pytest.raises(LifecycleError, match="nothing was changed"):
        lifecycle.step(routes, "products", "rollback", to="legacy", who=WHO)
    assert routes.read_text() == ROUTES


def test_concurrent_steps_queue_on_the_lock_and_each_is_recorded(routes: Path) -> None:
    errors: list[BaseException] = []

    def run(capability: str, percent: float) -> None:
        try:
            lifecycle.step(routes, capability, "canary", percent=percent, who=WHO)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(cap, p))
        for cap, p in (("products", 3), ("reviews", 4), ("products", 6), ("reviews", 7))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    routes_now = config_module.load(routes).routes.capabilities
    assert {routes_now["products"].mode, routes_now["reviews"].mode} == {"canary"}
    records = chain(routes)
    assert len(records) == 4
    # each record starts from the file the one before it wrote: no lost update
    ordered = sorted(records, key=lambda r: r.seq)
    assert all(
        a.entry.digest_after == b.entry.digest_before for a, b in itertools.pairwise(ordered)
    )
    assert ordered[-1].entry.digest_after == config_module.load(routes).digest


def test_sync_evidence_is_each_directions_newest_heartbeat_and_the_last_verify(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    from parallel_run import sync_evidence as se

    now = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
    beat = se.SyncHealth(
        "products", "forward", "a:1", now - timedelta(seconds=40), 0.1, 0, 0, 10, 1, "installed"
    )
    store = ResultStore.open(f"sqlite:///{tmp_path}/store.db", redactor=Redactor())
    try:
        assert lifecycle.sync_evidence_for(store, "products", now=now, required=False) == (
            lifecycle.SyncEvidence("products", False)
        )
        se.write_health(store, beat)  # a relay that died, then its successor
        se.write_health(store, replace(beat, relay="a:2", at=now, lag_seconds=2.5, parked=4))
        se.write_health(store, replace(beat, direction="back", at=now, conflicts_total=2))
        se.record_verification(store, se.Verification("products", now, False, {"missing": 1}))
        sync = lifecycle.sync_evidence_for(store, "products", now=now)
    finally:
        store.close()
    forward, back = sync.directions
    assert (forward.direction, forward.lag_seconds, forward.parked, forward.heartbeat_age) == (
        "forward", 2.5, 4, 0.0,
    )  # fmt: skip
    assert (forward.conflicts, back.direction, back.conflicts) == (2, "back", 2)  # 1 + 1
    assert sync.verify == lifecycle.VerifyState(now, False, {"missing": 1})


def test_a_missing_endpoint_inventory_never_blocks_a_step_and_is_handed_back(
    routes: Path,
) -> None:
    routes.write_text(
        ROUTES.replace(
            'legacy: {url: "http://127.0.0.1:8000"}',
            'legacy: {url: "http://127.0.0.1:8000", endpoints: gone.json}',
        )
    )
    outcome = lifecycle.step(routes, "products", "rollback", to="legacy", who=WHO)
    assert outcome.to_mode == "legacy"
    assert f"{routes.resolve()}:2: legacy.endpoints: no file" in (outcome.inventory_problem or "")
    assert config_module.load(routes).routes.capabilities["products"].mode == "legacy"
