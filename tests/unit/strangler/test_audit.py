"""Hand edits of routes.yaml, seen at reload: what counts as a change, recorded once, never
failing the reload when the store is down."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from facade import config as config_module
from facade.reload import reload
from facade.state import FacadeState, LiveConfig
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from strangler import audit as hand_edits
from strangler.audit import CapabilityChange, capability_changes

BASE = """\
version: 1
legacy: {{url: "http://127.0.0.1:8000"}}
services:
  catalog: {{url: "http://127.0.0.1:8101"}}
capabilities:
  products:
    match: [{{path: "/api/products"}}]
    service: catalog
    mode: {mode}
    canary: {{percent: {percent}}}
  orders:
    match: [{{path: "/api/orders"}}]
store:
  url: {store}
"""


def write(path: Path, *, mode: str = "shadow", percent: float = 10, store: str = "") -> Path:
    path.write_text(
        BASE.format(mode=mode, percent=percent, store=store or "sqlite:///state/store.db")
    )
    return path


def load(path: Path) -> config_module.Config:
    return config_module.load(path)


def test_only_mode_and_served_share_count_as_changes(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    old = load(write(path, mode="shadow", percent=10)).routes
    assert capability_changes(old, load(write(path, mode="shadow", percent=50)).routes) == []
    assert capability_changes(old, load(write(path, mode="canary", percent=10)).routes) == [
        CapabilityChange("products", "shadow", 0.0, "canary", 10.0)
    ]
    canary = load(write(path, mode="canary", percent=10)).routes
    assert capability_changes(canary, load(write(path, mode="canary", percent=20)).routes) == [
        CapabilityChange("products", "canary", 10.0, "canary", 20.0)
    ]


def test_added_and_removed_capabilities_are_changes(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    old = load(write(path)).routes
    path.write_text(path.read_text().replace("  orders:\n", "  orders2:\n"))
    assert capability_changes(old, load(path).routes) == [
        CapabilityChange("orders", "legacy", 0.0, None, None),
        CapabilityChange("orders2", None, None, "legacy", 0.0),
    ]


def store_of(path: Path) -> ResultStore:
    return ResultStore.open(f"sqlite:///{path.parent}/state/store.db", redactor=Redactor())


def test_a_hand_edit_is_recorded_once_however_many_workers_see_it(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    old = load(write(path, mode="shadow"))
    new = load(write(path, mode="extracted"))
    changes = capability_changes(old.routes, new.routes)
    first = hand_edits.record(old, new, changes)
    assert [r.entry.source for r in first] == ["hand-edit"]
    assert (first[0].entry.digest_before, first[0].entry.digest_after) == (old.digest, new.digest)
    assert first[0].entry.to_mode == "extracted"
    assert hand_edits.record(old, new, changes) == []  # a second worker
    store = store_of(path)
    try:
        assert len(audit.records(store)) == 1
        assert audit.verify(store).ok
    finally:
        store.close()


def test_removing_retired_by_hand_reopens_the_capability_and_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    retired = "mode: extracted\n    retired: true\n    fallback: error"
    old = load(write(path, mode="extracted"))
    path.write_text(path.read_text().replace("mode: extracted", retired))
    closed = load(path)
    path.write_text(path.read_text().replace("    retired: true\n", ""))
    reopened = load(path)

    assert capability_changes(old.routes, closed.routes) == [
        CapabilityChange("products", "extracted", 100.0, "extracted", 100.0, retired=True)
    ]
    changes = capability_changes(closed.routes, reopened.routes)
    (record,) = hand_edits.record(closed, reopened, changes)
    assert (record.entry.source, record.entry.evidence["step"]) == ("hand-edit", "reopen")


def test_reload_records_the_hand_edit_in_the_background(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="shadow")
    state = FacadeState(LiveConfig(load(path), hooks=(hand_edits.on_reload,)))
    write(path, mode="canary", percent=5)
    assert asyncio.run(reload(state))
    hand_edits.wait_idle()
    store = store_of(path)
    try:
        (record,) = audit.records(store)
        assert (record.entry.from_mode, record.entry.to_mode) == ("shadow", "canary")
        assert record.entry.to_percent == 5
    finally:
        store.close()


def test_a_store_that_is_down_costs_a_log_line_never_the_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's directory should be")
    path = write(tmp_path / "routes.yaml", store=f"sqlite:///{blocker}/store.db")
    state = FacadeState(LiveConfig(load(path), hooks=(hand_edits.on_reload,)))
    write(path, mode="extracted", store=f"sqlite:///{blocker}/store.db")
    with caplog.at_level(logging.WARNING, logger="strangler.audit"):
        assert asyncio.run(reload(state))
        hand_edits.wait_idle()
    assert state.live.current.routes.capabilities["products"].mode == "extracted"
    assert "not recorded in the audit trail" in caplog.text


# edits made while no facade ran: compared at start with the trail's last state ------------


def _trail(path: Path) -> list[audit.AuditRecord]:
    store = ResultStore.open(f"sqlite:///{path.parent / 'state' / 'store.db'}", redactor=Redactor())
    try:
        return audit.records(store)
    finally:
        store.close()


def _cli_step(path: Path, *, from_mode: str, to_mode: str, to_percent: float) -> None:
    """What `strangler shadow|canary` leaves behind: the file edited and a record that reached
    its digest."""
    (path.parent / "state").mkdir(exist_ok=True)
    before = load(path).digest
    write(path, mode=to_mode, percent=to_percent)
    store = ResultStore.open(f"sqlite:///{path.parent / 'state' / 'store.db'}", redactor=Redactor())
    try:
        audit.append(
            store,
            [
                audit.AuditEntry(
                    capability="products",
                    from_mode=from_mode,
                    from_percent=0.0,
                    to_mode=to_mode,
                    to_percent=to_percent if to_mode == "canary" else 0.0,
                    source="cli",
                    user="ops",
                    host="h",
                    digest_before=before,
                    digest_after=load(path).digest,
                )
            ],
        )
    finally:
        store.close()


def test_an_edit_made_while_no_facade_ran_is_recorded_at_start_once(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="legacy")
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)
    write(path, mode="canary", percent=20)  # by hand, with every facade stopped

    (found,) = hand_edits.record_offline_edits(load(path))
    assert (found.seq, found.entry.capability, found.entry.source) == (2, "products", "hand-edit")
    assert (found.entry.from_mode, found.entry.to_mode, found.entry.to_percent) == (
        "shadow",
        "canary",
        20.0,
    )
    assert found.entry.reason == "changed while no facade was running"
    # a second start (or a second worker) finds the move recorded
    assert hand_edits.record_offline_edits(load(path)) == []
    assert [r.seq for r in _trail(path)] == [2, 1]
    store = ResultStore.open(f"sqlite:///{tmp_path / 'state' / 'store.db'}", redactor=Redactor())
    try:
        assert audit.verify(store).ok
    finally:
        store.close()


def test_a_file_as_last_recorded_or_without_a_trail_records_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="legacy")
    # no store file at all: nothing is created for it
    assert hand_edits.record_offline_edits(load(path)) == []
    assert not (tmp_path / "state" / "store.db").exists()
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)
    assert hand_edits.record_offline_edits(load(path)) == []
    # a comment-only edit changes the digest, not the state
    path.write_text(path.read_text() + "# reviewed\n")
    assert hand_edits.record_offline_edits(load(path)) == []
    assert len(_trail(path)) == 1


def test_offline_changes_leave_capabilities_the_trail_never_mentions_alone(
    tmp_path: Path,
) -> None:
    routes = load(write(tmp_path / "routes.yaml", mode="extracted")).routes
    assert hand_edits.offline_changes({"products": ("shadow", 0.0)}, routes) == [
        CapabilityChange("products", "shadow", 0.0, "extracted", 100.0)
    ]
    # `orders` changed nothing the trail knows; a removed capability is a change to None
    assert hand_edits.offline_changes({"gone": ("canary", 5.0)}, routes) == [
        CapabilityChange("gone", "canary", 5.0, None, None)
    ]
    assert hand_edits.offline_changes({"products": ("extracted", 100.0)}, routes) == []
