"""facade.access_log: the JSON access log's object for a finished exchange."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from facade import access_log
from facade import config as config_module
from facade.config import Config
from facade.config.normalize import normalize_target
from facade.exchange import Exchange
from facade.state import FacadeState, LiveConfig

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\nstore: {redact_fields: [Session]}\n"
    )
    return config_module.load(routes)


def exchange(config: Config, method: str, target: str) -> Exchange:
    request = make_mocked_request(method, target)
    ex = Exchange(request, FacadeState(LiveConfig(config)), config, "rid-1", TRACEPARENT)
    ex.target = normalize_target(target)
    return ex


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0.5, "1970-01-01T00:00:00.500Z"),
        (1764795814.766, "2025-12-03T21:03:34.766Z"),
        (1764795814.0009, "2025-12-03T21:03:34.000Z"),
    ],
)
def test_times_are_rfc3339_utc_with_milliseconds(epoch: float, text: str) -> None:
    assert access_log.rfc3339(epoch) == text
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("traceparent", "trace"),
    [
        (TRACEPARENT, TRACE),
        ("", None),
        ("00-short-00f067aa0ba902b7-01", None),
        ("garbage", None),
    ],
)
def test_the_trace_id_is_the_traceparents_second_field(traceparent: str, trace: str | None) -> None:
    assert access_log.trace_id(traceparent) == trace


@pytest.mark.parametrize(
    ("method", "status", "response", "size"),
    [
        ("GET", 200, web.Response(body=b"hello"), 5),
        ("HEAD", 200, web.Response(body=b"hello"), 0),
        ("GET", 204, web.Response(status=204), 0),
        ("GET", 304, web.Response(status=304), 0),
        ("GET", 200, web.StreamResponse(headers={"Content-Length": "12"}), 12),
    ],
)
def test_bytes_are_the_answers_body_only(
    method: str, status: int, response: web.StreamResponse, size: int
) -> None:
    request = make_mocked_request(method, "/x")
    if isinstance(response, web.StreamResponse) and not isinstance(response, web.Response):
        response.content_length = 12
    assert access_log.body_bytes(request, response, status) == size


def test_a_proxied_request_is_one_json_line_with_its_secrets_redacted(config: Config) -> None:
    ex = exchange(config, "GET", "/a/./b?token=t0k&x=1&session=s3ss;code=c0de")
    line = access_log.entry(ex, web.Response(body=b"{}"), status=200, elapsed=0.0123456)
    assert "\n" not in line
    record = json.loads(line)
    assert list(record) == list(access_log.FIELDS)
    assert record["path"] == "/a/b?token=[REDACTED]&x=1&session=[REDACTED];code=[REDACTED]"
    assert record["method"] == "GET"
    assert (record["status"], record["latency_ms"], record["bytes"]) == (200, 12.346, 2)
    assert (record["capability"], record["mode"], record["served_by"]) == (None, "legacy", "legacy")
    assert (record["request_id"], record["trace_id"]) == ("rid-1", TRACE)
    for secret in ("t0k", "s3ss", "c0de"):
        assert secret not in line


def test_an_answer_the_facade_made_itself_is_served_by_the_facade(config: Config) -> None:
    ex = exchange(config, "GET", "/healthz")
    ex.answered_locally = True
    record = access_log.record(ex, web.Response(body=b"ok"), status=200, elapsed=0.001)
    assert record["served_by"] == "facade"


def test_a_target_that_could_not_be_parsed_has_no_path(config: Config) -> None:
    ex = exchange(config, "GET", "/x")
    ex.target = None
    record = access_log.record(ex, web.Response(status=400), status=400, elapsed=0.001)
    assert record["path"] is None
    assert record["status"] == 400
