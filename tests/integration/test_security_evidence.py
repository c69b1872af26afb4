"""Evidence storage is bounded (issue 12, Build 6): a shadow candidate answering 5 MB of
different bytes to every request must not grow the result store with its traffic.

A real facade in shadow mode, the monolith an echo server, the candidate
``tests.support.large_answers`` (5 MB of random bytes per answer). The store keeps whole
examples for the first ``store.examples_per_signature`` mismatches of a signature per
``store.example_window`` and counts the rest; each capability's rows take at most
``store.max_bytes_per_capability``, past which examples are counted as dropped. Counts, rates
and ``strangler report`` stay exact either way.

Python engine only: the result store is written by the Python facade's shadow comparisons
(serve --engine envoy mirrors to the compare service, which stores through the same
``parallel_run.store``: tests/integration/test_engine_envoy.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ExperimentSummary, ResultStore
from tests.support import processes

pytestmark = pytest.mark.integration

CAPABILITY = "product-catalog"
ANSWER = 5 * 1024**2
BIN = Path(sys.executable).parent


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[processes.Running]:
    server = processes.echo_upstream("legacy", log_dir=tmp_path)
    yield server
    server.stop()


@pytest.fixture
def candidate(tmp_path: Path) -> Iterator[processes.Running]:
    port = processes.free_port()
    server = processes.start(
        "large-candidate",
        [sys.executable, "-m", "tests.support.large_answers", "--port", str(port),
         "--size", str(ANSWER)],
        port=port,
        log_dir=tmp_path,
        ready_path="/_seen",
    )  # fmt: skip
    yield server
    server.stop()


def shadow_routes(tmp_path: Path, legacy: str, candidate: str, store_settings: str) -> Path:
    store = tmp_path / "evidence.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{legacy}'}}\n"
        f"services:\n  catalog: {{url: '{candidate}', timeout: 10s}}\n"
        f"capabilities:\n  {CAPABILITY}:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {methods: [GET], path: '/api/products/{sku}'}\n"
        f"store: {{url: 'sqlite:///{store}', {store_settings}}}\n"
    )
    return routes


def store_of(routes: Path) -> ResultStore:
    return ResultStore.open(f"sqlite:///{routes.parent / 'evidence.db'}", redactor=Redactor())


def summary(routes: Path) -> ExperimentSummary:
    from datetime import UTC, datetime, timedelta

    store = store_of(routes)
    try:
        found = store.summary(datetime.now(UTC) - timedelta(hours=1), experiment=CAPABILITY)
    finally:
        store.close()
    return found.get(CAPABILITY, ExperimentSummary(CAPABILITY))


def store_size(routes: Path) -> int:
    """The SQLite store's bytes on disk, its write-ahead log included."""
    files = (routes.parent / "evidence.db", routes.parent / "evidence.db-wal")
    return sum(path.stat().st_size for path in files if path.exists())


def rows(routes: Path) -> int:
    store = store_of(routes)
    try:
        ((count,),) = store.execute_text(
            f"SELECT count(*) FROM observations WHERE experiment = '{CAPABILITY}'"
        )
    finally:
        store.close()
    return int(count)


async def eventually(check: Callable[[], bool], *, within: float = 60) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.25)


async def send(url: str, count: int) -> None:
    """``count`` shadowed requests, a few at a time (each is answered by the monolith)."""
    async with aiohttp.ClientSession() as session:

        async def one(n: int) -> None:
            async with session.get(f"{url}/api/products/SKU-{n}") as response:
                assert response.status == 200
                assert (await response.json())["server"] == "legacy"

        for start in range(0, count, 4):
            await asyncio.gather(*(one(n) for n in range(start, min(start + 4, count))))


def strangler_report(routes: Path, *options: str) -> str:
    done = subprocess.run(
        [str(BIN / "strangler"), "report", "--routes", str(routes), "--since", "1h", *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    return done.stdout


def report_json(routes: Path) -> dict[str, object]:
    found: dict[str, object] = next(
        cap
        for cap in json.loads(strangler_report(routes, "--json"))["capabilities"]
        if cap["name"] == CAPABILITY
    )
    return found


async def metrics(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        return await response.text()


async def test_a_candidate_answering_5_mb_keeps_examples_and_counts_every_mismatch(
    tmp_path: Path, legacy: processes.Running, candidate: processes.Running
) -> None:
    requests = 40
    # the defaults: 5 examples per signature per hour, bodies cut to 64 KiB
    routes = shadow_routes(tmp_path, legacy.url, candidate.url, "retention: 1d")
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        await send(facade.url, requests)
        await eventually(lambda: summary(routes).mismatches >= requests)
        found = summary(routes)
        # every mismatch counted, with its signature: the report and the gate see them all
        assert (found.mismatches, found.comparisons, found.matches) == (requests, requests, 0)
        assert found.mismatch_rate == 1.0
        assert [(s.signature, s.count) for s in found.top_signatures] == [
            ("body\nheader:content-type", requests)
        ]
        # ... but only the first 5 kept their bodies, each cut to store.body_limit (64 KiB)
        assert rows(routes) == 5
        store = store_of(routes)
        try:
            kept = store.observations(experiment=CAPABILITY, limit=10)
        finally:
            store.close()
        for example in kept:
            assert example.candidate_body is not None
            assert len(example.candidate_body) == 65536
            assert example.candidate_body_size == ANSWER  # the size sent, not the size read
        # 40 answers of 5 MB: five 64 KiB examples, some tallies; was 40 rows of 64 KiB
        assert store_size(routes) < 1024**2, store_size(routes)
        report = report_json(routes)
        assert (report["mismatches"], report["comparisons"]) == (requests, requests)
        assert report["examples_dropped"] == 0
    finally:
        facade.stop()


async def test_past_a_capabilitys_share_of_the_store_examples_are_dropped_and_counted(
    tmp_path: Path, legacy: processes.Running, candidate: processes.Running
) -> None:
    requests = 24
    limit = 300 * 1024  # room for four examples of ~66 KiB
    routes = shadow_routes(
        tmp_path,
        legacy.url,
        candidate.url,
        f"examples_per_signature: 1000, max_bytes_per_capability: {limit}",
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        await send(facade.url, requests)
        await eventually(lambda: summary(routes).mismatches >= requests)
        found = summary(routes)
        assert (found.mismatches, found.comparisons) == (requests, requests)
        stored = rows(routes)
        assert 1 <= stored <= 4
        assert found.examples_dropped == requests - stored
        store = store_of(routes)
        try:
            assert store.stored_bytes()[CAPABILITY] <= limit
        finally:
            store.close()
        report = report_json(routes)
        assert (report["mismatches"], report["comparisons"]) == (requests, requests)
        assert report["examples_dropped"] == requests - stored
        assert report["mismatch_rate"] == 1.0
        assert f"{CAPABILITY}: {requests - stored} examples not stored" in strangler_report(routes)
        text = await metrics(facade.url)
        assert (
            f'strangler_store_examples_dropped{{capability="{CAPABILITY}"}} '
            f"{float(requests - stored)}" in text
        ), text
    finally:
        facade.stop()
