"""SECURITY.md F1 against a running facade: routes.yaml files built to freeze it are refused
quickly with ``PATH:LINE: message``, requests are answered meanwhile, and the next valid edit is
in force within 2 s. The same files given to ``strangler validate`` exit 2 within 2 s.

A client polls ``/probe`` all along; the capability ``probe`` is ``legacy`` (answered by the
``legacy`` echo server) until the valid edit makes it ``extracted`` (answered by ``catalog``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import engines, processes
from tests.support.processes import Running

pytestmark = pytest.mark.integration

ROUTES = """\
version: 1
legacy:
  url: {legacy}
  timeout: 5s
services:
  catalog: {{url: '{service}', timeout: 5s}}
capabilities:
  probe:
    match: [{{path: /probe}}]
    service: catalog
    mode: {mode}
"""
# nine levels of nine aliases: 9**9 (387 million) strings from 600 bytes, referenced from
# `version:`, whose error message once quoted the whole expansion
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
SLOWEST_ANSWER = 0.5  # no request may wait longer while a reload is refused


@dataclass
class Poller:
    """A client asking for ``url`` back to back, in a thread; records each wait."""

    url: str
    waits: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Poller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    response.read()
            except OSError as exc:
                self.failures.append(repr(exc))
            self.waits.append(time.monotonic() - started)
            self._stop.wait(0.01)


def served_by(facade: Running) -> str:
    with urllib.request.urlopen(facade.url + "/probe", timeout=10) as response:
        return str(json.loads(response.read())["server"])


def last_reload_error(facade: Running) -> str | None:
    try:
        with urllib.request.urlopen(facade.url + "/readyz", timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503 while the monolith probe is not done
        body = exc.read()
    error: str | None = json.loads(body)["config"]["last_reload_error"]
    return error


def wait_for(condition: Callable[[], bool], *, within: float, what: str) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"{what}: not within {within:g}s"
        threading.Event().wait(0.02)
    return time.monotonic() - started


@dataclass(frozen=True)
class Stack:
    facade: Running
    routes: Path
    legacy: Running
    service: Running

    def save(self, *, mode: str) -> None:
        """Write a valid routes.yaml, as editors and `strangler` do: a new file, renamed."""
        tmp = self.routes.with_name("routes.yaml.new")
        tmp.write_text(ROUTES.format(legacy=self.legacy.url, service=self.service.url, mode=mode))
        tmp.replace(self.routes)


def make_stack(tmp: Path, legacy: Running, service: Running, engine: str = "python") -> Stack:
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(legacy=legacy.url, service=service.url, mode="legacy"))
    return Stack(engines.serve(engine, routes, log_dir=tmp), routes, legacy, service)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = processes.echo_upstream("catalog", log_dir=tmp_path_factory.mktemp("catalog"))
    yield running
    running.stop()


@pytest.fixture(scope="module", params=engines.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return engines.chosen(request)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, echo_legacy: Running, catalog: Running, engine: str
) -> Iterator[Stack]:
    built = make_stack(tmp_path_factory.mktemp("facade"), echo_legacy, catalog, engine)
    yield built
    built.facade.stop()


# -- the four files: each replaces routes.yaml by a rename, as a save would ---------------------


def fifty_megabytes(tmp: Path, valid: str) -> Path:
    path = tmp / "big.yaml"
    with path.open("w") as out:
        out.write(valid)
        line = "# " + "padding " * 12 + "\n"
        out.write(line * (50 * 1024**2 // len(line) + 1))
    return path


def alias_bomb(tmp: Path, valid: str) -> Path:
    path = tmp / "bomb.yaml"
    path.write_text(BOMB + valid.replace("version: 1", "version: *i"))
    return path


def dev_zero(tmp: Path, _valid: str) -> Path:
    path = tmp / "zero.yaml"
    path.symlink_to("/dev/zero")
    return path


def fifo(tmp: Path, _valid: str) -> Path:
    path = tmp / "fifo.yaml"
    os.mkfifo(path)
    return path


CASES = {
    "50mb": (fifty_megabytes, "over the size limit of 4.0 MiB"),
    "alias_bomb": (alias_bomb, "(an alias bomb?); refused without expanding it"),
    "symlink_to_dev_zero": (dev_zero, "not a regular file: a character device ('/dev/zero'"),
    "fifo": (fifo, "not a regular file: a FIFO; refused without reading it"),
}


@pytest.mark.parametrize("case", CASES)
def test_f1_a_hostile_routes_file_is_refused_and_the_next_edit_applies(
    case: str, stack: Stack, tmp_path: Path
) -> None:
    build, expected = CASES[case]
    stack.save(mode="legacy")
    wait_for(lambda: served_by(stack.facade) == "legacy", within=5, what="the baseline")
    wait_for(lambda: last_reload_error(stack.facade) is None, within=5, what="a clean start")
    bad = build(tmp_path, stack.routes.read_text())
    with Poller(stack.facade.url + "/probe") as client:
        # requests before the swap, through it and after it: a refusal and the next edit can
        # both take under half a second, a handful of requests on a slow machine
        wait_for(lambda: len(client.waits) >= 5, within=10, what="requests before the swap")
        os.replace(bad, stack.routes)
        refused_in = wait_for(
            lambda: last_reload_error(stack.facade) is not None, within=2, what="the refusal"
        )
        error = last_reload_error(stack.facade)
        assert error is not None
        assert error.startswith(f"{stack.routes}:"), error  # PATH:LINE: message
        assert expected in error
        assert len(error) < 400  # never the file's contents
        assert served_by(stack.facade) == "legacy"  # the last good config stays
        assert error.splitlines()[0] in stack.facade.log()  # and the log says so
        stack.save(mode="extracted")
        applied_in = wait_for(
            lambda: served_by(stack.facade) == "catalog", within=2, what="the next valid edit"
        )
        assert last_reload_error(stack.facade) is None
        wait_for(lambda: len(client.waits) > 10, within=10, what="requests after the edit")
    assert client.failures == []
    assert len(client.waits) > 10
    slowest = max(client.waits)
    assert slowest < SLOWEST_ANSWER, f"a request waited {slowest:.2f}s"
    print(f"{case}: refused in {refused_in:.2f}s, next edit in {applied_in:.2f}s, "
          f"slowest request {slowest * 1000:.0f} ms")  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_f1_strangler_validate_refuses_a_hostile_file_within_2_s(case: str, tmp_path: Path) -> None:
    build, expected = CASES[case]
    valid = ROUTES.format(legacy="http://127.0.0.1:9", service="http://127.0.0.1:9", mode="legacy")
    good = tmp_path / "good.yaml"
    good.write_text(valid)
    strangler = str(processes.BIN / "strangler")
    started = time.monotonic()
    ok = subprocess.run([strangler, "validate", str(good)], capture_output=True, timeout=60)
    baseline = time.monotonic() - started  # starting Python and importing the command
    assert ok.returncode == 0, ok.stderr
    bad = build(tmp_path, valid)
    started = time.monotonic()
    result = subprocess.run(
        [strangler, "validate", str(bad)], capture_output=True, text=True, timeout=60
    )
    took = time.monotonic() - started
    assert result.returncode == 2  # bad input (CONTRACT.md)
    assert result.stderr.startswith(f"{bad}:"), result.stderr
    assert expected in result.stderr
    assert took < baseline + 2, f"validate took {took:.1f}s (a valid file: {baseline:.1f}s)"


# -- a legitimate but slow file: the time limit, and SIGTERM meanwhile -----------------------------


def many_capabilities(stack_or_urls: tuple[str, str], count: int) -> str:
    legacy, service = stack_or_urls
    caps = "".join(
        f"  cap-{i}:\n    match:\n      - {{methods: [GET, HEAD], path: /api/thing{i}}}\n"
        f'      - {{methods: [POST], path: "/api/thing{i}/{{id}}/act"}}\n'
        f"    service: catalog\n    mode: shadow\n    canary: {{percent: 5}}\n"
        for i in range(count)
    )
    return ROUTES.format(legacy=legacy, service=service, mode="legacy") + caps


def test_f1_a_reload_over_its_time_limit_is_rejected_while_requests_flow(
    tmp_path: Path, echo_legacy: Running, catalog: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python engine only: $STRANGLER_RELOAD_TIMEOUT bounds the Python facade's reload worker
    # (serve --engine envoy's watcher is strangler.engine.supervisor)
    # a limit well under the parse: 3,000 capabilities parse in ~0.4 s on a quiet machine since
    # the loader got faster (issue 17), so 500 ms let it through and nothing was refused
    monkeypatch.setenv("STRANGLER_RELOAD_TIMEOUT", "100ms")
    stack = make_stack(tmp_path, echo_legacy, catalog)
    try:
        slow = tmp_path / "slow.yaml"  # 3,000 capabilities: ~0.4 s of parsing or more
        slow.write_text(many_capabilities((echo_legacy.url, catalog.url), 3000))
        with Poller(stack.facade.url + "/probe") as client:
            os.replace(slow, stack.routes)
            wait_for(
                lambda: last_reload_error(stack.facade) is not None, within=3, what="the refusal"
            )
            assert last_reload_error(stack.facade) == (
                f"{stack.routes}: parsing took longer than 0.1s; refused "
                "($STRANGLER_RELOAD_TIMEOUT sets the limit)"
            )
            stack.save(mode="extracted")
            # the abandoned parse goes on (seconds): no second one starts beside it; the edit
            # is taken up on the first poll after it ends
            wait_for(
                lambda: served_by(stack.facade) == "catalog", within=60, what="the next valid edit"
            )
        assert client.failures == []
        assert max(client.waits) < SLOWEST_ANSWER, f"a request waited {max(client.waits):.2f}s"
    finally:
        stack.facade.stop()


def test_f1_sigterm_during_a_reload_stops_the_facade_within_the_drain_timeout(
    tmp_path: Path, echo_legacy: Running, catalog: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python engine only: a stop in the middle of the Python facade's own parse (its drain)
    monkeypatch.setenv("STRANGLER_ROUTES_MAX_BYTES", "64MiB")  # let a big file be parsed
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES.format(legacy=echo_legacy.url, service=catalog.url, mode="legacy"))
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--shutdown-timeout", "2"])
    try:
        slow = tmp_path / "slow.yaml"  # 10,000 capabilities: parsing takes far over 5 s
        slow.write_text(many_capabilities((echo_legacy.url, catalog.url), 10_000))
        os.replace(slow, routes)
        started = time.monotonic()
        # the reload has begun: its log line, or past two polls of the watcher
        wait_for(
            lambda: "loading it" in facade.log() or time.monotonic() - started > 1.5,
            within=5,
            what="the reload",
        )
        started = time.monotonic()
        code = facade.stop(signal.SIGTERM, timeout=5)
        took = time.monotonic() - started
        assert code == 0, f"exit code {code} after {took:.1f}s"  # -9: it had to be killed
        assert took < 5
        log = facade.log()
        assert "loading it" in log
        assert "reloaded" not in log  # it stopped mid-parse...
        assert "rejected" not in log  # ...not after a quick refusal
    finally:
        facade.stop(signal.SIGKILL)
