"""Which configuration each replica runs: ``strangler.audit.config_in_force`` records it in
the audit trail (never raising into serve), ``strangler.replicas`` lists the replicas and
tells when they drift apart."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from facade.reload import reload
from facade.state import FacadeState, LiveConfig
from parallel_run import audit
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from strangler import audit as hand_edits
from strangler import replicas
from tests.unit.strangler.test_audit import _cli_step, load, write


def _trail(path: Path) -> list[audit.AuditRecord]:
    store = ResultStore.open(f"sqlite:///{path.parent / 'state' / 'store.db'}", redactor=Redactor())
    try:
        assert audit.verify(store).ok
        return audit.records(store)
    finally:
        store.close()


def test_each_start_and_reload_records_the_replica_and_its_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="shadow")
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)  # the store exists
    hook = partial(hand_edits.replica_hook, "python", "127.0.0.1:18080")
    state = FacadeState(LiveConfig(load(path), hooks=(hook,)))
    hook(None, state.live.current)  # what the facade does when it starts
    write(path, mode="canary", percent=5)
    assert asyncio.run(reload(state))
    hand_edits.wait_idle()
    reloaded, started, cli = _trail(path)
    assert cli.entry.source == "cli"
    for record in (started, reloaded):
        assert record.entry.source == "config-in-force"
        assert record.entry.capability == "*"
        assert (record.entry.digest_before, record.entry.digest_after) == (None, None)
    assert (started.entry.reason, reloaded.entry.reason) == ("start", "reload")
    replica = reloaded.entry.evidence["replica"]
    assert replica["engine"] == "python"
    assert replica["listen"] == "127.0.0.1:18080"
    assert isinstance(replica["pid"], int)
    assert replica["config_hash"] == replica["routes_sha256"] == load(path).digest
    assert started.entry.evidence["replica"]["routes_sha256"] != replica["routes_sha256"]


def test_in_force_records_do_not_hide_an_edit_made_while_no_facade_ran(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="legacy")
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)
    write(path, mode="canary", percent=20)  # by hand, with every facade stopped
    # a compare service started first: its record is the newest, and says nothing of moves
    hand_edits.config_in_force(load(path), engine="compare", config_hash="x", listen="h:1")
    hand_edits.wait_idle()
    (found,) = hand_edits.record_offline_edits(load(path))
    assert (found.entry.from_mode, found.entry.to_mode) == ("shadow", "canary")


def test_a_store_that_is_down_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hand_edits, "_store_down", False)
    monkeypatch.setattr(hand_edits, "RETRY_SECONDS", 3600.0)  # not within this test
    path = write(tmp_path / "routes.yaml", store="postgresql+psycopg://nobody@127.0.0.1:1/none")
    config = load(path)
    with caplog.at_level(logging.INFO, logger="strangler.audit"):
        for _ in range(3):
            hand_edits.config_in_force(config, engine="envoy", config_hash="abc", listen="h:2")
        hand_edits.wait_idle()
    warnings = [r for r in caplog.records if "not recorded in the audit trail" in r.message]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_a_record_the_store_refused_goes_in_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hand_edits, "_store_down", False)
    monkeypatch.setattr(hand_edits, "RETRY_SECONDS", 0.2)
    path = write(tmp_path / "routes.yaml")
    (tmp_path / "state").mkdir()
    broken = tmp_path / "state" / "store.db"
    broken.write_bytes(b"not a database " * 100)
    config = load(path)
    hand_edits.config_in_force(config, engine="python", config_hash="abc", listen="h:3")
    hand_edits.wait_idle()
    assert hand_edits._store_down
    broken.unlink()
    ResultStore.open(f"sqlite:///{broken}", redactor=Redactor()).close()  # the store is back
    deadline = time.monotonic() + 10
    while not _trail(path):
        assert time.monotonic() < deadline, "the refused record was never retried"
        time.sleep(0.1)
    (record,) = _trail(path)
    assert record.entry.evidence["replica"]["listen"] == "h:3"
    assert not hand_edits._store_down


def test_a_failure_before_the_background_never_reaches_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "routes.yaml")

    def broken(work: object) -> None:
        raise RuntimeError("no thread left")

    monkeypatch.setattr(hand_edits, "_in_background", broken)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "store.db").touch()
    with caplog.at_level(logging.ERROR, logger="strangler.audit"):
        hand_edits.config_in_force(load(path), engine="python", config_hash="abc")
    assert "config in force not recorded" in caplog.text


def test_an_absent_sqlite_store_is_not_created_for_it(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml")
    hand_edits.config_in_force(load(path), engine="python", config_hash="abc")
    hand_edits.wait_idle()
    assert not (tmp_path / "state" / "store.db").exists()


def _record(
    seq: int, engine: str, listen: str, routes: str, *, at: datetime, part_of: str | None = None
) -> audit.AuditRecord:
    replica = {
        "host": "h1",
        "pid": 100 + seq,
        "listen": listen,
        "engine": engine,
        "config_hash": f"cfg-{routes}",
        "routes_sha256": routes * 12,
        "part_of": part_of,
    }
    entry = audit.AuditEntry(
        "*", None, None, None, None, "config-in-force", "ops", "h1", "start", at=at,
        evidence={"replica": replica},
    )  # fmt: skip
    return audit.AuditRecord(seq, entry, "p", "h")


def test_the_newest_record_of_each_replica_counts_and_drift_names_who_runs_what() -> None:
    now = datetime.now(UTC)
    history = [  # newest first, as the store returns it
        _record(4, "python", "h1:8080", "b", at=now),
        _record(3, "envoy", "h1:8081", "a", at=now - timedelta(minutes=1)),
        _record(2, "python", "h1:8080", "a", at=now - timedelta(minutes=2)),  # before a reload
        _record(1, "compare", "h1:9", "a", at=now - timedelta(minutes=3), part_of="envoy h1:8081"),
    ]
    found = replicas.replicas(history)
    assert [(r.engine, r.routes_sha256[0], r.pid) for r in found] == [
        ("python", "b", 104),
        ("envoy", "a", 103),
        ("compare", "a", 101),
    ]
    warning = replicas.drift(found)
    assert warning is not None
    assert "2 different routes.yaml versions" in warning
    assert "aaaaaaaaaaaa: envoy@h1/h1:8081, compare@h1/h1:9" in warning
    assert "bbbbbbbbbbbb: python@h1/h1:8080" in warning
    assert replicas.drift(found[1:]) is None
    assert replicas.drift([]) is None


def test_status_reads_only_recent_in_force_records(tmp_path: Path) -> None:
    store = ResultStore.open(f"sqlite:///{tmp_path / 'store.db'}", redactor=Redactor())
    try:
        now = datetime.now(UTC)
        old, new = (
            _record(1, "python", "h:1", "a", at=now - timedelta(days=8)),
            _record(2, "envoy", "h:2", "b", at=now),
        )
        audit.append(store, [old.entry, new.entry])
        (seen,) = replicas.seen(store, now=now)
        assert (seen.engine, seen.listen) == ("envoy", "h:2")
    finally:
        store.close()


def test_the_workers_of_one_replica_record_its_config_once(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="shadow")
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)
    config = load(path)
    for _ in range(3):  # `serve --workers 3`: each worker calls its hook at start
        hand_edits.replica_hook("python", "127.0.0.1:18090", None, config)
    # another place, or other files at the same place, are recorded
    hand_edits.replica_hook("compare", "127.0.0.1:18090", None, config)
    write(path, mode="canary", percent=5)
    hand_edits.replica_hook("python", "127.0.0.1:18090", config, load(path))
    hand_edits.wait_idle()
    in_force = [r for r in _trail(path) if r.entry.source == "config-in-force"]
    assert [
        (r.entry.evidence["replica"]["engine"], r.entry.evidence["replica"]["routes_sha256"])
        for r in in_force
    ] == [("python", load(path).digest), ("compare", config.digest), ("python", config.digest)]


def test_a_stop_is_recorded_after_a_start_and_a_restart_after_the_stop(tmp_path: Path) -> None:
    path = write(tmp_path / "routes.yaml", mode="shadow")
    _cli_step(path, from_mode="legacy", to_mode="shadow", to_percent=0)
    config = load(path)
    listen = "127.0.0.1:18095"
    hand_edits.replica_hook("python", listen, None, config)
    hand_edits.wait_idle()
    # within the minute in which another worker's record of the same files is not repeated
    hand_edits.replica_stopped(config, engine="python", listen=listen)
    hand_edits.replica_stopped(config, engine="python", listen=listen)  # once is enough
    hand_edits.replica_hook("python", listen, None, config)  # started again
    hand_edits.wait_idle()
    events = [r.entry.reason for r in _trail(path) if r.entry.source == "config-in-force"]
    assert events == ["reload", "stop", "start"]  # newest first: this process started it before
    store = ResultStore.open(f"sqlite:///{tmp_path / 'state' / 'store.db'}", redactor=Redactor())
    try:
        (running,) = replicas.seen(store, now=datetime.now(UTC))
        assert running.event == "reload"
        hand_edits.replica_stopped(config, engine="python", listen=listen)
        assert replicas.seen(store, now=datetime.now(UTC)) == []
        assert [
            r.event
            for r in replicas.replicas(
                audit.in_force_records(store, since=datetime.now(UTC) - timedelta(hours=1))
            )
        ] == ["stop"]
    finally:
        store.close()


def test_a_stop_never_raises_nor_waits_long_for_a_store_that_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hand_edits, "STOP_WAIT_SECONDS", 0.5)
    path = write(tmp_path / "routes.yaml", store="postgresql+psycopg://nobody@127.0.0.1:1/none")
    started = time.monotonic()
    hand_edits.replica_stopped(load(path), engine="envoy", listen="h:3")
    assert time.monotonic() - started < 5
