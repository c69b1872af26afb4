"""SECURITY.md U1-U4 against a running facade (`strangler serve`, under both engines:
tests/support/engines.py): upstreams that misbehave.

One raw-socket stand-in (tests/support/stray_upstream.py) plays both the monolith (``legacy``)
and a service (``rogue-svc``, capability ``svc`` in extracted mode): it writes responses no
request asked for, odd statuses, a ``100 Continue`` followed by silence, a 12 KB cookie.
Clients are sequential (alice, then bob, then carol), each on its own connection to the
facade, and each waits until the stray bytes of the previous answer are on the wire: the
facade's pooled connection to the upstream is then idle with bytes on it, the case of issue 12.
The lean client of shadow calls is tested here through shadow mode (the monolith well-behaved,
the candidate writing stray bytes: every comparison must match), and against each kind of
stray bytes in tests/unit/facade/test_lean_http.py.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import engines, processes
from tests.support.processes import Running

pytestmark = pytest.mark.integration

ROUTES = """\
version: 1
legacy:
  url: {rogue}
  timeout: {timeout}
services:
  rogue-svc:
    url: {rogue}
    timeout: {timeout}
capabilities:
  svc:
    match:
      - {{path: "/svc/{{kind}}/{{user}}"}}
    service: rogue-svc
    mode: extracted
    fallback: error
"""
TIMEOUT = 1.5  # seconds: the upstreams' read timeout in the routes above
PROBLEM = "application/problem+json"
USERS = ("alice", "bob", "carol")


@dataclass(frozen=True)
class Stack:
    facade: Running
    rogue: Running
    engine: str = "python"

    def strays(self, *, above: int = -1) -> int:
        """How many unasked-for responses the upstream wrote; with ``above``, once there are
        more than that (the upstream waits for it, up to 10 s)."""
        url = f"{self.rogue.url}/_strays?above={above}"
        with urllib.request.urlopen(url, timeout=15) as answer:
            return int(answer.read())


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _stand_in(name: str, log_dir: Path, *extra: str) -> Running:
    port = processes.free_port()
    return processes.start(
        name,
        [sys.executable, "-m", "tests.support.stray_upstream", "--port", str(port), *extra],
        port=port,
        log_dir=log_dir,
        ready_path="/_strays",
    )


@pytest.fixture(scope="module", params=engines.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return engines.chosen(request)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("upstreams")
    rogue = _stand_in("rogue", tmp)
    try:
        routes = tmp / "routes.yaml"
        routes.write_text(ROUTES.format(rogue=rogue.url, timeout=f"{TIMEOUT}s"))
        facade = engines.serve(engine, routes, log_dir=tmp)
    except BaseException:
        rogue.stop()
        raise
    yield Stack(facade, rogue, engine)
    facade.stop()
    rogue.stop()


def _titled(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names as the tests spell them (Envoy writes them in lower case)."""
    return {name.title(): value for name, value in items}


def _get(stack: Stack, path: str, *, method: str = "GET", timeout: float = 10) -> Reply:
    request = urllib.request.Request(f"{stack.facade.url}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Reply(answer.status, _titled(answer.headers.items()), answer.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, _titled(error.headers.items()), error.read())


def _each_gets_their_own(stack: Stack, prefix: str, kind: str, *, method: str = "GET") -> None:
    """alice, bob and carol ask in turn; each answer must name the one who asked."""
    replies = {}
    for user in USERS:
        before = stack.strays()
        replies[user] = _get(stack, f"{prefix}/{kind}/{user}", method=method)
        # the upstream's unasked-for bytes are on the idle connection before the next client
        # (no assertion: a facade that misreads the answers may also upset the count)
        stack.strays(above=before)
    for user, reply in replies.items():
        assert reply.headers.get("X-Answer-For") == user, (user, replies)
        assert b"POISONED" not in reply.body, (user, replies)
        if method == "GET" and reply.status == 200:
            assert reply.body == f"answer for {user}".encode(), (user, replies)


# -- U1: a connection with bytes nobody asked for is closed, never reused ------------------


@pytest.mark.parametrize("kind", ["idle", "overlong", "after204", "after304"])
def test_u1_stray_bytes_from_the_monolith_close_its_connection(stack: Stack, kind: str) -> None:
    _each_gets_their_own(stack, "/legacy", kind)


@pytest.mark.parametrize("kind", ["idle", "overlong", "after204"])
def test_u1_stray_bytes_from_a_service_close_its_connection(stack: Stack, kind: str) -> None:
    _each_gets_their_own(stack, "/svc", kind)


def test_u1_a_body_after_a_head_answer_closes_the_connection(stack: Stack) -> None:
    _each_gets_their_own(stack, "/legacy", "head", method="HEAD")


# -- U2: statuses no request can get are 502 problem+json ---------------------------------


@pytest.mark.parametrize("prefix", ["/legacy", "/svc"])
@pytest.mark.parametrize("status", ["099", "600", "101"])
def test_u2_an_invalid_upstream_status_is_a_502(stack: Stack, prefix: str, status: str) -> None:
    reply = _get(stack, f"{prefix}/status/{status}")
    assert reply.status == 502
    assert reply.headers["Content-Type"].startswith(PROBLEM)
    detail = json.loads(reply.body)["detail"]
    if stack.engine == "python":  # Envoy's detail is its own: a protocol error upstream
        assert f"invalid status {int(status)}" in detail
    assert detail


# -- U3: 100 Continue, then silence: the read timeout still applies ------------------------


def test_u3_continue_then_silence_from_the_monolith_is_a_504_within_the_timeout(
    stack: Stack,
) -> None:
    # (a service call was already bounded by its attempt's deadline, resilience.call)
    started = time.monotonic()
    reply = _get(stack, "/legacy/continue/alice", timeout=TIMEOUT * 6)
    elapsed = time.monotonic() - started
    assert reply.status == 504
    assert reply.headers["Content-Type"].startswith(PROBLEM)
    assert elapsed < TIMEOUT * 4  # the timeout, plus generous room for a loaded machine


# -- U4: response headers may be as large as request headers -------------------------------


@pytest.mark.parametrize("prefix", ["/legacy", "/svc"])
def test_u4_a_12kb_set_cookie_reaches_the_client(stack: Stack, prefix: str) -> None:
    reply = _get(stack, f"{prefix}/cookie/alice")
    assert reply.status == 200
    assert len(reply.headers["Set-Cookie"]) > 12 * 1024
    assert reply.body == b"answer for alice"


# -- U1 for the lean client: shadow calls compare the candidate's own answers ------------

SHADOW_ROUTES = """\
version: 1
legacy:
  url: {legacy}
services:
  candidate:
    url: {candidate}
    timeout: 2s
capabilities:
  shadowed:
    match:
      - {{path: "/shadow/{{kind}}/{{user}}"}}
    service: candidate
    mode: shadow
    compare: {{noise: "off", noise_sample: 0}}
store: {{url: "sqlite:///{store}"}}
"""


def test_u1_shadow_calls_compare_the_candidates_own_answers(tmp_path: Path) -> None:
    # python engine only: the comparison is the Python facade's in-process lean client; Envoy
    # mirrors to the compare service (tests/integration/test_engine_envoy.py)
    legacy = _stand_in("legacy", tmp_path, "--clean")
    candidate = _stand_in("candidate", tmp_path)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        SHADOW_ROUTES.format(
            legacy=legacy.url, candidate=candidate.url, store=tmp_path / "evidence.db"
        )
    )
    facade = processes.facade(routes, log_dir=tmp_path)
    stack = Stack(facade, candidate)
    try:
        for user in USERS:
            before = stack.strays()
            assert _get(stack, f"/shadow/idle/{user}").body == f"answer for {user}".encode()
            # the candidate answered the shadow call, then wrote its stray response
            stack.strays(above=before)
        counted = 'strangler_shadow_comparisons_total{capability="shadowed",outcome="%s"}'
        deadline = time.monotonic() + 15
        while True:  # each pass is one /metrics request: the comparisons run in a thread
            metrics = _get(stack, "/metrics").body.decode()
            if f"{counted % 'match'} 3.0" in metrics or time.monotonic() > deadline:
                break
        assert f"{counted % 'match'} 3.0" in metrics, metrics
        assert counted % "mismatch" not in metrics
    finally:
        facade.stop()
        candidate.stop()
        legacy.stop()
