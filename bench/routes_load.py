"""How long a large routes.yaml takes: ``strangler validate`` and ``strangler serve`` ready.

The file is the one ``tests/integration/test_reload_under_load.py`` writes (its
``routes_text``), with 10,000 capabilities by default (1.9 MiB, 250,000 YAML values): each a
shadow capability with a 5% canary and two match entries. Wall seconds, as the operator waits:

- validate: ``strangler validate --routes FILE``, from exec to exit (exit 0 required);
- serve ready: from exec of ``strangler serve --routes FILE`` to the first 200 from
  ``/healthz`` (polled every 20 ms), as docs/benchmarks.md "routes.yaml load" measured it.

Both run ``rounds`` times, interleaved; the median is the figure, every round is kept.
"""

from __future__ import annotations

import statistics
import subprocess
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import LOOPBACK, BenchError, Supervisor, free_port, http_get, log_tail
from bench.targets import base_url, venv_tool

CAPABILITIES = 10_000
SERVE_READY_TIMEOUT = 120.0


def routes_text(legacy: str, service: str, capabilities: int = CAPABILITIES) -> str:
    """The integration test's large file (``probe`` in legacy mode)."""
    caps = "".join(
        f"  cap-{i}:\n    match:\n      - {{methods: [GET, HEAD], path: /api/thing{i}}}\n"
        f'      - {{methods: [POST], path: "/api/thing{i}/{{id}}/act"}}\n'
        f"    service: catalog\n    mode: shadow\n    canary: {{percent: 5}}\n"
        for i in range(capabilities)
    )
    return (
        f"version: 1\nlegacy:\n  url: {legacy}\n  timeout: 5s\n"
        f"services:\n  catalog: {{url: '{service}', timeout: 5s}}\n"
        f"capabilities:\n  probe:\n    match: [{{path: /probe}}]\n    service: catalog\n"
        f"    mode: legacy\n{caps}"
    )


@dataclass(frozen=True, slots=True)
class LoadTimes:
    capabilities: int
    file_bytes: int
    validate_s: tuple[float, ...]
    serve_ready_s: tuple[float, ...]

    @property
    def validate(self) -> float:
        return statistics.median(self.validate_s)

    @property
    def serve_ready(self) -> float:
        return statistics.median(self.serve_ready_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "capabilities": self.capabilities,
            "file_bytes": self.file_bytes,
            "validate_s": {"median": round(self.validate, 3), "rounds": self.validate_s},
            "serve_ready_s": {"median": round(self.serve_ready, 3), "rounds": self.serve_ready_s},
        }


def time_validate(routes: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [venv_tool("strangler"), "validate", "--routes", str(routes)],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"strangler validate {routes} failed:\n{done.stdout}{done.stderr}")
    return took


def time_serve_ready(supervisor: Supervisor, routes: Path, name: str) -> float:
    port = free_port()
    argv = [
        venv_tool("strangler"), "serve",
        "--routes", str(routes),
        "--host", LOOPBACK,
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    url = base_url(port) + "/healthz"
    started = time.monotonic()
    proc = supervisor.start(name, argv)
    try:
        while time.monotonic() - started < SERVE_READY_TIMEOUT:
            if proc.popen.poll() is not None:
                raise BenchError(f"strangler serve exited early:\n{log_tail(proc.log)}")
            try:
                status, _ = http_get(url, timeout=1.0)
            except (OSError, urllib.error.URLError):
                status = 0
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.02)
        raise BenchError(f"strangler serve was not ready within {SERVE_READY_TIMEOUT:.0f}s")
    finally:
        supervisor.stop(proc)


def measure(
    supervisor: Supervisor, upstream_port: int, *, capabilities: int = CAPABILITIES, rounds: int
) -> LoadTimes:
    """``rounds`` x (validate, serve ready) of a file with ``capabilities`` capabilities."""
    routes = supervisor.workdir / f"routes-{capabilities}.yaml"
    url = base_url(upstream_port)
    routes.write_text(routes_text(url, url, capabilities))
    validate: list[float] = []
    ready: list[float] = []
    for number in range(rounds):
        validate.append(round(time_validate(routes), 3))
        ready.append(round(time_serve_ready(supervisor, routes, f"load-serve-{number}"), 3))
    return LoadTimes(capabilities, routes.stat().st_size, tuple(validate), tuple(ready))
