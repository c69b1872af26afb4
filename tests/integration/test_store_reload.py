"""``store:`` follows routes.yaml like every other key (issue 13.2): a field added to
``store.redact_fields`` is redacted from the next observation recorded, and from the next flow
``serve --record`` samples, with no restart. Checked in the raw bytes on disk: redaction is a
security boundary, and a value that reached the file at all has leaked."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.evidence import reading
from tests.support.probe import metric, wait_until

pytestmark = pytest.mark.integration
APPLIED = 'strangler_config_reloads_total{outcome="applied"}'


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[processes.Running]:
    server = processes.echo_upstream("legacy", log_dir=tmp_path, extra=["--query-fields"])
    yield server
    server.stop()


def routes_text(legacy: str, candidate: str, store: Path, *, redact_fields: str) -> str:
    return (
        f"version: 1\nlegacy: {{url: '{legacy}'}}\n"
        f"services:\n  catalog: {{url: '{candidate}', timeout: 5s}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {methods: [GET], path: '/api/products/{sku}'}\n"
        f"store: {{url: 'sqlite:///{store}', redact_fields: {redact_fields}}}\n"
    )


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        response.read()


def stored(store: Path) -> int:
    """How many observations the store keeps whole (each echo differs: all are mismatches)."""
    with reading(store) as db:
        return 0 if db is None else len(list(db.observations(experiment="product-catalog")))


def on_disk(path: Path) -> bytes:
    """The file's bytes, with SQLite's write-ahead log and journal if there are any."""
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


def reload_with(facade: processes.Running, routes: Path, text: str) -> None:
    before = metric(facade, APPLIED)
    edited = routes.with_suffix(".edited")
    edited.write_text(text)
    edited.replace(routes)  # as editors and `strangler` save: the watcher never sees half a file
    wait_until(lambda: metric(facade, APPLIED) > before, "the edit is applied", timeout=2.0)


def test_a_field_added_to_redact_fields_is_redacted_from_the_next_stored_observation(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path, extra=["--query-fields"])
    store = tmp_path / "evidence.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(routes_text(legacy.url, candidate.url, store, redact_fields="[]"))
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        get(f"{facade.url}/api/products/SKU-1?national_id=BEFORE-1111")
        wait_until(lambda: stored(store) >= 1, "the first observation is stored", timeout=10)
        assert b"BEFORE-1111" in on_disk(store)  # not yet a secret: stored as it came
        reload_with(
            facade,
            routes,
            routes_text(legacy.url, candidate.url, store, redact_fields="[national_id]"),
        )
        get(f"{facade.url}/api/products/SKU-2?national_id=AFTER-2222")
        wait_until(lambda: stored(store) >= 2, "the next observation is stored", timeout=10)
        assert b"SKU-2" in on_disk(store)
        assert b"AFTER-2222" not in on_disk(store)
    finally:
        assert facade.stop() == 0
        candidate.stop()
    assert b"AFTER-2222" not in on_disk(store)  # nor written by the old recorder on its way out


def test_a_field_added_to_redact_fields_is_redacted_from_the_next_recorded_flow(
    tmp_path: Path, legacy: processes.Running
) -> None:
    routes = tmp_path / "routes.yaml"
    flows = tmp_path / "live.flows"
    base = f"version: 1\nlegacy: {{url: '{legacy.url}'}}\n"
    routes.write_text(base + "store: {redact_fields: []}\n")
    facade = processes.facade(
        routes, log_dir=tmp_path, extra=["--record", str(flows), "--sample", "100"]
    )
    try:
        get(f"{facade.url}/accounts/7?national_id=BEFORE-1111")
        wait_until(
            lambda: b"BEFORE-1111" in on_disk(flows), "the first flow is written", timeout=10
        )
        reload_with(facade, routes, base + "store: {redact_fields: [national_id]}\n")
        get(f"{facade.url}/accounts/8?national_id=AFTER-2222")
        wait_until(lambda: b"/accounts/8" in on_disk(flows), "the next flow is written", timeout=10)
        assert b"AFTER-2222" not in on_disk(flows)
    finally:
        assert facade.stop() == 0
    assert b"AFTER-2222" not in on_disk(flows)


def test_a_changed_store_url_moves_recording_to_the_new_store(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path, extra=["--query-fields"])
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(routes_text(legacy.url, candidate.url, first, redact_fields="[]"))
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        get(f"{facade.url}/api/products/SKU-1")
        wait_until(lambda: stored(first) == 1, "the first store has it", timeout=10)
        reload_with(
            facade, routes, routes_text(legacy.url, candidate.url, second, redact_fields="[]")
        )
        get(f"{facade.url}/api/products/SKU-2")
        wait_until(lambda: stored(second) == 1, "the second store has the next one", timeout=10)
        assert stored(first) == 1
    finally:
        assert facade.stop() == 0
        candidate.stop()
