"""`strangler retire` in process: refused, naming every unmet condition, until the capability
has been extracted for the window with no fallback and its data drained; then routes.yaml
says retired: true and fallback: error (comments kept) and the audit trail says retire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facade import config as config_module
from facade.config.endpoints import dump_inventory
from parallel_run import audit
from strangler.lifecycle import steps
from strangler.lifecycle.retire import retire
from strangler.lifecycle.steps import BadRequest, Refused, Who
from tests.support import retire_store as seed
from tests.support.sync_shop import inventory_data

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = 86400.0
WHO = Who("ann", "ops-1")
ROUTES = f"""\
version: 1
legacy:
  url: "http://127.0.0.1:8000"
  endpoints: endpoints.json   # manage.py strangler_endpoints
services:
  catalog: {{url: "http://127.0.0.1:8101"}}
  inventory: {{url: "http://127.0.0.1:8102"}}
capabilities:
  products:
    match: [{{methods: [GET], path: "/api/products"}}]
    service: catalog
    mode: extracted   # cut over on Monday
    fallback: legacy
  stock:
    match: [{{path: "/api/stock"}}]
    service: inventory
    mode: extracted
{inventory_data()}store:
  url: sqlite:///store.db
"""


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    (tmp_path / "endpoints.json").write_text(
        dump_inventory(
            [
                {"template": "/api/products", "methods": ["GET"], "view": "shop.products"},
                {"template": "/api/stock", "methods": ["GET", "POST"], "view": "shop.stock"},
            ]
        )
    )
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


def refusal(routes: Path, capability: str, *, window: float = DAY) -> str:
    before = routes.read_bytes()
    with pytest.raises(Refused) as refused:
        retire(routes, capability, window=window, who=WHO, now=NOW)
    assert refused.value.exit_code == 3
    assert routes.read_bytes() == before
    return str(refused.value)


def test_a_fresh_capability_is_refused_with_every_condition_named(routes: Path) -> None:
    text = refusal(routes, "stock")

    assert "no record of its move to extracted" in text
    assert "no request of 'stock' was counted in the last 24h" in text
    assert "no forward relay has reported" in text
    assert "no back relay has reported" in text
    assert "strangler data sync stock --once --direction back" in text
    assert "--force --reason TEXT" in text


def test_a_fallback_in_the_window_is_named_with_its_count(routes: Path) -> None:
    store = seed.open_store(routes)
    seed.ready_to_retire(store, "products", now=NOW, service="catalog")
    seed.fell_back(store, "products", at=NOW - timedelta(hours=3), count=2)
    seed.fell_back(store, "products", at=NOW - timedelta(days=3), count=50)  # before the window
    store.close()

    text = refusal(routes, "products")

    assert "2 of its 42 requests in the last 24h fell back to the monolith" in text
    assert "the last at 2026-12-03 09:00 UTC" in text
    assert "extracted" not in text.split("unmet:")[1]  # extracted long enough: not named


def test_a_cutover_inside_the_window_is_too_recent(routes: Path) -> None:
    store = seed.open_store(routes)
    seed.cut_over(store, "products", at=NOW - timedelta(hours=5, minutes=12))
    seed.served(store, "products", at=NOW - timedelta(hours=1), by="catalog", count=9)
    store.close()

    text = refusal(routes, "products")

    assert "extracted only since 2026-12-03 06:48 UTC (5h ago), less than the window 24h" in text
    assert "retire from 2026-12-04 06:48 UTC" in text
    assert "fell back" not in text


def test_a_sync_not_drained_is_named_per_direction(routes: Path) -> None:
    store = seed.open_store(routes)
    seed.ready_to_retire(store, "stock", now=NOW, service="inventory", sync=True)
    seed.heartbeat(store, "stock", "forward", at=NOW, pending=7)
    seed.heartbeat(store, "stock", "back", at=NOW, parked=1)
    store.close()

    text = refusal(routes, "stock")

    assert "7 changes pending for forward" in text
    assert "1 row parked for back" in text
    assert "fell back" not in text
    assert "extracted only" not in text


def test_a_capability_not_extracted_is_refused_even_with_force(routes: Path) -> None:
    routes.write_text(ROUTES.replace("mode: extracted   # cut", "mode: canary   # cut"))
    with pytest.raises(Refused) as refused:
        retire(routes, "products", window=DAY, force=True, reason="done", who=WHO, now=NOW)
    assert "mode is canary, not extracted" in str(refused.value)
    assert "--force" not in str(refused.value)


def test_with_every_condition_met_the_file_says_retired_and_the_trail_says_retire(
    routes: Path,
) -> None:
    store = seed.open_store(routes)
    seed.ready_to_retire(store, "stock", now=NOW, service="inventory", sync=True)
    store.close()
    before = config_module.load(routes)

    done = retire(routes, "stock", window=DAY, who=WHO, now=NOW)

    after = config_module.load(routes)
    cap = after.routes.capabilities["stock"]
    assert (cap.retired, cap.fallback, cap.mode) == (True, "error", "extracted")
    assert after.routes.capabilities["products"] == before.routes.capabilities["products"]
    assert "# cut over on Monday" in routes.read_text()
    assert (done.changed, done.forced, done.unmet) == (True, False, ())
    store = seed.open_store(routes)
    try:
        record = audit.records(store, capability="stock")[0]
        assert audit.verify(store).ok
    finally:
        store.close()
    assert record.seq == done.audit_seq
    assert record.entry.evidence["step"] == "retire"
    assert (record.entry.digest_before, record.entry.digest_after) == (before.digest, after.digest)
    assert (record.entry.from_mode, record.entry.to_mode) == ("extracted", "extracted")
    assert retire(routes, "stock", window=DAY, who=WHO, now=NOW).changed is False


def test_force_with_a_reason_retires_and_records_what_was_unmet(routes: Path) -> None:
    with pytest.raises(BadRequest):
        retire(routes, "products", window=DAY, force=True, who=WHO, now=NOW)

    done = retire(routes, "products", window=DAY, force=True, reason="load test", who=WHO, now=NOW)

    assert done.forced
    assert done.unmet
    cap = config_module.load(routes).routes.capabilities["products"]
    assert (cap.retired, cap.fallback) == (True, "error")
    store = seed.open_store(routes)
    try:
        (record,) = audit.records(store, capability="products")
    finally:
        store.close()
    assert (record.entry.forced, record.entry.reason) == (True, "load test")
    assert record.entry.evidence["unmet"] == list(done.unmet)


@pytest.mark.parametrize("verb", ["shadow", "canary", "rollback"])
def test_the_lifecycle_verbs_refuse_a_retired_capability(routes: Path, verb: str) -> None:
    retire(routes, "products", window=DAY, force=True, reason="test", who=WHO, now=NOW)
    before = routes.read_bytes()

    with pytest.raises(Refused) as refused:
        steps.step(routes, "products", verb, percent=10, who=WHO)  # type: ignore[arg-type]

    assert "retired; remove retired: true by hand, audited, to reopen" in str(refused.value)
    assert routes.read_bytes() == before


def test_the_cutover_minute_does_not_count_as_fallbacks(routes: Path) -> None:
    """Eligible 10s after a cutover at 12:00:20 a day ago: the monolith's answers tallied in
    the minute 12:00, before the cutover, are no fallbacks (the window starts at 12:00:30,
    counted from the first whole minute, 12:01)."""
    store = seed.open_store(routes)
    day_ago = NOW - timedelta(days=1)
    seed.cut_over(store, "products", at=day_ago + timedelta(seconds=20))
    seed.fell_back(store, "products", at=day_ago, count=7)  # the minute 12:00, before it
    seed.served(store, "products", at=day_ago + timedelta(hours=1), by="catalog", count=9)
    store.close()

    done = retire(routes, "products", window=DAY, who=WHO, now=NOW + timedelta(seconds=30))

    assert (done.changed, done.unmet) == (True, ())
    assert done.evidence.served.by_legacy == 0


def test_a_refused_retire_neither_creates_nor_migrates_the_store(routes: Path) -> None:
    refusal(routes, "products")
    assert not (routes.parent / "store.db").exists()

    from parallel_run.redact import Redactor
    from parallel_run.store import ResultStore

    old = ResultStore.open(
        f"sqlite:///{routes.parent}/store.db", redactor=Redactor(), revision="0005"
    )
    old.close()
    database = routes.parent / "store.db"
    before = (database.read_bytes(), database.stat().st_mtime_ns)

    text = refusal(routes, "products")

    assert "is at schema revision 0005, not 0006: read as empty, left as it is" in text
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    reopened = ResultStore.open(
        f"sqlite:///{database}", redactor=Redactor(), revision="0005"
    )  # no upgrade past 0005
    try:
        assert reopened.current_revision() == "0005"
    finally:
        reopened.close()
