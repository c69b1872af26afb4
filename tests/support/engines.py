"""`strangler serve` under either data-plane engine, for tests that must hold in both.

``serve(engine, routes, ...)`` starts ``strangler serve --engine python|envoy`` on a free port
and returns once ``/healthz`` answers; ``ENGINES`` are the pytest params of a fixture that
should run a test file against both (module-scoped where the tests allow it: Envoy, its
compile and its helpers take a few seconds to start). An Envoy test skips, saying why, only
when the wheel's ``envoy`` cannot run here.

    @pytest.fixture(scope="module", params=engines.ENGINES)
    def stack(request, tmp_path_factory):
        engine = engines.chosen(request)
        facade = engines.serve(engine, routes, log_dir=...)

A test that is about the Python process by nature calls ``engines.python_only(engine, why)``
with a one-line reason naming why it does not apply to Envoy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import processes, proxies
from tests.support.processes import BIN, Running

__all__ = ["ENGINES", "chosen", "python_only", "serve"]

ENGINES = [pytest.param("python", id="python"), pytest.param("envoy", id="envoy")]

# Envoy compiles, validates (envoy --mode validate) and starts its helpers before /healthz
_START_TIMEOUT = {"python": 30.0, "envoy": 120.0}


def chosen(request: pytest.FixtureRequest) -> str:
    """The engine of a fixture parametrized with ``ENGINES``; skips Envoy where it cannot run."""
    engine = str(request.param)
    if engine == "envoy":
        proxies.envoy_binary()
    return engine


def python_only(engine: str, why: str) -> None:
    """Skip an Envoy run of a test about the Python process itself, saying why."""
    if engine != "python":
        pytest.skip(f"python engine only: {why}")


def serve(
    engine: str,
    routes: Path,
    *,
    log_dir: Path,
    extra: Sequence[str] = (),
    name: str = "",
    env: dict[str, str] | None = None,
) -> Running:
    """``strangler serve --engine ENGINE`` on ``routes`` at a free port, ready."""
    port = processes.free_port()
    return processes.start(
        name or f"serve-{engine}-{port}",
        [
            str(BIN / "strangler"),
            "serve",
            "--engine",
            engine,
            "--routes",
            str(routes),
            "--port",
            str(port),
            *extra,
        ],
        port=port,
        log_dir=log_dir,
        ready_path="/healthz",
        env=env,
        timeout=_START_TIMEOUT[engine],
    )
