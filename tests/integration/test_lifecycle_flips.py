"""routes.yaml flipping under load: a real `strangler serve` (two workers) in front of the real
monolith, steady concurrent traffic, and 50 changes of a capability's mode (CLI verbs, hand
edits, broken files). No client request may fail; the facade follows a CLI edit within 2 s;
every change ends up in one intact audit chain, each hand edit recorded once."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = pytest.mark.integration
STRANGLER = str(Path(sys.executable).parent / "strangler")
CLIENTS = 3
PAUSE = 0.005  # between a client's requests: steady load that leaves the CLI some CPU
PATHS = ("/api/products", "/api/products/SKU-00001", "/api/products?page=2")


def routes_text(legacy: str, service: str, *, mode: str, percent: int = 20) -> str:
    return f"""\
# flipped 50 times by test_lifecycle_flips
version: 1
legacy:
  url: {legacy}
  timeout: 10s
services:
  catalog: {{url: "{service}", timeout: 5s}}
capabilities:
  product-catalog:
    match:
      - {{methods: [GET, HEAD], path: /api/products}}
      - {{methods: [GET, HEAD], path: "/api/products/{{sku}}"}}
    service: catalog
    mode: {mode}            # the line the flips change
    canary: {{percent: {percent}, sticky: "header:X-Customer-Id"}}
    promote: {{min_comparisons: 100000, window: 1h}}
store:
  url: sqlite:///state/strangler.db
debug_headers: true
"""


class Load:
    """Clients on keep-alive connections, each with its own customer id, counting answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.served_by: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def _client(self, index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        n = 0
        while not self.stop.is_set():
            path = PATHS[n % len(PATHS)]
            n += 1
            try:
                connection.request("GET", path, headers={"X-Customer-Id": f"c{index}-{n % 7}"})
                response = connection.getresponse()
                response.read()
                time.sleep(PAUSE)
                route = response.getheader("X-Strangler-Route", "")
                with self._lock:
                    self.statuses[response.status] += 1
                    self.served_by[route.rsplit(";", 1)[-1]] += 1
                    if response.status != 200:
                        self.errors.append(f"{path}: {response.status} {route}")
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        connection.close()


def served_by(port: int) -> tuple[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/products/SKU-00001")
        response = connection.getresponse()
        response.read()
        _cap, mode, who = response.getheader("X-Strangler-Route", ";;").split(";")
        return mode, who
    finally:
        connection.close()


def cli(*args: str, routes: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *args, "--routes", str(routes)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def hand_write(routes: Path, text: str) -> None:
    # as an editor saves: a temporary file renamed over the original
    tmp = routes.with_name(".routes.yaml.swp")
    tmp.write_text(text)
    os.replace(tmp, routes)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> processes.Running:
    state = tmp_path_factory.mktemp("shop")
    running = processes.monolith(state, log_dir=state, seed_args=["--products", "5"])
    yield running  # type: ignore[misc]
    running.stop()


@pytest.mark.timeout(240)
def test_fifty_flips_under_load_fail_no_request_and_are_all_audited(
    tmp_path: Path, shop: processes.Running
) -> None:
    service = processes.echo_upstream("catalog", log_dir=tmp_path)
    routes = tmp_path / "routes.yaml"

    def text(mode: str, percent: int = 20) -> str:
        return routes_text(shop.url, service.url, mode=mode, percent=percent)

    routes.write_text(text("legacy"))
    facade = processes.facade(routes, log_dir=tmp_path, extra=["--workers", "2"])
    force = ("--force", "--reason", "flip test")

    changed: list[str] = []

    def verb(*args: str) -> Callable[[], None]:
        def run() -> None:
            result = cli(*args, "--json", routes=routes)
            assert result.returncode == 0, result.stderr
            if json.loads(result.stdout)["changed"]:
                changed.append(args[0])

        return run

    def hand(mode: str, percent: int = 20) -> Callable[[], None]:
        return lambda: hand_write(routes, text(mode, percent))

    kinds = iter(range(100))

    def broken() -> None:
        good = routes.read_text()
        if next(kinds) % 2:
            hand_write(routes, good.replace("mode: ", "mode: sideways-", 1))
        else:
            hand_write(routes, good.replace("service: catalog", "service: [unclosed", 1))
        time.sleep(0.6)  # the watcher sees it, rejects it, keeps the last good config
        hand_write(routes, good)

    verbs = [
        verb("shadow", "product-catalog"),
        verb("canary", "product-catalog", "--percent", "5"),
        verb("cutover", "product-catalog", *force),
        verb("rollback", "product-catalog"),
        verb("rollback", "product-catalog", "--to", "legacy"),
    ]
    edits = [hand("canary", 40), hand("extracted"), hand("shadow"), hand("canary", 15)]
    # every fifth flip a CLI verb, every fifth a broken file, the rest hand edits: 10/10/30
    flips = [
        verbs[i // 5 % 5] if i % 5 == 0 else broken if i % 5 == 3 else edits[i % 4]
        for i in range(50)
    ]
    try:
        with Load(facade.port) as load:
            time.sleep(0.5)
            started = time.monotonic()
            for flip in flips:
                flip()
                time.sleep(0.1)
            # the facade follows a CLI edit within 2 s (the contract's promise)
            hand_write(routes, text("shadow"))
            time.sleep(1.5)
            assert served_by(facade.port)[0] == "shadow"
            verb("cutover", "product-catalog", *force)()
            edited = routes.stat().st_mtime  # written just before the rename into place
            followed = None
            since: float | None = None  # the first probe of the current run of "extracted"
            consecutive = 0
            while time.time() - edited < 5:
                probed = time.time()
                if served_by(facade.port) == ("extracted", "catalog"):
                    since = since or probed
                    consecutive += 1
                else:
                    since, consecutive = None, 0
                if consecutive == 6 and since is not None:  # both workers, several times over
                    followed = since - edited
                    break
                time.sleep(0.02)
            flipping = time.monotonic() - started
            time.sleep(0.5)
        total = sum(load.statuses.values())
        assert load.errors == [], load.errors[:10]
        assert total > 200, load.statuses
        assert set(load.statuses) == {200}
        assert {"legacy", "catalog"} <= set(load.served_by), load.served_by
        assert followed is not None, "the facade did not follow the CLI edit within 5 s"
        assert followed < 2.0
        print(
            f"\n{total} requests in {flipping:.1f}s of flipping, 0 failed; CLI edit in force "
            f"after {followed:.2f}s; served by {dict(load.served_by)}"
        )

        time.sleep(1.0)  # the hand edits' records are written in the background
        verified = cli("audit", "--verify", "--json", routes=routes)
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["ok"] is True
        records = json.loads(cli("audit", "--json", "--limit", "1000", routes=routes).stdout)[
            "records"
        ]
        assert len([r for r in records if r["source"] == "cli"]) == len(changed)
        hand_made = [r for r in records if r["source"] == "hand-edit"]
        assert hand_made, "no hand edit was recorded"
        print(f"audit: {len(changed)} CLI records, {len(hand_made)} hand-edit records, intact")
        # the workers' config-in-force records name the file in force, no capability's move
        chain = sorted(
            (r for r in records if r["source"] != "config-in-force"), key=lambda r: r["seq"]
        )
        for before, after in itertools.pairwise(chain):
            # one capability changes per flip: a hand-edit record reaching the digest the record
            # before it reached would be a second worker's copy, or a CLI change taken for a
            # hand edit
            if after["source"] == "hand-edit":
                assert after["digest_after"] != before["digest_after"], (before, after)
        assert facade.proc.poll() is None
        log = facade.log()
        assert "sideways-" in log  # the broken files were reported...
        assert "Traceback" not in log  # ...and nothing crashed
    finally:
        facade.stop()
        service.stop()
