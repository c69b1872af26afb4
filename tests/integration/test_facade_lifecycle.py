"""The facade as a process: upstream failures, readiness, graceful drain, following routes.yaml."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = pytest.mark.integration


def get(url: str, *, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_an_unreachable_monolith_gives_502_problem_json_and_not_ready(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{processes.free_port()}"
    facade = processes.facade(processes.write_routes(tmp_path / "r.yaml", dead), log_dir=tmp_path)
    try:
        status, headers, body = get(facade.url + "/api/products?token=secret")
        assert status == 502
        assert headers["Content-Type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["status"] == 502
        assert "legacy" in problem["detail"]
        assert "Traceback" not in body.decode()
        time.sleep(1.2)  # one readiness probe
        status, _, body = get(facade.url + "/readyz")
        assert status == 503
        assert json.loads(body)["legacy"]["reachable"] is False
        assert get(facade.url + "/healthz")[0] == 200
        assert facade.proc.poll() is None  # still running
        assert "secret" not in facade.log()  # query strings never reach the log
    finally:
        facade.stop()


def test_readiness_follows_the_monolith_coming_up(tmp_path: Path) -> None:
    port = processes.free_port()
    routes = processes.write_routes(tmp_path / "r.yaml", f"http://127.0.0.1:{port}")
    facade = processes.facade(routes, log_dir=tmp_path)
    legacy = None
    try:
        time.sleep(1.2)
        assert get(facade.url + "/readyz")[0] == 503
        legacy = processes.start(
            "legacy",
            [
                str(processes.BIN / "python"),
                "-m",
                "tests.support.echo_upstream",
                "--port",
                str(port),
                "--name",
                "legacy",
            ],
            port=port,
            log_dir=tmp_path,
        )
        deadline = time.monotonic() + 5
        while get(facade.url + "/readyz")[0] != 200:
            assert time.monotonic() < deadline, "readyz never turned 200"
            time.sleep(0.2)
        assert json.loads(get(facade.url + "/anything")[2])["server"] == "legacy"
    finally:
        facade.stop()
        if legacy is not None:
            legacy.stop()


def test_a_slow_monolith_gives_504_problem_json(
    tmp_path: Path, echo_legacy: processes.Running
) -> None:
    routes = tmp_path / "r.yaml"
    routes.write_text(f"version: 1\nlegacy: {{url: '{echo_legacy.url}', timeout: 500ms}}\n")
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        status, headers, body = get(facade.url + "/_slow?s=3")
        assert status == 504
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["title"] == "Gateway Timeout"
    finally:
        facade.stop()


def test_an_answer_cut_midway_is_cut_for_the_client_too(
    tmp_path: Path, echo_legacy: processes.Running
) -> None:
    routes = processes.write_routes(tmp_path / "r.yaml", echo_legacy.url)
    facade = processes.facade(routes, log_dir=tmp_path)
    try:
        with (
            pytest.raises(http.client.IncompleteRead) as cut,
            urllib.request.urlopen(facade.url + "/_reset", timeout=10) as response,
        ):
            response.read()  # 1000 of 100000 promised bytes, then the cut
        assert len(cut.value.partial) == 1000
        assert get(facade.url + "/healthz")[0] == 200
    finally:
        facade.stop()


def test_stop_drains_in_flight_requests(tmp_path: Path, echo_legacy: processes.Running) -> None:
    routes = processes.write_routes(tmp_path / "r.yaml", echo_legacy.url)
    facade = processes.facade(routes, log_dir=tmp_path)
    result: dict[str, object] = {}

    def slow_request() -> None:
        result["answer"] = get(facade.url + "/_slow?s=1.5", timeout=20)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.4)  # the request is in flight
    facade.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(facade.url + "/healthz", timeout=2)  # no longer accepting
    worker.join(20)
    status, _, body = result["answer"]  # type: ignore[misc]
    assert status == 200
    assert json.loads(body)["server"] == "legacy"
    assert facade.proc.wait(20) == 0
    assert "facade stopped" in facade.log()


def test_a_routes_edit_is_followed_without_restart_and_a_broken_one_is_ignored(
    tmp_path: Path, echo_legacy: processes.Running
) -> None:
    service = processes.echo_upstream("catalog", log_dir=tmp_path)
    routes = processes.write_routes(tmp_path / "r.yaml", echo_legacy.url)
    facade = processes.facade(routes, log_dir=tmp_path)
    extracted = (
        f"services:\n  catalog: {{url: '{service.url}'}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: extracted\n"
        "    match: [{path: '/api/products/{sku}'}]\n"
    )
    try:
        assert json.loads(get(facade.url + "/api/products/1")[2])["server"] == "legacy"
        processes.write_routes(routes, echo_legacy.url, extracted)
        deadline = time.monotonic() + 2.5
        while json.loads(get(facade.url + "/api/products/1")[2])["server"] != "catalog":
            assert time.monotonic() < deadline, "the edit was not in force within 2 seconds"
            time.sleep(0.1)
        routes.write_text(routes.read_text().replace("mode: extracted", "mode: sideways"))
        time.sleep(1.5)
        assert json.loads(get(facade.url + "/api/products/1")[2])["server"] == "catalog"
        status, _, body = get(facade.url + "/readyz")
        assert status == 200
        assert "'sideways' is not one of" in json.loads(body)["config"]["last_reload_error"]
        assert "r.yaml:10: capabilities.product-catalog.mode" in facade.log()
        assert facade.proc.poll() is None  # the same process throughout: no restart
    finally:
        facade.stop()
        service.stop()
