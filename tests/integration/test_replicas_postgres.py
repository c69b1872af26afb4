"""Several replicas, one truth: a Python facade, an Envoy facade and two compare services,
all on one PostgreSQL store, in front of a monolith and a candidate wrong for every 4th item.

Traffic is split across both facades (and mirror copies sent straight to the second compare
service, as an nginx mirror would): `strangler report` shows the sum of every replica's
comparisons with the planted rate; the cutover gate refuses while the sum is short and
allows once it is enough (no single replica saw enough); every replica records its config in
force at start and again after the cutover's edit of routes.yaml; `strangler status` lists
them and warns about the one that died before the edit (a partial rollout)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import compare_stack, postgres, processes, proxies
from tests.support.compare_stack import STRANGLER
from tests.support.probe import get_body, wait_until

pytestmark = pytest.mark.integration

PER_FACADE = 40  # items 1..40 through each facade: 10 planted mismatches each
DIRECT = 20  # mirror copies straight to the second compare service: 5 mismatches
MIN_COMPARISONS = 60  # more than any one replica compares, less than their sum


def strangler(routes: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args, "--routes", str(routes)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def poll(condition: Callable[[], bool], what: str, *, timeout: float = 90) -> None:
    """``condition`` runs a CLI process: a pause of a second between tries, not 50 ms."""
    wait_until(condition, what, timeout=timeout, interval=1.0)


def routes_text(monolith: str, candidate: str, store: str) -> str:
    return (
        f"version: 1\nlegacy: {{url: '{monolith}'}}\n"
        f"services:\n  items: {{url: '{candidate}', timeout: 5s}}\n"
        "capabilities:\n"
        "  items:\n    service: items\n    mode: shadow\n"
        "    shadow: {percent: 100}\n"
        "    match:\n      - {methods: [GET], path: '/api/items/{n}'}\n"
        "    compare: {noise: off}\n"
        f"    promote: {{min_comparisons: {MIN_COMPARISONS}, max_mismatch_rate: 0.3}}\n"
        f"store: {{url: '{store}'}}\n"
    )


def get_price(url: str, n: int) -> int:
    request = urllib.request.Request(f"{url}/api/items/{n}", headers={"Host": "shop.example"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.loads(answer.read())["price"])


def in_force_records(routes: Path) -> list[dict[str, Any]]:
    records = as_json(strangler(routes, "audit", "--json"))["records"]
    return [r for r in records if r["source"] == "config-in-force"]


def newest_by_listen(routes: Path) -> dict[str, dict[str, Any]]:
    """Each replica's newest config-in-force record (``evidence.replica``), by listen address."""
    found: dict[str, dict[str, Any]] = {}
    for record in in_force_records(routes):  # newest first
        replica = record["evidence"]["replica"]
        found.setdefault(replica["listen"], replica)
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    proxies.envoy_binary()
    with postgres.running() as pg:
        started: list[processes.Running] = []
        try:
            monolith = compare_stack.standin("monolith", tmp_path)
            started.append(monolith)
            candidate = compare_stack.standin("candidate", tmp_path)
            started.append(candidate)
            routes = tmp_path / "routes.yaml"
            routes.write_text(routes_text(monolith.url, candidate.url, pg.url))
            # the Envoy engine mirrors to the first; the second gets copies straight
            # from the test, with the -shadow suffix an exported mirror appends
            mirrored = compare_stack.compare_service(routes, tmp_path)
            started.append(mirrored)
            direct = compare_stack.compare_service(routes, tmp_path, "--host-suffix", "-shadow")
            started.append(direct)
            python = processes.facade(routes, log_dir=tmp_path)
            started.append(python)
            port = processes.free_port()
            envoy = processes.start(
                f"envoy-engine-{port}",
                [
                    STRANGLER, "serve", "--engine", "envoy", "--routes", str(routes),
                    "--port", str(port), "--compare-url", mirrored.url,
                ],
                port=port,
                log_dir=tmp_path,
                ready_path="/healthz",
                timeout=120,
            )  # fmt: skip
            started.append(envoy)
            yield {
                "routes": routes,
                "python": python,
                "envoy": envoy,
                "mirrored": mirrored,
                "direct": direct,
            }
        finally:
            for running in reversed(started):
                running.stop()


def test_reports_and_the_gate_see_the_sum_and_every_replica_records_its_config(
    stack: dict[str, Any],
) -> None:
    routes: Path = stack["routes"]
    python, envoy = stack["python"], stack["envoy"]
    mirrored, direct = stack["mirrored"], stack["direct"]
    listen = {
        name: f"127.0.0.1:{stack[name].port}" for name in ("python", "envoy", "mirrored", "direct")
    }
    first = hashlib.sha256(routes.read_bytes()).hexdigest()

    # every replica recorded its start, with routes.yaml's hash ------------------------------
    def all_started() -> bool:
        return set(listen.values()) <= set(newest_by_listen(routes))

    poll(all_started, "every replica recorded its config in force")
    started = newest_by_listen(routes)
    engines = {name: started[listen[name]]["engine"] for name in listen}
    assert engines == {
        "python": "python",
        "envoy": "envoy",
        "mirrored": "compare",
        "direct": "compare",
    }
    for name in listen:
        assert started[listen[name]]["routes_sha256"] == first, name
    assert started[listen["python"]]["config_hash"] == first  # the file itself
    envoy_first = started[listen["envoy"]]["config_hash"]
    assert envoy_first != first  # Envoy's compiled files
    # the Envoy engine's translating facade: part of that replica
    (helper,) = [r for r in started.values() if r.get("part_of")]
    assert helper["part_of"] == f"envoy {listen['envoy']}"

    # traffic through the Python facade only: not enough for the gate ----------------------
    for n in range(1, PER_FACADE + 1):
        assert get_price(python.url, n) == n * 10  # the monolith answers in shadow mode
    poll(
        lambda: compare_stack.report(routes)["comparisons"] == PER_FACADE,
        "the Python facade's comparisons are in the store",
    )
    refused = strangler(routes, "cutover", "items")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"{PER_FACADE} " in refused.stderr + refused.stdout

    # then through Envoy (mirrored to one compare service) and straight to the other ---------
    for n in range(1, PER_FACADE + 1):
        assert get_price(envoy.url, n) == n * 10
    for n in range(1, DIRECT + 1):
        with compare_stack.mirror(direct.url, f"/api/items/{n}") as answer:
            assert answer.status == 202
    total = 2 * PER_FACADE + DIRECT
    poll(
        lambda: compare_stack.report(routes)["comparisons"] == total,
        "every replica's comparisons are in the store",
    )
    assert compare_stack.total(mirrored, "strangler_shadow_comparisons_total") == PER_FACADE
    assert compare_stack.total(direct, "strangler_shadow_comparisons_total") == DIRECT
    cap = compare_stack.report(routes)
    assert cap["mismatches"] == total // 4
    assert cap["mismatch_rate"] == pytest.approx(0.25)

    status = as_json(strangler(routes, "status", "--json"))
    (items,) = status["capabilities"]
    assert items["evidence"]["comparisons"] == total
    assert items["readiness"]["ready"] is True, items["readiness"]
    assert {r["listen"] for r in status["replicas"]} >= set(listen.values())
    assert status["replica_drift"] is None

    # a partial rollout: the direct compare service dies without a word (a clean stop would
    # record it and leave the list: test_replica_stop.py), the others take the edit --------
    direct_listen = listen.pop("direct")
    assert direct.stop(signal.SIGKILL) == -signal.SIGKILL
    allowed = strangler(routes, "cutover", "items")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    second = hashlib.sha256(routes.read_bytes()).hexdigest()
    assert second != first

    def all_reloaded() -> bool:
        newest = newest_by_listen(routes)
        return all(newest[where]["routes_sha256"] == second for where in listen.values())

    poll(all_reloaded, "every running replica recorded the edited routes.yaml")
    newest = newest_by_listen(routes)
    assert newest[listen["python"]]["config_hash"] == second
    assert newest[listen["envoy"]]["config_hash"] not in (envoy_first, second)
    assert newest[direct_listen]["routes_sha256"] == first
    # the edit is in force on both facades: the candidate answers (wrong for n = 4)
    assert get_price(python.url, 4) == 41
    assert get_price(envoy.url, 4) == 41

    shown = strangler(routes, "status")
    assert shown.returncode == 0, shown.stderr
    assert "WARNING: replicas run 2 different routes.yaml versions" in shown.stdout
    assert f"{first[:12]}: compare@" in shown.stdout
    status = as_json(strangler(routes, "status", "--json"))
    assert status["replica_drift"].startswith("replicas run 2 different routes.yaml versions")
    verified = strangler(routes, "audit", "--verify")
    assert verified.returncode == 0, verified.stderr
    assert get_body(python.url + "/healthz")
