"""Evidence a report can trust at once: what the compare worker learned reaches the store when
traffic pauses, not when the next request comes (issue 13.1)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.compare_stack import report
from tests.support.evidence import reading
from tests.support.probe import wait_until

pytestmark = pytest.mark.integration
BURST = 400
CLIENTS = 8


@pytest.fixture
def noisy_pair(tmp_path: Path) -> Iterator[tuple[processes.Running, processes.Running]]:
    """A monolith stand-in and a candidate that answer alike but for a random generated_id."""
    legacy = processes.echo_upstream("legacy", log_dir=tmp_path, extra=["--noisy"])
    candidate = processes.echo_upstream("catalog", log_dir=tmp_path, extra=["--noisy"])
    yield legacy, candidate
    candidate.stop()
    legacy.stop()


def routes_text(legacy: str, candidate: str, store: Path) -> str:
    # the echo's name, headers and X-Echo-Server tell the two apart: not what is checked here
    return (
        f"version: 1\nlegacy: {{url: '{legacy}'}}\n"
        f"services:\n  catalog: {{url: '{candidate}', timeout: 5s, max_concurrency: 64}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {methods: [GET], path: '/api/products/{sku}'}\n"
        "    compare:\n      noise: auto\n      noise_sample: 100%\n"
        "      ignore: ['$.server', '$.headers']\n"
        "      ignore_headers: [date, server, x-echo-server]\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )


def comparisons(store: Path) -> int:
    with reading(store) as db:
        if db is None:
            return 0
        since = datetime.now(UTC) - timedelta(hours=1)
        summary = db.summary(since, experiment="product-catalog").get("product-catalog")
    return summary.comparisons if summary is not None else 0


def test_a_report_right_after_a_burst_counts_the_noise_learned_during_it(
    tmp_path: Path, noisy_pair: tuple[processes.Running, processes.Running]
) -> None:
    legacy, candidate = noisy_pair
    store = tmp_path / "evidence.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(routes_text(legacy.url, candidate.url, store))
    facade = processes.facade(routes, log_dir=tmp_path)
    try:

        def get(n: int) -> int:
            url = f"{facade.url}/api/products/SKU-{n % 7}"
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
                return response.status

        with ThreadPoolExecutor(CLIENTS) as pool:
            assert set(pool.map(get, range(BURST))) == {200}
        # no more traffic: every comparison, and the noise learned, is in the store within 2 s
        wait_until(lambda: comparisons(store) >= BURST, f"{BURST} comparisons", timeout=2.0)
        cap = report(routes, "product-catalog")
        assert cap["comparisons"] == BURST
        assert "$.generated_id" in {p["path"] for p in cap["noise_paths"]}, cap
        assert cap["mismatch_rate"] <= 0.05, cap
    finally:
        assert facade.stop() == 0
