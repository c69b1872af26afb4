"""Record real traffic, replay it through the comparator, find the wrong field in the report.

Real processes throughout: the Django shop under gunicorn, ``mitmdump`` (the venv's) in
reverse-proxy mode in front of it with strangler's addon, a catalog service that is wrong by
one cent for every 4th product (``tests/support/wrong_catalog.py``), and ``strangler replay``
/ ``strangler report --run`` as subprocesses. The same recording is then replayed as a HAR
file and as a GoReplay file, and cut short to show what a damaged recording does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from parallel_run.replay import read_exchanges
from parallel_run.replay.gor import SEPARATOR
from parallel_run.traffic import RecordedExchange
from tests.support import processes

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
STRANGLER = str(BIN / "strangler")
ADDON = str(processes.ROOT / "parallel_run" / "mitm_addon.py")
DETAILS = 40  # SKU-00001..SKU-00040: every 4th is wrong in the candidate, 10 in all
LISTS = 4  # list pages hold wrong products too
OTHER = 3  # requests of no capability: recorded, then skipped by the replay
SECRET = "s3cr3t-token-value"


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def _routes(path: Path, *, legacy: str, candidate: str, store: Path) -> Path:
    path.write_text(
        f"version: 1\nlegacy: {{url: '{legacy}', timeout: 5s, connect_timeout: 1s}}\n"
        f"services:\n  catalog: {{url: '{candidate}', timeout: 5s}}\n"
        "capabilities:\n  product-catalog:\n    service: catalog\n    mode: shadow\n"
        "    match:\n      - {path: /api/products}\n"  # any method: a POST is skipped as unsafe
        "      - {methods: [GET], path: '/api/products/{sku}'}\n"
        "    compare: {ignore: ['$.generated_at']}\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )
    return path


class Stack:
    def __init__(self, state: Path, shop: processes.Running, candidate: processes.Running):
        self.state, self.shop, self.candidate = state, shop, candidate
        self.flows = state / "traffic.flows"
        self.routes = _routes(
            state / "routes.yaml", legacy=shop.url, candidate=candidate.url, store=state / "r.db"
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    state = tmp_path_factory.mktemp("replay-e2e")
    shop = processes.monolith(state, log_dir=state, seed_args=["--products", "60"])
    port = processes.free_port()
    candidate = processes.start(
        "wrong-catalog",
        [
            *(sys.executable, "-m", "tests.support.wrong_catalog"),
            *("--port", str(port), "--monolith", shop.url),
        ],
        port=port,
        log_dir=state,
        ready_path=None,
    )
    built = Stack(state, shop, candidate)
    port = processes.free_port()
    mitm = processes.start(
        "mitmdump",
        [
            str(BIN / "mitmdump"),
            "-q",
            "-s",
            ADDON,
            "--mode",
            f"reverse:{shop.url}",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "--set",
            f"confdir={state / 'mitmproxy'}",
            "--set",
            f"strangler_record={built.flows}",
        ],
        port=port,
        log_dir=state,
        ready_path=None,
    )
    try:
        for n in range(1, DETAILS + 1):
            _get(
                f"{mitm.url}/api/products/SKU-{n:05d}?token={SECRET}",
                {"Authorization": f"Bearer {SECRET}"},
            )
        for _ in range(LISTS):
            _get(f"{mitm.url}/api/products?per_page=60")
        for _ in range(OTHER):
            _get(f"{mitm.url}/")
    finally:
        mitm.stop()
    try:
        yield built
    finally:
        candidate.stop()
        shop.stop()


def _strangler(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _replay(stack: Stack, file: Path, *args: str, routes: Path | None = None) -> Any:
    result = _strangler(
        "replay", str(file), "--routes", str(routes or stack.routes), "--json", *args
    )
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def _report(stack: Stack, *args: str) -> dict[str, Any]:
    result = _strangler("report", "--routes", str(stack.routes), "--json", *args)
    assert result.returncode == 0, result.stderr
    (cap,) = [
        c for c in json.loads(result.stdout)["capabilities"] if c["name"] == "product-catalog"
    ]
    return cap  # type: ignore[no-any-return]


def _assert_wrong_field_found(stack: Stack, run: str, *, details: int, lists: int) -> None:
    cap = _report(stack, "--run", run)
    assert cap["comparisons"] == details + lists
    paths = {p["path"]: p["count"] for p in cap["top_paths"]}
    assert paths["$.product.unitPrice"] == details // 4
    if lists:
        assert paths["$.products[*].unitPrice"] == lists
    assert set(paths) <= {"$.product.unitPrice", "$.products[*].unitPrice"}
    assert cap["mismatches"] == details // 4 + lists


def test_mitmdump_records_every_answered_flow_with_secrets_redacted(stack: Stack) -> None:
    entries = list(read_exchanges(stack.flows))
    assert len(entries) == DETAILS + LISTS + OTHER
    first = entries[0]
    assert isinstance(first, RecordedExchange)
    assert first.target == "/api/products/SKU-00001?token=[REDACTED]"
    assert dict(first.headers)["Authorization"] == "Bearer [REDACTED]"
    assert first.response is not None
    assert first.response.status == 200
    assert json.loads(first.response.body)["product"]["sku_item"] == "SKU-00001"
    assert SECRET.encode() not in stack.flows.read_bytes()


def test_replaying_a_mitmdump_recording_names_the_wrong_field(stack: Stack) -> None:
    result, summary = _replay(stack, stack.flows, "--concurrency", "4")
    assert result.returncode == 3, result.stderr  # mismatches found
    assert summary["read"] == DETAILS + LISTS + OTHER
    assert summary["compared"] == DETAILS + LISTS
    assert summary["skipped"] == {"matches no capability": OTHER}
    assert summary["stopped"] is None
    _assert_wrong_field_found(stack, summary["run"], details=DETAILS, lists=LISTS)
    # a replay is evidence of its own: the live report is not swayed by it
    assert _report(stack)["comparisons"] == 0


def test_against_recorded_answers_the_monolith_is_never_called(stack: Stack) -> None:
    dead = _routes(
        stack.state / "dead-legacy.yaml",
        legacy=f"http://127.0.0.1:{processes.free_port()}",
        candidate=stack.candidate.url,
        store=stack.state / "r.db",
    )
    result, summary = _replay(stack, stack.flows, "--against-recorded", routes=dead)
    assert result.returncode == 3, result.stderr
    assert summary["compared"] == DETAILS + LISTS
    _assert_wrong_field_found(stack, summary["run"], details=DETAILS, lists=LISTS)


def _har_entry(exchange: RecordedExchange) -> dict[str, Any]:
    assert exchange.response is not None
    return {
        "startedDateTime": "2026-11-26T06:00:00.000Z",
        "time": 1,
        "request": {
            "method": exchange.method,
            "url": f"http://shop.example{exchange.target}",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": n, "value": v} for n, v in exchange.headers],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": exchange.response.status,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": n, "value": v} for n, v in exchange.response.headers],
            "cookies": [],
            "content": {
                "size": len(exchange.response.body),
                "mimeType": "application/json",
                "text": exchange.response.body.decode(),
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 1, "receive": 0},
    }


def test_a_har_file_is_replayed_and_its_unusable_entries_counted(stack: Stack) -> None:
    recorded = [e for e in read_exchanges(stack.flows) if isinstance(e, RecordedExchange)]
    entries = [_har_entry(e) for e in recorded if e.path.startswith("/api/products")]
    binary = _har_entry(recorded[0])
    binary["response"]["content"] = {
        "size": 3,
        "mimeType": "image/png",
        "text": base64.b64encode(b"\x89PN").decode(),
        "encoding": "base64",
    }
    no_status = _har_entry(recorded[1])
    del no_status["response"]["status"]
    post = _har_entry(recorded[DETAILS])  # GET /api/products, made a POST
    post["request"]["method"] = "POST"
    post["request"]["postData"] = {"mimeType": "application/json", "text": "{}"}
    har = stack.state / "traffic.har"
    har.write_text(
        json.dumps({"log": {"version": "1.2", "entries": [*entries, binary, no_status, post]}})
    )
    result, summary = _replay(stack, har)
    assert result.returncode == 3, result.stderr
    assert summary["compared"] == DETAILS + LISTS
    assert summary["skipped"] == {
        "binary response body (content encoded base64)": 1,
        "missing response.status": 1,
        "unsafe method (see --include-unsafe)": 1,
    }
    _assert_wrong_field_found(stack, summary["run"], details=DETAILS, lists=LISTS)


def _gor_message(start_line: str, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes:
    lines = [start_line, *(f"{n}: {v}" for n, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_goreplay_file_is_replayed(stack: Stack) -> None:
    payloads = []
    recorded = [e for e in read_exchanges(stack.flows) if isinstance(e, RecordedExchange)]
    for n, exchange in enumerate(recorded):
        assert exchange.response is not None
        ident = f"{n:024x}"
        request = _gor_message(f"GET {exchange.target} HTTP/1.1", exchange.headers, b"")
        response = _gor_message(
            "HTTP/1.1 200 OK", exchange.response.headers, exchange.response.body
        )
        payloads.append(f"1 {ident} {1_764_136_800_000_000_000 + n} 0\n".encode() + request)
        payloads.append(f"2 {ident} {1_764_136_800_000_100_000 + n} 100\n".encode() + response)
    gor = stack.state / "traffic.gor"
    gor.write_bytes(b"".join(p + SEPARATOR for p in payloads))
    result, summary = _replay(stack, gor, "--capability", "product-catalog")
    assert result.returncode == 3, result.stderr
    assert summary["compared"] == DETAILS + LISTS
    assert summary["skipped"] == {"matches no capability": OTHER}
    _assert_wrong_field_found(stack, summary["run"], details=DETAILS, lists=LISTS)


def test_a_truncated_flow_file_replays_what_came_before_and_says_where_it_stopped(
    stack: Stack,
) -> None:
    data = stack.flows.read_bytes()
    # the 13th flow starts at the 13th top-level tnetstring: find it by walking the lengths
    offsets = [0]
    while offsets[-1] < len(data):
        head = re.match(rb"(\d+):", data[offsets[-1] :])
        assert head is not None
        offsets.append(offsets[-1] + len(head.group(0)) + int(head.group(1)) + 1)
    cut = stack.state / "cut.flows"
    cut.write_bytes(data[: offsets[12] + 200])  # 12 whole flows, then part of the 13th
    result, summary = _replay(stack, cut)
    assert result.returncode == 2
    assert f"reading stopped at byte {offsets[12]} (flow 13)" in result.stderr
    assert summary["stopped"]["where"] == f"byte {offsets[12]} (flow 13)"
    assert summary["read"] == 12
    assert summary["compared"] == 12
    _assert_wrong_field_found(stack, summary["run"], details=12, lists=0)


def test_report_of_an_unknown_run_is_bad_input(stack: Stack) -> None:
    result = _strangler("report", "--routes", str(stack.routes), "--run", "replay-nope")
    assert result.returncode == 2
    assert "no replay run 'replay-nope'" in result.stderr


def test_the_facade_samples_live_traffic_into_a_flow_file(stack: Stack) -> None:
    recording = stack.state / "live.flows"
    routes = _routes(
        stack.state / "serve.yaml",
        legacy=stack.shop.url,
        candidate=stack.candidate.url,
        store=stack.state / "serve.db",
    )
    facade = processes.facade(
        routes, log_dir=stack.state, extra=["--record", str(recording), "--sample", "100"]
    )
    try:
        for n in range(1, 6):
            _get(f"{facade.url}/api/products/SKU-{n:05d}", {"Authorization": f"Bearer {SECRET}"})
        _get(f"{facade.url}/healthz")  # answered by the facade itself: not recorded
    finally:
        assert facade.stop() == 0
    entries = list(read_exchanges(recording))
    assert [e.target for e in entries if isinstance(e, RecordedExchange)] == [
        f"/api/products/SKU-{n:05d}" for n in range(1, 6)
    ]
    first = entries[0]
    assert isinstance(first, RecordedExchange)
    assert first.response is not None
    assert dict(first.headers)["Authorization"] == "Bearer [REDACTED]"
    assert json.loads(first.response.body)["product"]["sku_item"] == "SKU-00001"
    assert SECRET.encode() not in recording.read_bytes()
    # and what the facade recorded replays like any other recording
    result, summary = _replay(stack, recording)
    assert result.returncode == 3, result.stderr
    assert summary["compared"] == 5
    assert summary["mismatches"] == 1  # SKU-00004


def test_record_without_the_extra_exits_2_naming_it(stack: Stack, tmp_path: Path) -> None:
    shadowing = tmp_path / "no-mitmproxy" / "mitmproxy"
    shadowing.mkdir(parents=True)
    (shadowing / "__init__.py").write_text("raise ImportError('mitmproxy is not installed')\n")
    result = _strangler(
        "serve",
        "--routes",
        str(stack.routes),
        "--port",
        str(processes.free_port()),
        "--record",
        str(tmp_path / "x.flows"),
        env={"PYTHONPATH": str(shadowing.parent)},
    )
    assert result.returncode == 2
    assert "install strangler[record]" in result.stderr


def test_a_monolith_that_answers_nothing_is_a_failure_not_a_pass(stack: Stack) -> None:
    dead = _routes(
        stack.state / "dead-legacy-2.yaml",
        legacy=f"http://127.0.0.1:{processes.free_port()}",
        candidate=stack.candidate.url,
        store=stack.state / "r.db",
    )
    result, summary = _replay(stack, stack.flows, routes=dead)
    assert result.returncode == 1
    assert summary["compared"] == 0
    assert summary["skipped"]["monolith failed: cannot connect"] == DETAILS + LISTS
    assert "the monolith answered none of the 44 requests" in result.stderr


def test_rate_caps_how_fast_requests_start(stack: Stack) -> None:
    result, summary = _replay(stack, stack.flows, "--rate", "15", "--concurrency", "16")
    assert result.returncode == 3, result.stderr
    assert summary["compared"] == DETAILS + LISTS
    # 44 requests at 15 per second: the last starts no earlier than 43/15 s after the first
    # (unpaced, the same replay takes well under a second)
    assert summary["elapsed_s"] >= (DETAILS + LISTS - 1) / 15
