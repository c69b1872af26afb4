"""What is measured: the upstreams (stand-in, monolith) and the fronts put before them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.nginx import proxy_server, standin_server, start_nginx
from bench.procs import LOOPBACK, BenchError, Managed, Supervisor, free_port, log_tail, wait_http

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/products/SKU-00001"  # every scenario asks for the same URL path
MONOLITH_FILES = (
    "legacy_monolith/__main__.py",
    "legacy_monolith/gunicorn_conf.py",
    "legacy_monolith/shop/wsgi.py",
)

Via = Literal["direct", "nginx", "facade", "naive"]
UpstreamKind = Literal["stand-in", "monolith"]


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    via: Via
    upstream: UpstreamKind
    workers: int = 1  # processes of the front (nginx worker_processes, facade --workers)
    # the facade counts traffic per endpoint with this inventory (``legacy.endpoints``)
    inventory: Path | None = None

    @property
    def label(self) -> str:
        if self.via == "direct":
            return f"direct → {self.upstream}"
        plural = "s" if self.workers > 1 else ""
        front = "naive aiohttp proxy" if self.via == "naive" else self.via
        counted = ", endpoint inventory" if self.inventory is not None else ""
        return f"{front} ({self.workers} worker{plural}{counted}) → {self.upstream}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("a", "direct", "stand-in"),
    Scenario("b", "nginx", "stand-in"),
    Scenario("c", "facade", "stand-in"),
    Scenario("r", "naive", "stand-in"),  # the reference, measured in the same run
    Scenario("d1", "nginx", "stand-in", workers=2),
    Scenario("d2", "facade", "stand-in", workers=2),
    Scenario("e", "direct", "monolith"),
    Scenario("f", "nginx", "monolith"),
    Scenario("g", "facade", "monolith"),
)


def venv_tool(name: str) -> str:
    """A console script of the venv that runs this bench (strangler, gunicorn)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise BenchError(f"{path} not found: run scripts/bench (it bootstraps the venv)")
    return str(path)


def base_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def start_standin(supervisor: Supervisor) -> int:
    """The fast stand-in upstream: nginx answering ``return 200`` (2 workers, reuseport)."""
    port = free_port()
    proc = start_nginx(supervisor, "standin", workers=2, servers=standin_server(port))
    wait_http(proc, base_url(port) + PATH)
    return port


@dataclass(frozen=True, slots=True)
class Front:
    url: str  # base URL that wrk loads
    proc: Managed | None  # None for direct access


# ``--inventory``: the demo shop's endpoint inventory (the size the facade meets in the demo)
DEMO_INVENTORY = ROOT / "legacy_monolith" / "endpoints.json"
INVENTORY_KEY = "ci"  # the facade (1 worker) with the inventory: compared with (c) and (r)


def with_inventory(inventory: Path) -> Scenario:
    return Scenario(INVENTORY_KEY, "facade", "stand-in", inventory=inventory)


def start_front(supervisor: Supervisor, scenario: Scenario, upstream_port: int) -> Front:
    """Start the scenario's front (none for direct); returns once it answers on PATH."""
    if scenario.via == "direct":
        return Front(base_url(upstream_port), None)
    port = free_port()
    name = f"{scenario.key}-{scenario.via}"
    if scenario.via == "nginx":
        servers = proxy_server(port, upstream_port)
        proc = start_nginx(supervisor, name, workers=scenario.workers, servers=servers)
    elif scenario.via == "naive":
        argv = [sys.executable, "-m", "bench.naive_proxy", str(port), base_url(upstream_port)]
        proc = supervisor.start(name, argv, cwd=ROOT)
    else:
        proc = start_facade(
            supervisor, name, port, upstream_port, scenario.workers, scenario.inventory
        )
    try:
        wait_http(proc, base_url(port) + PATH)
    except BenchError:
        supervisor.stop(proc)
        raise
    return Front(base_url(port), proc)


def start_facade(
    supervisor: Supervisor,
    name: str,
    port: int,
    upstream_port: int,
    workers: int,
    inventory: Path | None = None,
) -> Managed:
    routes = supervisor.workdir / f"{name}-routes.yaml"
    counted = ""
    if inventory is not None:  # its tallies go to a store of its own in the workdir
        counted = f"  endpoints: {inventory.resolve()}\nstore:\n  url: sqlite:///{name}.db\n"
    routes.write_text(f"version: 1\nlegacy:\n  url: {base_url(upstream_port)}\n{counted}")
    argv = [
        venv_tool("strangler"), "serve",
        "--routes", str(routes),
        "--host", LOOPBACK,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    proc = supervisor.start(name, argv)
    wait_http(proc, base_url(port) + "/healthz")
    return proc


def monolith_missing() -> str | None:
    """Why the monolith cannot be benchmarked from this checkout, or None."""
    missing = [name for name in MONOLITH_FILES if not (ROOT / name).exists()]
    if missing:
        return "the monolith is not in this checkout yet (missing " + ", ".join(missing) + ")"
    return None


def prepare_monolith(workdir: Path) -> dict[str, str]:
    """Migrate and seed a private SQLite database; returns the monolith's environment."""
    env = {
        "STRANGLER_LEGACY_DB": str(workdir / "legacy.sqlite3"),
        "STRANGLER_LEGACY_MEDIA": str(workdir / "legacy-media"),
        "STRANGLER_LEGACY_LOG_LEVEL": "warning",
    }
    for command in (["migrate", "--noinput", "-v0"], ["seed"]):
        done = subprocess.run(
            [sys.executable, "-m", "legacy_monolith", *command],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-10:])
            raise BenchError(f"`python -m legacy_monolith {command[0]}` failed:\n{tail}")
    return env


def start_monolith(supervisor: Supervisor, env: dict[str, str]) -> int:
    """gunicorn with the monolith's own gunicorn_conf (gthread workers), on a free port."""
    port = free_port()
    argv = [
        venv_tool("gunicorn"),
        "-c", "python:legacy_monolith.gunicorn_conf",
        "legacy_monolith.shop.wsgi:application",
        "--bind", f"{LOOPBACK}:{port}",
    ]  # fmt: skip
    proc = supervisor.start("monolith", argv, env=env, cwd=ROOT)
    try:
        wait_http(proc, base_url(port) + PATH, timeout=60)
    except BenchError:
        supervisor.stop(proc)
        raise BenchError("gunicorn did not serve the monolith:\n" + log_tail(proc.log)) from None
    return port
