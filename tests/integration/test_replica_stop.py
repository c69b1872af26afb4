"""A replica that stops cleanly says so: `strangler status` stops listing it (and judging
drift by it) once a Python facade, an Envoy engine or a compare service has stopped on
SIGTERM; one killed without a word stays listed (tests/integration/test_replicas_postgres.py
relies on that for its partial rollout)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore
from tests.support import compare_stack, processes, proxies
from tests.support.compare_stack import STRANGLER
from tests.support.probe import wait_until

pytestmark = pytest.mark.integration


def strangler_json(routes: Path, *args: str) -> Any:
    done = subprocess.run(
        [STRANGLER, *args, "--routes", str(routes), "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(routes: Path) -> set[str]:
    return {r["listen"] for r in strangler_json(routes, "status")["replicas"]}


def stops(routes: Path) -> set[str]:
    return {
        r["evidence"]["replica"]["listen"]
        for r in strangler_json(routes, "audit")["records"]
        if r["source"] == "config-in-force" and r["reason"] == "stop"
    }


@pytest.fixture
def routes(tmp_path: Path) -> Iterator[Path]:
    monolith = compare_stack.standin("monolith", tmp_path)
    try:
        candidate = compare_stack.standin("candidate", tmp_path)
        try:
            path = compare_stack.write_routes(tmp_path, monolith.url, candidate.url)
            # an existing store: replicas record nothing into a SQLite file that is not there
            ResultStore.open(f"sqlite:///{tmp_path / 'evidence.db'}", redactor=Redactor()).close()
            yield path
        finally:
            candidate.stop()
    finally:
        monolith.stop()


def test_replicas_stopped_cleanly_are_no_longer_listed(routes: Path, tmp_path: Path) -> None:
    proxies.envoy_binary()
    started: list[processes.Running] = []
    try:
        python = processes.facade(routes, log_dir=tmp_path)
        started.append(python)
        compare = compare_stack.compare_service(routes, tmp_path)
        started.append(compare)
        port = processes.free_port()
        envoy = processes.start(
            f"envoy-engine-{port}",
            [STRANGLER, "serve", "--engine", "envoy", "--routes", str(routes), "--port", str(port)],
            port=port,
            log_dir=tmp_path,
            ready_path="/healthz",
            timeout=120,
        )
        started.append(envoy)
        listen = {f"127.0.0.1:{r.port}" for r in (python, compare, envoy)}
        wait_until(lambda: listen <= listed(routes), "every replica is listed", timeout=60)
        assert stops(routes) == set()

        for running in (python, compare, envoy):
            assert running.stop() == 0, running.log_tail()
        assert stops(routes) >= listen  # recorded before each process exited
        assert listed(routes).isdisjoint(listen)
        # the stop of the Envoy engine's translating helper is its own (part of the replica)
        status = strangler_json(routes, "status")
        assert status["replicas"] == []
        assert status["replica_drift"] is None
    finally:
        for running in reversed(started):
            running.stop()


def test_a_replica_killed_without_a_word_stays_listed(routes: Path, tmp_path: Path) -> None:
    python = processes.facade(routes, log_dir=tmp_path)
    try:
        where = f"127.0.0.1:{python.port}"
        wait_until(lambda: where in listed(routes), "the facade is listed", timeout=60)
        assert python.stop(signal.SIGKILL) == -signal.SIGKILL
        assert where in listed(routes)
        assert where not in stops(routes)
    finally:
        python.stop()
