"""Reading recordings (mitmproxy flows, HAR, GoReplay) and writing flows, redacted: no sockets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.io import tnetstring

from parallel_run.flowfile import FlowSink, TrafficFileError, to_flow, write_flows
from parallel_run.redact import Redactor
from parallel_run.replay import detect_format, read_exchanges
from parallel_run.replay.gor import SEPARATOR
from parallel_run.traffic import RecordedExchange, RecordedResponse, Skipped, path_matches


def exchange(n: int = 1, **changes: Any) -> RecordedExchange:
    fields: dict[str, Any] = {
        "method": "GET",
        "target": f"/api/products/SKU-{n:05d}",
        "headers": (("Accept", "application/json"),),
        "response": RecordedResponse(
            200, (("Content-Type", "application/json"),), json.dumps({"n": n}).encode(), "OK"
        ),
    }
    return RecordedExchange(**(fields | changes))


def entries(path: Path) -> list[RecordedExchange | Skipped]:
    return list(read_exchanges(path))


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("/api/products", "/api/products", True),
        ("/api/products/SKU-1", "/api/products", True),
        ("/api/productsX", "/api/products", False),
        ("/api/products/SKU-1", "/api/products/{sku}", True),
        ("/api/products", "/api/products/{sku}", False),
        ("/api/products/SKU-1/x", "/api/products/{sku}", False),
        ("/files/a/b", "/files/{rest:path}", True),
        ("/files", "/files/{rest:path}", False),
        ("/anything", "/", True),
    ],
)
def test_paths_match_segment_by_segment(path: str, pattern: str, expected: bool) -> None:
    assert path_matches(path, pattern) is expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"log": {', "har"),
        (b'\xef\xbb\xbf  {"log"', "har"),
        (b"1 8f3a0000 1764136800000000000 0\nGET / HTTP/1.1", "gor"),
        (b"1234:4:host", "mitmproxy"),
        (b"GET / HTTP/1.1", None),
    ],
)
def test_the_format_is_told_from_the_first_bytes(head: bytes, expected: str | None) -> None:
    assert detect_format(head) == expected


def test_flows_round_trip_and_a_cut_file_says_where_reading_stopped(tmp_path: Path) -> None:
    path = tmp_path / "t.flows"
    write_flows(path, [exchange(n) for n in range(1, 6)])
    whole = entries(path)
    assert [e.target for e in whole if isinstance(e, RecordedExchange)] == [
        f"/api/products/SKU-{n:05d}" for n in range(1, 6)
    ]
    assert whole[0] == exchange(1, started=whole[0].started, port=80)  # type: ignore[union-attr]
    data = path.read_bytes()
    cut = tmp_path / "cut.flows"
    cut.write_bytes(data[: len(data) - 10])
    seen: list[RecordedExchange | Skipped] = []
    with pytest.raises(TrafficFileError) as caught:
        seen.extend(read_exchanges(cut))
    assert len(seen) == 4  # every flow before the damage was handed out
    assert caught.value.where.endswith("(flow 5)")
    assert caught.value.read == 4
    assert "truncated or corrupt" in str(caught.value)


def test_a_file_of_no_known_format_is_refused_at_byte_0(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"hello\n")
    with pytest.raises(TrafficFileError, match="byte 0"):
        entries(path)


def har_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "request": {
            "method": "get",
            "url": "https://shop.example/api/products/SKU-00001?x=1",
            "headers": [
                {"name": ":authority", "value": "shop.example"},
                {"name": "Accept", "value": "application/json"},
            ],
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"size": 2, "mimeType": "application/json", "text": "{}"},
        },
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = entry
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return entry


def write_har(path: Path, *items: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": list(items)}}))
    return path


def test_a_har_entry_becomes_an_exchange(tmp_path: Path) -> None:
    (got,) = entries(write_har(tmp_path / "a.har", har_entry()))
    assert got == RecordedExchange(
        method="GET",
        target="/api/products/SKU-00001?x=1",
        headers=(("Accept", "application/json"),),  # HTTP/2 pseudo-headers left out
        response=RecordedResponse(200, (("Content-Type", "application/json"),), b"{}", "OK"),
        scheme="https",
        host="shop.example",
        port=443,
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"request__url": None}, "missing request.url"),
        ({"response": None}, "missing entry.response"),
        ({"response__status": None}, "missing response.status"),
        ({"response__content": None}, "missing response.content"),
        ({"request__url": "ftp://x/y"}, "request.url is not an http(s) URL: 'ftp://x/y'"),
        (
            {"response__content__encoding": "base64"},
            "binary response body (content encoded base64)",
        ),
        (
            {"request__postData": {"mimeType": "x", "text": "AA==", "encoding": "base64"}},
            "binary request body (postData encoded base64)",
        ),
        (
            {"request__postData": {"mimeType": "x", "params": [{"name": "a"}]}},
            "request body given as postData.params only",
        ),
        (
            {"response__content": {"size": 10, "mimeType": "text/html"}},
            "missing response.content.text (the body was not recorded)",
        ),
    ],
)
def test_har_entries_that_cannot_be_replayed_are_skipped_with_the_reason(
    tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    got = entries(write_har(tmp_path / "a.har", har_entry(), har_entry(**changes)))
    assert isinstance(got[0], RecordedExchange)
    assert got[1] == Skipped(2, reason)


def test_a_har_file_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.har"
    path.write_text('{"log": {\n  "entries": [,]}}')
    with pytest.raises(TrafficFileError, match=r"line 2 column 15"):
        entries(path)


def gor(*payloads: bytes) -> bytes:
    return b"".join(p + SEPARATOR for p in payloads)


REQUEST = b"GET /api/products?page=2 HTTP/1.1\r\nHost: shop.example:8000\r\nAccept: */*\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
)


def test_goreplay_pairs_requests_with_their_responses_by_id(tmp_path: Path) -> None:
    path = tmp_path / "t.gor"
    path.write_bytes(
        gor(
            b"1 aaa 1764136800000000000 0\n" + REQUEST,
            b"1 bbb 1764136800000000001 0\n" + REQUEST.replace(b"page=2", b"page=3"),
            b"2 aaa 1764136800000100000 100000\n" + RESPONSE,
            b"3 aaa 1764136800000200000 100000\n" + RESPONSE.replace(b"200 OK", b"500 Oops"),
        )
    )
    first, second = entries(path)
    assert isinstance(first, RecordedExchange)
    assert isinstance(second, RecordedExchange)
    assert first.target == "/api/products?page=2"
    assert (first.host, first.port) == ("shop.example", 8000)
    assert first.response == RecordedResponse(
        200, (("Content-Type", "application/json"),), b'{"a": 1}', "OK"
    )
    assert second.response is None  # no type-2 payload; the type-3 replayed answer is ignored


def test_goreplay_skips_a_malformed_payload_and_stops_at_a_cut_one(tmp_path: Path) -> None:
    path = tmp_path / "t.gor"
    body = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345"
    whole = gor(b"1 aaa 1 0\n" + REQUEST, b"1 bbb 2 0\nnot http at all\r\n\r\n")
    path.write_bytes(whole + b"1 ccc 3 0\n" + body)
    seen: list[RecordedExchange | Skipped] = []
    with pytest.raises(TrafficFileError) as caught:
        seen.extend(read_exchanges(path))
    assert isinstance(seen[0], RecordedExchange)
    assert seen[1] == Skipped(2, "bad request line 'not http at all'")
    assert caught.value.where == f"byte {len(whole)} (payload 3)"
    assert "Content-Length says 10" in caught.value.reason


def test_redaction_reaches_target_headers_and_bodies() -> None:
    secret = exchange(
        target="/login?token=abc&page=1",
        headers=(("Authorization", "Bearer abc"), ("Cookie", "sid=abc; theme=dark")),
        body=b'{"password": "abc", "user": "u"}',
        response=RecordedResponse(
            200, (("Set-Cookie", "sid=abc; Path=/"),), b'{"token": "t", "password": "p"}'
        ),
    ).redacted(Redactor())
    assert secret.target == "/login?token=[REDACTED]&page=1"
    assert secret.headers == (
        ("Authorization", "Bearer [REDACTED]"),
        ("Cookie", "sid=[REDACTED]; theme=[REDACTED]"),
    )
    assert json.loads(secret.body) == {"password": "[REDACTED]", "user": "u"}
    assert secret.response is not None
    assert secret.response.headers == (("Set-Cookie", "sid=[REDACTED]; Path=/"),)
    assert json.loads(secret.response.body)["password"] == "[REDACTED]"


def test_the_sink_writes_redacted_flows_and_counts_what_it_could_not_queue(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.flows"
    sink = FlowSink(path, redactor=Redactor(), maxsize=1000)
    for n in range(1, 4):
        assert sink.offer(exchange(n, headers=(("Authorization", "Bearer s3cret"),)))
    sink.close()
    got = entries(path)
    assert len(got) == 3
    assert all(
        isinstance(e, RecordedExchange) and dict(e.headers)["Authorization"] == "Bearer [REDACTED]"
        for e in got
    )
    assert b"s3cret" not in path.read_bytes()
    assert sink.stats().written == 3
    full = FlowSink(tmp_path / "full.flows", redactor=Redactor(), maxsize=1)
    full.close()  # the writer is gone: the queue fills and further offers are drops
    assert full.offer(exchange()) is True
    assert full.offer(exchange()) is False
    assert full.stats().dropped == 1


def test_goreplay_answers_are_compared_decoded(tmp_path: Path) -> None:
    packed = gzip.compress(b'{"a": 1}')
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
        + str(len(packed)).encode()
        + b"\r\n\r\n"
        + packed
    )
    path = tmp_path / "t.gor"
    path.write_bytes(gor(b"1 aaa 1 0\n" + REQUEST, b"2 aaa 2 1\n" + response))
    (got,) = entries(path)
    assert isinstance(got, RecordedExchange)
    assert got.response == RecordedResponse(200, (), b'{"a": 1}', "OK")


def test_flows_of_an_older_format_are_converted_and_bodies_decoded(tmp_path: Path) -> None:
    packed = exchange(
        response=RecordedResponse(
            200, (("Content-Encoding", "gzip"),), gzip.compress(b'{"n": 1}'), "OK"
        )
    )
    state = to_flow(packed).get_state()
    state["version"] = 20  # mitmproxy 10's format: read whole and migrated by mitmproxy
    path = tmp_path / "old.flows"
    path.write_bytes(tnetstring.dumps(state))
    (got,) = entries(path)
    assert isinstance(got, RecordedExchange)
    assert got.response == RecordedResponse(200, (), b'{"n": 1}', "OK")
