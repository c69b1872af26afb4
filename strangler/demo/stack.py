"""The demo's processes and its own copy of routes.yaml (``strangler demo``).

The monolith and the services are started by command, never imported: the facade knows the
example shop only by the command lines below, as a team's own scripts would. Every process is
stopped by its pid, the facade first, whatever ends the demo.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from facade.errors import FacadeError
from regress import processes
from regress.errors import StackStartError
from regress.processes import Process, port_open

if TYPE_CHECKING:
    from facade.config import Config

# the example shop's services: the module each is run as (`python -m MODULE --port P --db URL`)
# and the variable its data plugin reads its database from (docs/data.md)
SERVICE_MODULES = {"catalog": "extracted.catalog", "inventory": "extracted.inventory"}
LOG_TAIL = 20
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class DemoError(FacadeError):
    """The demo could not go on: a port in use, a process that did not start, a bad option.

    ``exit_code`` follows the CLI's contract (1 failure, 2 bad input)."""

    exit_code = 1


class DemoInputError(DemoError):
    exit_code = 2


def database_env(service: str) -> str:
    """``catalog`` -> ``STRANGLER_CATALOG_DB``: where the service and its data plugin look."""
    return f"STRANGLER_{service.upper().replace('-', '_')}_DB"


def executable(name: str) -> str:
    """A console script beside this interpreter (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def url_port(url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or default


def service_argv(service: str, *, port: int, database: str) -> list[str]:
    """The command line of one of the example shop's services."""
    return [sys.executable, "-m", SERVICE_MODULES[service], "--port", str(port), "--db", database]


@dataclass(frozen=True, slots=True)
class WayBack:
    """The capability the walk also takes to ``extracted`` to show the way back (the service's
    own changes carried to the monolith's tables): inventory, whose stock the monolith's
    orders still read."""

    capability: str
    service: str
    port: int


WAY_BACK_CAPABILITY = "inventory"
WAY_BACK_MIN_COMPARISONS = 60


def way_back_of(config: Config, walked: str, *, port: int) -> WayBack | None:
    """The way-back capability of ``config`` unless it is the one walked (its own walk shows
    the way back), or None when routes.yaml gives it no ``data.sync.back``."""
    capability = config.routes.capabilities.get(WAY_BACK_CAPABILITY)
    if walked == WAY_BACK_CAPABILITY or capability is None or capability.data is None:
        return None
    sync = capability.data.sync
    if sync is None or sync.back is None or capability.service not in SERVICE_MODULES:
        return None
    return WayBack(WAY_BACK_CAPABILITY, capability.service, port)


# -- the demo's routes.yaml ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoRoutes:
    """What the demo copy changes, each as a line the narrative prints."""

    path: Path
    changes: tuple[str, ...]


def write_demo_routes(
    source: Path,
    target: Path,
    *,
    capability: str,
    legacy_port: int,
    service: str,
    service_port: int,
    min_comparisons: int,
    way_back: WayBack | None = None,
) -> DemoRoutes:
    """Copy ``source`` to ``target`` (comments kept), pointed at the demo's processes, with
    every capability in ``legacy`` so the walk starts at the beginning; ``way_back``'s
    capability too is pointed at its service and needs less evidence. ``source`` is never
    written."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # "header:X-Customer-Id" stays quoted: plain YAML readers choke
    yaml.indent(mapping=2, sequence=4, offset=2)  # the shipped file's own layout
    tree: Any = yaml.load(source.read_text(encoding="utf-8"))
    changes = []
    tree["legacy"]["url"] = f"http://127.0.0.1:{legacy_port}"
    tree["services"][service]["url"] = f"http://127.0.0.1:{service_port}"
    changes.append(f"legacy.url -> :{legacy_port}, services.{service}.url -> :{service_port}")
    endpoints = tree["legacy"].get("endpoints")
    if endpoints is not None and not Path(endpoints).expanduser().is_absolute():
        # relative to the team's routes.yaml, not to the copy's directory
        tree["legacy"]["endpoints"] = str(source.resolve().parent / endpoints)
        changes.append(f"legacy.endpoints -> {tree['legacy']['endpoints']}")
    # the demo's evidence and audit trail never land in the team's own store
    tree.setdefault("store", {})["url"] = "sqlite:///strangler.db"
    changes.append("store.url -> strangler.db beside the copy")
    moved = [name for name, cap in tree["capabilities"].items() if cap.get("mode") != "legacy"]
    for name in moved:
        tree["capabilities"][name]["mode"] = "legacy"
    if moved:
        changes.append(f"mode -> legacy for {', '.join(moved)} (the walk starts there)")
    entry = tree["capabilities"][capability]
    promote = entry.setdefault("promote", {})
    was = int(promote.get("min_comparisons", 500))
    if was > min_comparisons:
        promote["min_comparisons"] = min_comparisons
        changes.append(
            f"{capability}: promote.min_comparisons {was} -> {min_comparisons} (a quick demo)"
        )
    canary = entry.setdefault("canary", {})
    if not str(canary.get("sticky", "client_ip")).startswith("header:"):
        # every demo request comes from 127.0.0.1: only a header key spreads them
        canary["sticky"] = "header:X-Customer-Id"
        changes.append(f"{capability}: canary.sticky -> header:X-Customer-Id")
    if way_back is not None:
        tree["services"][way_back.service]["url"] = f"http://127.0.0.1:{way_back.port}"
        changes.append(f"services.{way_back.service}.url -> :{way_back.port} (the way back)")
        promote = tree["capabilities"][way_back.capability].setdefault("promote", {})
        promote["min_comparisons"] = WAY_BACK_MIN_COMPARISONS
        changes.append(
            f"{way_back.capability}: promote.min_comparisons -> {WAY_BACK_MIN_COMPARISONS}"
        )
    tree["debug_headers"] = True
    changes.append("debug_headers: true (answers say who served them)")
    buffer = io.StringIO()
    yaml.dump(tree, buffer)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(temporary, target)  # a running facade never reads half a file
    return DemoRoutes(target, tuple(changes))


# -- processes -----------------------------------------------------------------------------


@dataclass
class Stack:
    """Processes started by the demo, stopped by pid in reverse order."""

    state: Path
    env: Mapping[str, str]
    processes: list[Process] = field(default_factory=list)

    def launch(self, name: str, argv: Sequence[str], *, port: int) -> Process:
        """Start ``argv`` (its output to ``STATE/NAME.log``); does not wait for it."""
        if port_open(port):
            raise DemoInputError(
                f"port {port} is already in use; stop what uses it or give {name} another port"
            )
        try:
            process = processes.start(
                name,
                argv,
                port=port,
                log_path=self.state / f"{name}.log",
                cwd=self.state,
                env=self.env,
                die_with_parent=True,
            )
        except StackStartError as exc:
            raise DemoError(str(exc)) from None
        self.processes.append(process)
        return process

    def wait_ready(self, process: Process, *, path: str | None = None) -> None:
        """Until ``path`` answers (any status), or the port opens when ``path`` is None."""
        try:
            process.wait_ready(path, timeout=START_TIMEOUT, log_lines=LOG_TAIL)
        except StackStartError as exc:
            raise DemoError(str(exc)) from None

    def run(self, name: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """A setup step to its end, its output kept in ``STATE/NAME.log``."""
        done = subprocess.run(
            list(argv),
            cwd=self.state,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        with (self.state / f"{name}.log").open("a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise DemoError(
                f"{' '.join(argv)} exited with {done.returncode}:\n"
                + "\n".join((done.stdout + done.stderr).splitlines()[-LOG_TAIL:])
            )
        return done

    def exited(self) -> Process | None:
        """A process of the stack that is no longer running, if any."""
        return next((p for p in self.processes if p.proc.poll() is not None), None)

    def stop(self) -> list[Process]:
        """Stop every process at once (nothing talks to them any more: each one's graceful
        exit overlaps the others' instead of adding up); returns them, the last started first."""
        from concurrent.futures import ThreadPoolExecutor

        stopping = self.processes[::-1]
        self.processes = []
        if stopping:
            with ThreadPoolExecutor(len(stopping)) as pool:
                list(pool.map(lambda process: process.stop(timeout=STOP_TIMEOUT), stopping))
        return stopping


def wait_for_config(facade_port: int, routes: Path, *, timeout: float = 10) -> bool:
    """Until the facade is ready and serves ``routes`` as it is on disk (its /readyz names the
    file's digest): after a CLI step, the facade has reloaded within a second or two."""
    digest = hashlib.sha256(routes.read_bytes()).hexdigest()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = readyz(facade_port)
        if seen.get("status") == "ready" and seen.get("config", {}).get("sha256") == digest:
            return True
        time.sleep(0.05)
    return False


_LAG = re.compile(r"^strangler_sync_lag_seconds\{([^}]*)\}\s+(\S+)\s*$", re.MULTILINE)


def relay_lag(port: int, *, direction: str = "forward") -> float | None:
    """The relay's lag (the age of its oldest unapplied change) as its /metrics says, or None
    while it does not answer or has not measured yet."""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return lag_in(answer.read().decode(errors="replace"), direction=direction)
    except OSError:
        return None


def lag_in(metrics: str, *, direction: str) -> float | None:
    """``strangler_sync_lag_seconds`` of ``direction`` in a Prometheus text page, or None."""
    for labels, value in _LAG.findall(metrics):
        if f'direction="{direction}"' in labels:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def readyz(port: int) -> dict[str, Any]:
    """The facade's /readyz body (200 or 503), or {} while it does not answer."""
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            body = answer.read()
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
    except OSError:
        return {}
    try:
        seen = json.loads(body)
    except ValueError:
        return {}
    return seen if isinstance(seen, dict) else {}
