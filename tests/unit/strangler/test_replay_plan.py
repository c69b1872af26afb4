"""Which recorded requests a replay sends, and why the others are skipped (no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facade.config import Config, load
from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from parallel_run.traffic import RecordedExchange, RecordedResponse
from strangler.replay import Replayer, ReplayOptions

ROUTES = """\
version: 1
legacy: {url: 'http://127.0.0.1:8000'}
services: {catalog: {url: 'http://127.0.0.1:8101'}}
capabilities:
  product-catalog:
    service: catalog
    match:
      - {path: /api/products}
      - {methods: [GET], path: '/api/products/{sku}'}
  orders:
    match: [{path: /api/orders}]
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    opened = ResultStore.open(f"sqlite:///{tmp_path / 's.db'}", redactor=Redactor())
    yield opened
    opened.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return load(path)


def plan(config: Config, store: ResultStore, method: str, target: str, **options: object) -> str:
    replayer = Replayer(
        config,
        ReplayOptions(run_id="r", **options),  # type: ignore[arg-type]
        store=store,
    )
    job = replayer.plan(RecordedExchange(method=method, target=target))
    return job if isinstance(job, str) else f"{job.capability} {job.route} {job.target.path_qs}"


@pytest.mark.parametrize(
    ("method", "target", "options", "expected"),
    [
        ("GET", "/api/products?page=2", {}, "product-catalog /api/products /api/products?page=2"),
        # routed on the normalized path, as the facade routes
        (
            "GET",
            "/api/./products/SKU-1",
            {},
            "product-catalog /api/products/{sku} /api/products/SKU-1",
        ),
        ("GET", "/", {}, "matches no capability"),
        ("GET", "/api/orders", {}, "capability names no service"),
        ("GET", "/api/orders", {"capability": "product-catalog"}, "outside the chosen capability"),
        ("POST", "/api/products", {}, "unsafe method (see --include-unsafe)"),
        (
            "POST",
            "/api/products",
            {"include_unsafe": True},
            "product-catalog /api/products /api/products",
        ),
        ("GET", "/a/%2F/b", {}, "request-target the facade would reject"),
        ("GET", "/api/products", {"against_recorded": True}, "no recorded response"),
    ],
)
def test_each_request_is_routed_as_the_facade_would_or_skipped_with_a_reason(
    config: Config,
    store: ResultStore,
    method: str,
    target: str,
    options: dict[str, object],
    expected: str,
) -> None:
    assert plan(config, store, method, target, **options) == expected


def test_against_recorded_replays_an_entry_that_has_its_answer(
    config: Config, store: ResultStore
) -> None:
    replayer = Replayer(config, ReplayOptions(run_id="r", against_recorded=True), store=store)
    job = replayer.plan(
        RecordedExchange(method="GET", target="/api/products", response=RecordedResponse(200))
    )
    assert not isinstance(job, str)
