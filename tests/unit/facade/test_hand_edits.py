"""Hand edits of routes.yaml, seen at reload: what counts as a change, recorded once, never
failing the reload when the store is down."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from facade import config as config_module
from facade import hand_edits
from facade.hand_edits import CapabilityChange, capability_changes
from facade.reload import reload_now
from facade.state import FacadeState, LiveConfig
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

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


def test_reload_records_the_hand_edit_in_the_background(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="shadow")
    state = FacadeState(LiveConfig(load(path)))
    write(path, mode="canary", percent=5)
    assert reload_now(state)
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
    state = FacadeState(LiveConfig(load(path)))
    write(path, mode="extracted", store=f"sqlite:///{blocker}/store.db")
    with caplog.at_level(logging.WARNING, logger="strangler.audit"):
        assert reload_now(state)
        hand_edits.wait_idle()
    assert state.live.current.routes.capabilities["products"].mode == "extracted"
    assert "not recorded in the audit trail" in caplog.text
