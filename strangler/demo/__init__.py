"""``strangler demo``: start the example shop's whole stack and walk one capability from
legacy to extracted and back (``strangler.demo.walk``), with the verbs a team would type.

The stack: the Django monolith under gunicorn (migrated and seeded), the capability's
extracted service on its own SQLite database, and ``strangler serve`` in front, all on a copy
of routes.yaml in the state directory (the team's own routes.yaml is only read); once the walk
has copied the data, the relay (``strangler data sync``) that follows the monolith's changes.
Every process is stopped by its pid when the demo ends: done (``--once``), failed, Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.text import Text

from regress.processes import free_port, port_open
from strangler.demo.stack import (
    LOG_TAIL,
    SERVICE_MODULES,
    DemoError,
    DemoInputError,
    Stack,
    database_env,
    executable,
    readyz,
    service_argv,
    url_port,
    wait_for_config,
    way_back_of,
    write_demo_routes,
)
from strangler.demo.walk import (
    Walk,
    WalkFailed,
    display,
    legacy_tour,
    summary,
    traffic_for,
    walk_all,
)

if TYPE_CHECKING:
    from facade.config import Config

DEMO_MIN_COMPARISONS = 200


@dataclass(frozen=True, slots=True)
class DemoOptions:
    routes: Path
    state_dir: Path
    port: int = 8080
    legacy_port: int | None = None
    service_port: int | None = None
    capability: str = "product-catalog"
    once: bool = False
    walk: bool = True


# -- the whole demo ------------------------------------------------------------------------


def run_demo(options: DemoOptions, config: Config, console: Console) -> int:
    """Start the stack, walk (unless ``options.walk`` is False), then stop, or keep running
    until Ctrl-C without ``options.once``. Returns the exit code; bad input raises
    ``DemoInputError`` before anything is started."""
    service, legacy_port, service_port = _plan(options, config)
    traffic = traffic_for(options.capability) if options.walk else None
    way_back = way_back_of(config, options.capability, port=free_port()) if options.walk else None
    state = options.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    _fresh_start(state, options.capability, service)
    if way_back is not None:
        _fresh_start(state, way_back.capability, way_back.service)
    routes = write_demo_routes(
        options.routes,
        state / "routes.yaml",
        capability=options.capability,
        legacy_port=legacy_port,
        service=service,
        service_port=service_port,
        min_comparisons=DEMO_MIN_COMPARISONS,
        way_back=way_back,
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {
        "STRANGLER_LEGACY_DB": str(state / "legacy.sqlite3"),
        "STRANGLER_LEGACY_MEDIA": str(state / "media"),
        **{
            database_env(name): f"sqlite:///{state / f'{name}.db'}"
            for name in {service, *([way_back.service] if way_back else [])}
        },
        "STRANGLER_ROUTES": str(routes.path),  # the monolith's seams read the demo copy too
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(state, env)
    walk = Walk(console, routes, stack, options.port, legacy_port, options.capability, service)
    walk.way_back = way_back
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _start(walk, options, service_port)
        if traffic is None:
            walk.step("1. legacy", "every request through the facade to the monolith")
            legacy_tour(walk, walk.config())
        else:
            walk_all(walk, traffic)
        return 0 if options.once else _keep_running(walk)
    except WalkFailed as failed:
        if walk.checks:
            summary(walk)
        console.print(Text(f"demo: the walk stopped at {failed}", style="bold red"))
        _gone(walk)
        return failed.exit_code
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how the demo is meant to end
    except OSError:
        # a refused connection is only the symptom: say which process died and why
        if not _gone(walk):
            console.print(Text(f"demo: unexpected failure at {walk.step_name}", style="bold red"))
            raise
        return 1
    except Exception:
        console.print(Text(f"demo: unexpected failure at {walk.step_name}", style="bold red"))
        raise
    finally:
        console.rule("stopping")
        began = time.monotonic()
        for process in stack.stop():
            console.print(f"[yellow]stopped[/] {process.name} (pid {process.proc.pid})")
        console.print(Text(f"shutdown took {time.monotonic() - began:.1f} s", style="dim"))
        signal.signal(signal.SIGTERM, previous)


def _gone(walk: Walk) -> bool:
    """Say which process of the stack exited, with the end of its log, if one did."""
    gone = walk.stack.exited()
    if gone is not None:
        walk.console.print(
            Text(
                f"demo: {gone.name} exited with {gone.proc.returncode} during "
                f"{walk.step_name}; the end of its log {gone.log_path}:\n"
                f"{gone.log_tail(LOG_TAIL)}",
                style="red",
            )
        )
    return gone is not None


def _plan(options: DemoOptions, config: Config) -> tuple[str, int, int]:
    """The capability's service and the monolith's and service's ports, or DemoInputError."""
    capability = config.routes.capabilities.get(options.capability)
    if capability is None:
        known = ", ".join(config.routes.capabilities) or "none"
        raise DemoInputError(
            f"unknown capability {options.capability!r} in {config.source} (known: {known})"
        )
    service = capability.service
    if service not in SERVICE_MODULES:
        raise DemoInputError(
            f"{options.capability}: its service {service!r} is not one the demo can start "
            f"({', '.join(SERVICE_MODULES)})"
        )
    legacy_port = options.legacy_port or url_port(config.routes.legacy.url, 8000)
    service_port = options.service_port or url_port(config.routes.services[service].url, 8101)
    ports = {"facade": options.port, "monolith": legacy_port, service: service_port}
    if len(set(ports.values())) < len(ports):
        raise DemoInputError(f"the demo needs three different ports, got {ports}")
    for name, port in ports.items():
        if port_open(port):  # checked again at each start; this spares a useless setup
            raise DemoInputError(
                f"port {port} is already in use; stop what uses it or give {name} another "
                "port (--port, --legacy-port, --service-port)"
            )
    return service, legacy_port, service_port


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _fresh_start(state: Path, capability: str, service: str) -> None:
    """Each demo walks from the beginning: last run's evidence, audit trail, service database
    and copy checkpoint go (only the files the demo itself creates)."""
    (state / "monolith-setup.log").unlink(missing_ok=True)
    names = ["strangler.db", f"{service}.db"]
    for name in names:
        for suffix in ("", "-wal", "-shm", "-journal"):
            (state / (name + suffix)).unlink(missing_ok=True)
    (state / ".strangler" / "data" / f"{capability}.json").unlink(missing_ok=True)


def _start(walk: Walk, options: DemoOptions, service_port: int) -> None:
    """Start the services, set up the monolith meanwhile and start it, then the facade."""
    console, stack, service = walk.console, walk.stack, walk.service
    console.rule("[bold]starting the stack")
    console.print(Text(f"{display(options.routes)} copied to {display(walk.routes.path)}:"))
    for change in walk.routes.changes:
        console.print(Text(f"  {change}", style="dim"))
    # the services first: they need nothing of the monolith, so their boot overlaps its
    # migrate and seed instead of following them
    services = [(service, service_port)]
    if walk.way_back is not None:  # step 7's service, started beside the others for the same
        services.append((walk.way_back.service, walk.way_back.port))
    started = []
    for name, port in services:
        argv = service_argv(name, port=port, database=stack.env[database_env(name)])
        _show(console, [Path(argv[0]).name, *argv[1:]])
        started.append(stack.launch(name, argv, port=port))
    python = sys.executable
    for step in (["migrate", "--noinput"], ["seed"]):
        _show(console, ["python", "-m", "legacy_monolith", *step])
        stack.run("monolith-setup", [python, "-m", "legacy_monolith", *step])
    gunicorn = [executable("gunicorn"), "-c", "python:legacy_monolith.gunicorn_conf", "--bind"]
    _show(console, [Path(gunicorn[0]).name, *gunicorn[1:], f"127.0.0.1:{walk.legacy_port}"])
    monolith = [*gunicorn, f"127.0.0.1:{walk.legacy_port}"]
    started.append(stack.launch("monolith", monolith, port=walk.legacy_port))
    for process in started:
        stack.wait_ready(process, path=None if process.name == "monolith" else "/healthz")
    args = ["serve", "--routes", str(walk.routes.path), "--port", str(options.port)]
    _show(console, ["strangler", *args])
    facade = stack.launch("facade", [executable("strangler"), *args], port=options.port)
    stack.wait_ready(facade, path="/healthz")
    if not wait_for_config(options.port, walk.routes.path, timeout=10):
        raise DemoError(f"the facade is not ready: /readyz says {readyz(options.port)}")
    for process in stack.processes:
        console.print(
            f"[green]started[/] {process.name} (pid {process.proc.pid}) on :{process.port}"
        )


def _show(console: Console, argv: list[str]) -> None:
    console.print(Text("$ " + " ".join(argv), style="bold cyan"))


def _keep_running(walk: Walk) -> int:
    port, routes = walk.port, display(walk.routes.path)
    strangler = display(Path(executable("strangler")))
    walk.console.rule("[bold]running")
    walk.console.print(
        Text(
            f"facade:   http://127.0.0.1:{port}/api/products/SKU-00001\n"
            f"          curl -si -H 'X-Customer-Id: 7' http://127.0.0.1:{port}/api/products/SKU-00001\n"
            f"monolith: http://127.0.0.1:{walk.legacy_port}/ (direct)\n"
            f"readyz:   http://127.0.0.1:{port}/readyz   metrics: http://127.0.0.1:{port}/metrics\n"
            f"try:      {strangler} status --routes {routes}\n"
            f"          {strangler} canary {walk.capability} --percent 50 "
            f"--routes {routes}\n"
            f"logs:     {display(walk.stack.state)}/*.log\n"
            f"edits to {routes} apply within a second; ./routes.yaml is not used.\n"
            "Ctrl-C stops everything."
        )
    )
    while (gone := walk.stack.exited()) is None:
        time.sleep(0.5)
    walk.console.print(
        Text(
            f"{gone.name} exited with {gone.proc.returncode}; "
            f"its log {gone.log_path}:\n{gone.log_tail(LOG_TAIL)}"
        )
    )
    return 1
