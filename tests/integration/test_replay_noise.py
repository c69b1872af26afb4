"""Replay judges noise as shadow mode does: it starts from the store's noise counts of the
capability and adds its own twins and comparisons to them (issue 13, item 5).

Real processes: a monolith and a service that both add a random ``generated_id`` to every
answer (the echo upstream, ``--noisy``), and ``strangler replay`` as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parallel_run.flowfile import write_flows
from parallel_run.noise_counts import ROUTE_TOTALS
from parallel_run.redact import Redactor
from parallel_run.store import NoiseCount, ResultStore
from parallel_run.traffic import RecordedExchange
from tests.support import processes

pytestmark = pytest.mark.integration
STRANGLER = str(Path(sys.executable).parent / "strangler")
REQUESTS = 30  # more than the 20 twins the noise rule waits for
CAPABILITY = "product-catalog"
ROUTE = "/api/products/{sku}"
NOISY = "value:$.generated_id"


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    logs = tmp_path_factory.mktemp("replay-noise")
    legacy = processes.echo_upstream("legacy", log_dir=logs, extra=["--noisy"])
    candidate = processes.echo_upstream("catalog", log_dir=logs, extra=["--noisy"])
    try:
        yield legacy.url, candidate.url
    finally:
        candidate.stop()
        legacy.stop()


def _setup(tmp_path: Path, sides: tuple[str, str], *, twins: str) -> tuple[Path, Path, Path]:
    """A recording, and a routes.yaml whose capability samples ``twins`` of its requests."""
    legacy, candidate = sides
    flows = tmp_path / "traffic.flows"
    write_flows(
        flows,
        [
            RecordedExchange(method="GET", target=f"/api/products/SKU-{n % 3}")
            for n in range(REQUESTS)
        ],
    )
    store = tmp_path / "r.db"
    routes = tmp_path / "routes.yaml"
    routes.write_text(_routes(legacy, candidate, store, twins=twins))
    return flows, routes, store


def _routes(legacy: str, candidate: str, store: Path, *, twins: str) -> str:
    # the echo names its server and echoes the Host header: the two sides differ there by design
    return (
        f"version: 1\nlegacy: {{url: '{legacy}'}}\n"
        f"services:\n  catalog: {{url: '{candidate}'}}\n"
        f"capabilities:\n  {CAPABILITY}:\n    service: catalog\n    mode: shadow\n"
        f"    match:\n      - {{methods: [GET], path: '{ROUTE}'}}\n"
        f"    compare: {{ignore: ['$.server', '$.headers'], noise: auto, noise_sample: {twins}}}\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )


def _replay(flows: Path, routes: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [STRANGLER, "replay", str(flows), "--routes", str(routes), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["compared"] == REQUESTS, done.stderr
    return done.returncode, summary


def _noise(store: Path) -> dict[str, NoiseCount]:
    db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    try:
        return {row.template_path: row for row in db.noise_counts(CAPABILITY)}
    finally:
        db.close()


def _outcomes(summary: dict[str, Any]) -> tuple[int, int]:
    (cap,) = summary["capabilities"]
    return cap["matches"], cap["mismatches"]


def test_a_replay_adds_its_twins_to_the_stored_noise_and_the_next_replay_judges_by_them(
    tmp_path: Path, sides: tuple[str, str]
) -> None:
    flows, routes, store = _setup(tmp_path, sides, twins="100%")
    code, summary = _replay(flows, routes)
    assert code == 3  # the first twenty comparisons come before twenty twins: not yet excused
    assert _outcomes(summary)[1] > 0
    learned = _noise(store)
    assert (learned[ROUTE_TOTALS].twin_samples, learned[ROUTE_TOTALS].samples) == (30, 30)
    assert (learned[NOISY].twin_diffs, learned[NOISY].diffs) == (REQUESTS, REQUESTS)
    # the same file again, with no twin calls of its own: what the first run learned judges
    routes.write_text(routes.read_text().replace("noise_sample: 100%", "noise_sample: 0%"))
    code, summary = _replay(flows, routes)
    assert (code, _outcomes(summary)) == (0, (REQUESTS, 0))
    again = _noise(store)
    assert again[ROUTE_TOTALS].samples == 2 * REQUESTS  # its comparisons are evidence too
    assert again[ROUTE_TOTALS].twin_samples == REQUESTS


def test_noise_shadow_mode_stored_excuses_the_field_in_a_replay(
    tmp_path: Path, sides: tuple[str, str]
) -> None:
    flows, routes, store = _setup(tmp_path, sides, twins="0%")
    db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    try:
        # what a facade in shadow mode hands the store after 25 twin calls
        db.add_noise_counts(
            [
                NoiseCount(CAPABILITY, ROUTE, ROUTE_TOTALS, twin_samples=25),
                NoiseCount(CAPABILITY, ROUTE, NOISY, twin_diffs=25),
            ]
        )
    finally:
        db.close()
    code, summary = _replay(flows, routes)
    assert (code, _outcomes(summary)) == (0, (REQUESTS, 0))
    assert _noise(store)[NOISY].diffs == REQUESTS
