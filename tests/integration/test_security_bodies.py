"""SECURITY.md S1 (bodies) and S3 against a running facade: request bodies are read whole before
an upstream is held, within an idle timeout and a deadline, with bounded memory; and writes are
not moved to the monolith after cutover when the service's breaker or bulkhead refuses them.

Echo upstreams stand in for the monolith (``legacy``) and the service (``svc``); slow clients
are raw sockets that send a byte now and then, driven by one thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from facade.resilience.scrape import breaker_states
from tests.support import engines, processes
from tests.support.probe import metric, seen, wait_until
from tests.support.processes import Running

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
Reply = tuple[int, dict[str, str], bytes]


# -- helpers ------------------------------------------------------------------------------


def call(url: str, *, method: str = "GET", data: bytes | None = None, timeout: float = 10) -> Reply:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def served_by(reply: Reply) -> str:
    return reply[1]["X-Strangler-Route"].rsplit(";", 1)[1]


def in_flight(facade: Running) -> float:
    return metric(facade, "strangler_in_flight_requests")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def spooled_files(pid: int, directory: Path) -> list[int]:
    """Sizes of the files under ``directory`` that process ``pid`` holds open (deleted or not)."""
    sizes = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith(str(directory)):
                sizes.append(os.stat(fd).st_size)
        except FileNotFoundError:
            continue  # closed meanwhile
    return sizes


def facade_with(
    tmp: Path, routes: str, *, env_tmp: Path | None = None, engine: str = "python"
) -> Running:
    path = tmp / "routes.yaml"
    path.write_text(routes)
    if env_tmp is None:
        return engines.serve(engine, path, log_dir=tmp)
    port = processes.free_port()
    return processes.start(
        "facade",
        [
            str(processes.BIN / "strangler"),
            "serve",
            "--routes",
            str(path),
            "--port",
            str(port),
        ],
        port=port,
        log_dir=tmp,
        ready_path="/healthz",
        env={"TMPDIR": str(env_tmp)},
    )


def open_upload(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


class Trickle:
    """Send one byte every ``every`` seconds on each socket, from one thread, until stopped."""

    def __init__(self, socks: list[socket.socket], *, every: float) -> None:
        self.socks = socks
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for sock in self.socks:
                try:
                    sock.send(b"x")
                except OSError:
                    continue  # answered and closed (408): nothing more to send


@pytest.fixture(params=engines.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Tests that take it run under both engines; the others are the Python engine's (each
    says why)."""
    return engines.chosen(request)


@pytest.fixture
def started() -> Iterator[list[Running]]:
    running: list[Running] = []
    yield running
    for proc in reversed(running):
        proc.stop()


def legacy_echo(tmp: Path, started: list[Running]) -> Running:
    legacy = processes.echo_upstream("legacy", log_dir=tmp)
    started.append(legacy)
    return legacy


def monolith_behind_facade(
    tmp: Path, started: list[Running], *, legacy: str = "", limits: str, engine: str = "python"
) -> tuple[Running, Running]:
    """An echo monolith (``legacy``: more of its settings) behind a facade with ``limits``."""
    monolith = legacy_echo(tmp, started)
    facade = facade_with(
        tmp,
        f"version: 1\nlegacy: {{url: '{monolith.url}'{legacy}}}\nlimits: {{{limits}}}\n",
        engine=engine,
    )
    started.append(facade)
    return monolith, facade


def get_times(url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        status, _, _ = call(url, timeout=5)
        times.append(time.perf_counter() - began)
        assert status == 200
    return times


# -- S1: slow uploads to the monolith ------------------------------------------------------


@pytest.mark.parametrize("max_connections", [8, 256])
def test_s1_slow_uploads_do_not_delay_requests_to_the_monolith(
    tmp_path: Path, started: list[Running], max_connections: int, engine: str
) -> None:
    legacy = legacy_echo(tmp_path, started)
    facade = facade_with(
        tmp_path,
        f"version: 1\nlegacy: {{url: '{legacy.url}', timeout: 5s, "
        f"max_connections: {max_connections}}}\n",
        engine=engine,
    )
    started.append(facade)
    get_times(facade.url + "/warm", 5)
    usual = statistics.median(get_times(facade.url + "/usual", 30))
    head = b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1000\r\n\r\nx"
    socks = [open_upload(facade.port, head) for _ in range(300)]
    try:
        with Trickle(socks, every=1.0):
            wait_until(lambda: in_flight(facade) > 300, "the facade holds the 300 uploads")
            loaded = statistics.median(get_times(facade.url + "/loaded", 30))
            print(  # the Done-when figure, read with pytest -s
                f"\nS1 max_connections={max_connections}: usual {usual * 1000:.1f} ms, "
                f"under 300 slow uploads {loaded * 1000:.1f} ms"
            )
            assert loaded <= usual + 0.1
            assert in_flight(facade) > 300  # the uploads were still going meanwhile
        # none of the slow bodies reached the monolith: they are held by the facade
        assert seen(legacy) == 5 + 30 + 30
    finally:
        for sock in socks:
            sock.close()


def test_s1_an_idle_body_is_answered_408_within_the_idle_timeout(
    tmp_path: Path, started: list[Running]
) -> None:
    # python engine only: Envoy has no idle timeout for a request body alone (its stream idle
    # timeout also cuts a slow upstream); its bodies are bounded by body_deadline (below)
    legacy, facade = monolith_behind_facade(
        tmp_path,
        started,
        legacy=", timeout: 30s",
        limits="body_idle_timeout: 1s, body_deadline: 60s",
    )
    began = time.monotonic()
    sock = open_upload(
        facade.port,
        b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    with sock:
        answer = read_answer(sock)
    elapsed = time.monotonic() - began
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert PROBLEM.encode() in answer
    assert 0.9 <= elapsed < 4, elapsed
    assert seen(legacy) == 0


def test_s1_a_body_slower_than_its_deadline_is_answered_408(
    tmp_path: Path, started: list[Running], engine: str
) -> None:
    legacy, facade = monolith_behind_facade(
        tmp_path,
        started,
        legacy=", timeout: 30s",
        limits="body_idle_timeout: 10s, body_deadline: 2s",
        engine=engine,
    )
    began = time.monotonic()
    sock = open_upload(
        facade.port, b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 100\r\n\r\n"
    )
    with sock, Trickle([sock], every=0.3):  # never idle for long, never done
        answer = read_answer(sock)
    elapsed = time.monotonic() - began
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert PROBLEM.encode() in answer
    if engine == "python":  # Envoy's detail is its own (request_overall_timeout)
        assert b"within 2s" in answer
    assert 1.9 <= elapsed < 6, elapsed
    assert seen(legacy) == 0


# -- S3: chunked bodies with the last chunk withheld ---------------------------------------

MIB = 1024 * 1024
UPLOADS = 40
UPLOAD_SIZE = 22 * MIB


def test_s3_chunked_uploads_with_the_last_chunk_withheld_keep_memory_bounded(
    tmp_path: Path, started: list[Running]
) -> None:
    # python engine only: the facade spools bodies to disk; Envoy's buffer filter holds each
    # in memory up to max_body (docs/engines.md, "Security in both engines")
    legacy = legacy_echo(tmp_path, started)
    spool = tmp_path / "spool"
    spool.mkdir()
    facade = facade_with(
        tmp_path,
        f"version: 1\nlegacy: {{url: '{legacy.url}', timeout: 5s}}\nlimits: {{max_body: 32MB}}\n",
        env_tmp=spool,
    )
    started.append(facade)
    pid = facade.pid
    get_times(facade.url + "/warm", 5)
    before = rss_kib(pid)
    piece = b"%x\r\n%s\r\n" % (MIB, b"z" * MIB)
    socks = []
    try:
        for _ in range(UPLOADS):
            sock = open_upload(
                facade.port,
                b"POST /upload HTTP/1.1\r\nHost: shop.example\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n",
            )
            socks.append(sock)
            for _ in range(UPLOAD_SIZE // MIB):
                sock.sendall(piece)  # every chunk but the last (0-size) one
        wait_until(
            lambda: sum(spooled_files(pid, spool)) >= UPLOADS * UPLOAD_SIZE,
            "every body is spooled",
            timeout=60,
        )
        grown = (rss_kib(pid) - before) / 1024
        print(
            f"\nS3: RSS {before / 1024:.0f} MiB before, grew {grown:.1f} MiB for {UPLOADS} x 22 MiB"
        )
        assert grown < UPLOADS * 1.5, f"RSS grew {grown:.0f} MiB"
        assert len(spooled_files(pid, spool)) == UPLOADS
    finally:
        for sock in socks:
            sock.close()
    wait_until(lambda: not spooled_files(pid, spool), "the spooled files are closed")
    assert list(spool.iterdir()) == []  # nameless files: nothing is left on disk either
    assert "Error handling request" not in facade.log()  # a client gone is not an error
    assert seen(legacy) == 5
    assert call(facade.url + "/after")[0] == 200


# -- slow POSTs to an extracted service; fallback of writes --------------------------------


def service_routes(legacy: Running, svc: Running, *, service: str, capability: str = "") -> str:
    return (
        "version: 1\n"
        f"legacy: {{url: '{legacy.url}', timeout: 5s}}\n"
        "debug_headers: true\n"
        "services:\n"
        f"  svc: {{url: '{svc.url}', {service}}}\n"
        "capabilities:\n"
        "  orders:\n"
        "    service: svc\n"
        "    mode: extracted\n"
        "    match: [{path: /orders}]\n"
        f"    {capability}\n"
    )


def test_s1_slow_posts_to_a_service_neither_open_its_breaker_nor_move_writes(
    tmp_path: Path, started: list[Running]
) -> None:
    # python engine only: the facade's circuit breaker and its state metric; Envoy's outlier
    # detection is another mechanism (docs/engines.md) and the buffer filter reads bodies first
    legacy = legacy_echo(tmp_path, started)
    svc = processes.echo_upstream("svc", log_dir=tmp_path)
    started.append(svc)
    facade = facade_with(
        tmp_path,
        service_routes(
            legacy,
            svc,
            service="timeout: 1s, connect_timeout: 500ms, max_concurrency: 4, "
            "circuit_breaker: {min_calls: 2, failure_rate: 0.5, open_for: 30s}",
        ),
    )
    started.append(facade)
    # bodies over 64 KB (smaller ones were already read first), whose last 8 to 15 bytes come
    # at 4 bytes/s: each takes longer than an attempt's 1.5 s, and they end one after another
    # (ending together, 8 calls would rightly find 4 slots full)
    start = b"x" * 100_000
    socks = [
        open_upload(
            facade.port,
            b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: %d\r\n\r\n%s"
            % (len(start) + 8 + i, start),
        )
        for i in range(8)
    ]
    with Trickle(socks, every=0.25):
        wait_until(lambda: in_flight(facade) > 8, "the facade holds the slow uploads")
        # more slow uploads than max_concurrency, for longer than the service's timeout
        threading.Event().wait(1.5)
        legit = call(facade.url + "/orders", method="POST", data=b'{"qty": 1}')
        assert legit[0] == 200
        assert served_by(legit) == "svc"
        answers = [read_answer(sock) for sock in socks]
    for sock in socks:
        sock.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert breaker_states(call(facade.url + "/metrics")[2].decode())["svc"] == "closed"
    assert seen(legacy) == 0
    assert seen(svc) == 9


@pytest.mark.parametrize(
    ("capability", "expected"),
    [("", "refused"), ("fallback_unsafe: legacy", "legacy")],
    ids=["default", "fallback_unsafe-legacy"],
)
def test_s1_writes_do_not_fall_back_to_the_monolith_when_the_circuit_is_open(
    tmp_path: Path, started: list[Running], capability: str, expected: str
) -> None:
    # python engine only: the facade's circuit states (open, Retry-After); Envoy's writes move
    # only on a connect failure (tests/integration/test_engine_envoy.py: a POST gets 503)
    legacy = legacy_echo(tmp_path, started)
    svc = processes.echo_upstream("svc", log_dir=tmp_path, extra=["--status", "503"])
    started.append(svc)
    facade = facade_with(
        tmp_path,
        service_routes(
            legacy,
            svc,
            service="circuit_breaker: {min_calls: 2, failure_rate: 0.5, open_for: 30s}",
            capability=capability,
        ),
    )
    started.append(facade)
    for _ in range(2):  # reads fall back, and their failures open the circuit
        read = call(facade.url + "/orders")
        assert read[0] == 200
        assert served_by(read) == "legacy"
    assert breaker_states(call(facade.url + "/metrics")[2].decode())["svc"] == "open"
    reads_seen = seen(legacy)
    assert call(facade.url + "/orders")[0] == 200  # safe methods still fall back
    write = call(facade.url + "/orders", method="POST", data=b'{"qty": 1}')
    if expected == "legacy":
        assert write[0] == 200
        assert served_by(write) == "legacy"
        assert seen(legacy) == reads_seen + 2
    else:
        assert write[0] == 503
        assert write[1]["Content-Type"].startswith(PROBLEM)
        assert 1 <= int(write[1]["Retry-After"]) <= 30
        assert "circuit open" in json.loads(write[2])["detail"]
        assert seen(legacy) == reads_seen + 1  # the read only: the write never reached it


def test_s3_a_spooled_body_is_sent_whole_again_on_a_retry(
    tmp_path: Path, started: list[Running]
) -> None:
    # python engine only: the facade's disk spool and its retry metric (Envoy retries from the
    # buffer filter's copy in memory)
    legacy = legacy_echo(tmp_path, started)
    svc = processes.echo_upstream("svc", log_dir=tmp_path, extra=["--fail-first", "1"])
    started.append(svc)
    facade = facade_with(
        tmp_path,
        service_routes(legacy, svc, service="retries: 1, backoff: 10ms"),
    )
    started.append(facade)
    body = os.urandom(200_000)  # over the 64 KB buffer: spooled to a file, and read from it twice
    status, headers, answer = call(facade.url + "/orders", method="PUT", data=body)
    assert status == 200
    assert headers["X-Strangler-Route"].endswith(";svc")
    echoed = json.loads(answer)
    assert echoed["body_len"] == len(body)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert metric(facade, 'strangler_service_retries_total{service="svc"}') == 1
    assert seen(svc) == 2
    assert seen(legacy) == 0


def test_s3_spooled_bodies_past_the_spool_budget_are_answered_503_with_retry_after(
    tmp_path: Path, started: list[Running]
) -> None:
    # python engine only: limits.body_spool_max is the facade's disk spool; Envoy has none
    legacy, facade = monolith_behind_facade(
        tmp_path, started, limits="body_buffer: 1KB, body_spool_max: 8KB"
    )
    before = seen(legacy)
    status, headers, body = call(facade.url + "/upload", method="POST", data=b"x" * 16_000)
    assert status == 503, body[:300]
    assert headers["Content-Type"] == PROBLEM
    assert headers["Retry-After"] == "1"
    assert "limits.body_spool_max" in json.loads(body)["detail"]
    assert seen(legacy) == before  # refused before any upstream was held
    # within the budget, a spooled body goes through, and the refused one's bytes were freed
    assert call(facade.url + "/upload", method="POST", data=b"y" * 6_000)[0] == 200
    assert "Traceback" not in facade.log()
