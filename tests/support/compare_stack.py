"""The compare service's test stack: stand-in monolith and candidate
(``tests.support.mirror_standins``), ``strangler compare-service`` started for real, requests
sent as a mirror sends them, its metrics and ``strangler report`` read back."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import processes
from tests.support.probe import get_body

STRANGLER = str(Path(sys.executable).parent / "strangler")


def standin(role: str, state: Path, *, delay: float = 0.0) -> processes.Running:
    port = processes.free_port()
    return processes.start(
        f"{role}-{port}",
        [
            sys.executable,
            "-m",
            "tests.support.mirror_standins",
            "--port",
            str(port),
            "--role",
            role,
            "--delay",
            str(delay),
        ],
        port=port,
        log_dir=state,
        ready_path="/_seen",
    )


def compare_service(routes: Path, state: Path, *extra: str) -> processes.Running:
    port = processes.free_port()
    return processes.start(
        f"compare-{port}",
        [STRANGLER, "compare-service", "--routes", str(routes), "--port", str(port), *extra],
        port=port,
        log_dir=state,
        ready_path="/healthz",
    )


def write_routes(
    state: Path, monolith: str, candidate: str, *, concurrency: int = 64, noise: str = "noise: off"
) -> Path:
    routes = state / "routes.yaml"
    routes.write_text(
        f"version: 1\nlegacy: {{url: '{monolith}'}}\n"
        f"services:\n  items: {{url: '{candidate}', timeout: 5s, max_concurrency: {concurrency}}}\n"
        "capabilities:\n"
        "  items:\n    service: items\n    mode: shadow\n"
        "    match:\n      - {methods: [GET, POST], path: '/api/items/{n}'}\n"
        f"    compare: {{{noise}}}\n"
        "  orders:\n    service: items\n    mode: legacy\n"
        "    match:\n      - {methods: [POST], path: /api/orders}\n"
        f"store: {{url: 'sqlite:///{state / 'evidence.db'}'}}\n"
    )
    return routes


def mirror(url: str, path: str, *, method: str = "GET", body: bytes | None = None) -> Any:
    """Send one request as Envoy's mirror does: the client's Host with ``-shadow`` appended."""
    request = urllib.request.Request(
        url + path, data=body, method=method, headers={"Host": "shop.example-shadow"}
    )
    return urllib.request.urlopen(request, timeout=10)


def samples(running: processes.Running, name: str) -> dict[str, float]:
    """Every sample of metric ``name`` on /metrics, by its label text."""
    found = {}
    for line in get_body(running.url + "/metrics").decode().splitlines():
        m = re.match(rf"{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            found[m.group(1) or ""] = float(m.group(2))
    return found


def total(running: processes.Running, name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for text, value in samples(running, name).items()
        if all(label in text for label in wanted)
    )


def report(routes: Path, capability: str = "items") -> dict[str, Any]:
    """``strangler report --json``'s entry for ``capability``."""
    result = subprocess.run(
        [STRANGLER, "report", "--routes", str(routes), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (cap,) = [c for c in json.loads(result.stdout)["capabilities"] if c["name"] == capability]
    return cap  # type: ignore[no-any-return]


@dataclass
class Stack:
    routes: Path
    monolith: processes.Running
    candidate: processes.Running
    compare: processes.Running


@contextmanager
def running(
    state: Path,
    *extra: str,
    delays: tuple[float, float] = (0.0, 0.0),
    concurrency: int = 64,
    noise: str = "noise: off",
) -> Iterator[Stack]:
    """A stand-in monolith and candidate (each answering after its delay in ``delays``) and
    ``strangler compare-service EXTRA...`` between them; all three stopped on the way out."""
    monolith = standin("monolith", state, delay=delays[0])
    candidate = standin("candidate", state, delay=delays[1])
    routes = write_routes(state, monolith.url, candidate.url, concurrency=concurrency, noise=noise)
    compare = compare_service(routes, state, *extra)
    try:
        yield Stack(routes, monolith, candidate, compare)
    finally:
        compare.stop()
        candidate.stop()
        monolith.stop()
