"""Shadow mode through a running facade: the monolith answers, the service is compared in the
background, and nothing the service does ever reaches the client."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parallel_run.record import ObservationRecord
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import postgres, processes
from tests.support.probe import wait_until

pytestmark = pytest.mark.integration


def routes_text(legacy: str, service: str, store: Path, extra: str = "") -> str:
    return (
        f"version: 1\nlegacy: {{url: '{legacy}'}}\n"
        f"services:\n  catalog: {{url: '{service}', timeout: 1s}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {methods: [GET, HEAD, POST], path: '/api/products/{sku}'}\n"
        f"{extra}"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )


def get(url: str, *, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, method=method, data=data)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read(), time.perf_counter() - started


def seen(server: processes.Running) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "/_seen", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _read(store: Path) -> tuple[int, list[ObservationRecord]]:
    """The comparisons counted in the last hour and the stored examples (none yet: 0, [])."""
    if not store.exists():
        return 0, []
    db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    try:
        since = datetime.now(UTC) - timedelta(hours=1)
        summary = db.summary(since, experiment="product-catalog").get("product-catalog")
        found = db.observations(experiment="product-catalog", limit=1000)
    finally:
        db.close()
    return (summary.comparisons if summary is not None else 0), list(found)


def recorded(store: Path, count: int, timeout: float = 10) -> list[ObservationRecord]:
    """The stored examples, once there are at least ``count`` of them."""
    seen_now: list[ObservationRecord] = []

    def enough() -> bool:
        seen_now[:] = _read(store)[1]
        return len(seen_now) >= count

    wait_until(enough, f"{count} observations are recorded", timeout=timeout)
    return seen_now


def compared(store: Path, count: int, timeout: float = 10) -> list[ObservationRecord]:
    """The stored examples, once ``count`` comparisons are counted (the store keeps bodies for
    the first few of each mismatch signature only, and counts the rest)."""
    seen_now: list[ObservationRecord] = []

    def enough() -> bool:
        comparisons, seen_now[:] = _read(store)
        return comparisons >= count

    wait_until(enough, f"{count} comparisons are counted", timeout=timeout)
    return seen_now


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[processes.Running]:
    server = processes.echo_upstream("legacy", log_dir=tmp_path)
    yield server
    server.stop()


def shadow_facade(
    tmp_path: Path, legacy: processes.Running, candidate_url: str, extra: str = ""
) -> tuple[processes.Running, Path]:
    store = tmp_path / "evidence.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(routes_text(legacy.url, candidate_url, store, extra))
    return processes.facade(routes, log_dir=tmp_path), store


def test_the_monolith_answers_and_the_service_is_compared_and_recorded(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path)
    facade, store = shadow_facade(tmp_path, legacy, candidate.url)
    before = seen(candidate)["count"]  # the start-up probe counts too
    try:
        for sku in ("SKU-1", "SKU-2", "SKU-3"):
            status, body, _ = get(f"{facade.url}/api/products/{sku}?token=s3cret")
            assert status == 200
            assert json.loads(body)["server"] == "legacy"
        observations = recorded(store, 3)
        assert seen(candidate)["count"] - before == 3
        assert seen(candidate)["last_shadow_header"] == "1"
        for observation in observations:
            assert observation.outcome == "mismatch"
            assert observation.route == "/api/products/{sku}"
            assert (observation.control_status, observation.candidate_status) == (200, 200)
            server = next(d for d in observation.differences if d["path"] == "$.server")
            assert (server["control"], server["candidate"]) == ("legacy", "catalog")
            assert "s3cret" not in observation.path
        metrics = urllib.request.urlopen(facade.url + "/metrics", timeout=5).read().decode()
        assert (
            'strangler_shadow_comparisons_total{capability="product-catalog",outcome="mismatch"}'
            " 3.0" in metrics
        )
    finally:
        facade.stop()
        candidate.stop()


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        pytest.param(["--delay", "2"], "candidate_error", id="slow-2s"),
        pytest.param(["--status", "500"], "mismatch", id="failing-500"),
        pytest.param(None, "candidate_error", id="stopped"),
    ],
)
def test_a_slow_failing_or_stopped_candidate_never_changes_the_clients_answer(
    tmp_path: Path, legacy: processes.Running, behaviour: list[str] | None, outcome: str
) -> None:
    candidate = (
        processes.echo_upstream("catalog", log_dir=tmp_path, extra=behaviour)
        if behaviour is not None
        else None
    )
    candidate_url = candidate.url if candidate else f"http://127.0.0.1:{processes.free_port()}"
    facade, store = shadow_facade(tmp_path, legacy, candidate_url)
    try:
        direct = get(f"{legacy.url}/api/products/SKU-9")
        for _ in range(5):
            status, body, elapsed = get(f"{facade.url}/api/products/SKU-9")
            assert status == 200
            assert json.loads(body)["server"] == "legacy"
            assert json.loads(body)["raw_path"] == json.loads(direct[1])["raw_path"]
            assert elapsed < 0.9, f"the client waited {elapsed:.2f}s for the candidate"
        observations = recorded(store, 5)
        assert {o.outcome for o in observations} == {outcome}
    finally:
        facade.stop()
        if candidate is not None:
            candidate.stop()


def test_unsafe_methods_are_not_shadowed_unless_the_capability_says_send(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path)
    facade, _ = shadow_facade(tmp_path, legacy, candidate.url)
    before = seen(candidate)["count"]
    try:
        assert get(f"{facade.url}/api/products/SKU-1", method="POST", data=b"{}")[0] == 200
        time.sleep(0.5)
        assert seen(candidate)["count"] == before
    finally:
        facade.stop()
    facade, store = shadow_facade(
        tmp_path, legacy, candidate.url, "    shadow: {unsafe_methods: send}\n"
    )
    try:
        assert get(f"{facade.url}/api/products/SKU-1", method="POST", data=b'{"a":1}')[0] == 200
        (observation,) = recorded(store, 1)
        assert observation.method == "POST"
        assert seen(candidate)["count"] == before + 1
    finally:
        facade.stop()
        candidate.stop()


def test_a_field_the_monolith_varies_itself_is_learned_as_noise_not_a_mismatch(
    tmp_path: Path,
) -> None:
    legacy = processes.echo_upstream("legacy", log_dir=tmp_path, extra=["--noisy"])
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path, extra=["--noisy"])
    # every shadowed request also goes to the monolith twice, so 20 twins come quickly
    facade, store = shadow_facade(
        tmp_path, legacy, candidate.url, "    compare: {noise: auto, noise_sample: 100%}\n"
    )
    try:
        for i in range(40):
            assert get(f"{facade.url}/api/products/SKU-{i % 3}")[0] == 200
            time.sleep(0.02)  # let the background calls keep pace, in order
        observations = sorted(compared(store, 40), key=lambda o: o.created_at)
        late = observations[-5:]
        for observation in late:
            mismatched = {d["template_path"] for d in observation.differences}
            noisy = {d["template_path"] for d in observation.noise}
            assert "$.server" in mismatched  # wrong in the candidate only: still a mismatch
            assert "$.generated_id" in noisy  # differs between two legacy calls too
            assert "$.generated_id" not in mismatched
        early = observations[0]
        # before twenty twin calls nothing is excused
        assert "$.generated_id" in {d["template_path"] for d in early.differences}
    finally:
        facade.stop()
        legacy.stop()
        candidate.stop()


def test_an_unreachable_store_costs_dropped_observations_never_a_request(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path)
    routes = tmp_path / "routes.yaml"
    dead_store = f"postgresql+psycopg://postgres@127.0.0.1:{processes.free_port()}/strangler"
    routes.write_text(
        routes_text(legacy.url, candidate.url, tmp_path / "unused.db").replace(
            f"sqlite:///{tmp_path / 'unused.db'}", dead_store
        )
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        for _ in range(10):
            status, body, elapsed = get(f"{facade.url}/api/products/SKU-1")
            assert status == 200
            assert json.loads(body)["server"] == "legacy"
            assert elapsed < 0.9
        assert get(facade.url + "/readyz")[0] == 200  # readiness is the monolith and the config
        deadline = time.monotonic() + 10
        while True:
            metrics = urllib.request.urlopen(facade.url + "/metrics", timeout=5).read().decode()
            if 'strangler_store_dropped{capability="product-catalog"} 10.0' in metrics:
                break
            assert time.monotonic() < deadline, metrics
            time.sleep(0.3)
        assert "strangler_store_up 0.0" in metrics
        assert "strangler_store_written 0.0" in metrics
    finally:
        facade.stop()
        candidate.stop()


def test_several_facade_processes_share_one_postgresql_store(
    tmp_path: Path, legacy: processes.Running
) -> None:
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path)
    with postgres.running() as server:
        url = server.create_database("shared_evidence")
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            routes_text(legacy.url, candidate.url, tmp_path / "unused.db").replace(
                f"sqlite:///{tmp_path / 'unused.db'}", url
            )
        )
        facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
        try:
            deadline = time.monotonic() + 20
            while facade.log().count("facade listening") < 2:
                assert time.monotonic() < deadline, facade.log()
                time.sleep(0.1)
            for i in range(60):  # new connections each time: both workers take some
                assert get(f"{facade.url}/api/products/SKU-{i}")[0] == 200
        finally:
            assert facade.stop() == 0  # each worker flushes its own recorder on the way out
            candidate.stop()
        store = ResultStore.open(url, redactor=Redactor())
        try:
            since = datetime.now(UTC) - timedelta(hours=1)
            summary = store.summary(since, experiment="product-catalog")["product-catalog"]
            found = store.observations(experiment="product-catalog", limit=1000)
        finally:
            store.close()
        # every comparison counted; bodies for the first 5 of the signature in each worker
        assert (summary.comparisons, summary.mismatches) == (60, 60)
        assert 5 <= len(found) <= 10
        assert {o.outcome for o in found} == {"mismatch"}
