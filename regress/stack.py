"""A real stack on free ports: the monolith, the services the stack file names, and the facade
(``strangler serve``) in front of them, with a copy of routes.yaml pointing at them.

The copy lives in the stack's own directory, with the ports filled in, a SQLite result store of
its own, ``debug_headers: true`` (answers say who served them) and any mode overrides; the
original file is never touched. ``set_modes()`` edits the copy and waits until the facade
serves it. Every process is stopped by its pid, in reverse order, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, get_args

from ruamel.yaml import YAML

from facade import config as config_module
from facade.config import ConfigError
from regress import processes, stackfile
from regress.errors import StackFileError, StackStartError
from regress.processes import Process, free_port
from regress.stackfile import ProcessSpec, StackFile

Mode = Literal["legacy", "shadow", "canary", "extracted"]
MODES: tuple[Mode, ...] = get_args(Mode)
ALL = "*"


@dataclass(frozen=True, slots=True)
class ModeOverride:
    mode: Mode
    percent: float | None = None  # canary only; None keeps routes.yaml's canary.percent


def parse_mode(text: str) -> tuple[str, ModeOverride]:
    """``extracted`` (every capability with a service), ``CAP=shadow``, ``CAP=canary:50``."""
    capability, _, spec = text.rpartition("=")
    mode, _, percent = spec.partition(":")
    if mode not in MODES:
        raise ValueError(f"{text!r}: mode must be one of {', '.join(MODES)}")
    if percent and mode != "canary":
        raise ValueError(f"{text!r}: only canary takes a percent (canary:50)")
    value: float | None = None
    if percent:
        try:
            value = float(percent)
        except ValueError:
            raise ValueError(f"{text!r}: {percent!r} is not a percent") from None
        if not 0 <= value <= 100:
            raise ValueError(f"{text!r}: the percent must be between 0 and 100")
    return capability or ALL, ModeOverride(mode, value)


def parse_modes(texts: Sequence[str]) -> dict[str, ModeOverride]:
    return dict(parse_mode(text) for text in texts)


def as_overrides(modes: Mapping[str, str | ModeOverride]) -> dict[str, ModeOverride]:
    """``{"product-catalog": "canary:50"}`` (or ModeOverride values) as overrides."""
    found: dict[str, ModeOverride] = {}
    for name, value in modes.items():
        found[name] = value if isinstance(value, ModeOverride) else parse_mode(value)[1]
    return found


class Stack:
    """Start with ``with Stack(...) as stack:`` (or ``start()`` / ``stop()``)."""

    def __init__(
        self,
        routes: Path,
        spec: StackFile,
        *,
        state_dir: Path,
        modes: Mapping[str, str | ModeOverride] | None = None,
    ) -> None:
        self.source = routes
        self.spec = spec
        self.state_dir = state_dir
        self.routes_path = state_dir / "routes.yaml"
        self.modes = as_overrides(modes or {})
        self.processes: list[Process] = []
        self.monolith: Process | None = None
        self.services: dict[str, Process] = {}
        self.facade: Process | None = None

    # what callers use ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The facade's URL: what clients talk to."""
        assert self.facade is not None, "the stack is not started"
        return self.facade.url

    @property
    def monolith_url(self) -> str:
        assert self.monolith is not None, "the stack is not started"
        return self.monolith.url

    def environment(self) -> dict[str, str]:
        """The environment the stack's processes run with (its databases, its routes.yaml):
        for a ``strangler data`` verb or relay run beside the stack on the same data."""
        return self._env(self._values(0), "strangler")

    def config(self) -> config_module.Config:
        """The stack's routes.yaml as it is now (the CLI may have edited it)."""
        return config_module.load(self.routes_path)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            config = config_module.load(self.source)
        except ConfigError as exc:
            raise StackFileError(str(exc)) from None
        services = self._services_to_start(config)
        ports = {name: free_port() for name in ["monolith", *services, "facade"]}
        self._write_routes(config, ports, services)
        try:
            self.monolith = self._launch(self.spec.monolith, ports["monolith"])
            for name in services:
                self.services[name] = self._launch(self.spec.services[name], ports[name])
            facade = self.spec.facade or ProcessSpec(
                "facade",
                (_strangler(), "serve", "--routes", "{routes}", "--port", "{port}"),
                ready="/healthz",
            )
            self.facade = self._launch(facade, ports["facade"])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process by pid, the facade first."""
        while self.processes:
            self.processes.pop().stop()

    def set_modes(self, modes: Mapping[str, str | ModeOverride], *, timeout: float = 10) -> None:
        """Change modes in the stack's routes.yaml and wait until the facade serves them:
        ``set_modes({"product-catalog": "canary:50"})``."""
        overrides = as_overrides(modes)
        self.modes.update(overrides)
        config = self.config()
        tree = _load_tree(self.routes_path)
        _apply_modes(tree, config, overrides, known=set(self.services), stack=self.spec.path)
        _dump_tree(tree, self.routes_path)
        self.wait_for_config(timeout=timeout)

    def wait_for_config(self, *, timeout: float = 10) -> None:
        """Wait until the facade serves routes.yaml as it is on disk (it reloads by itself)."""
        digest = hashlib.sha256(self.routes_path.read_bytes()).hexdigest()
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            seen = _readyz(self.url)
            if seen is not None and seen.get("config", {}).get("sha256") == digest:
                return
            time.sleep(0.05)
        raise StackStartError(
            f"the facade did not load {self.routes_path} within {timeout}s; /readyz: {seen}"
        )

    # starting ------------------------------------------------------------------------------

    def _services_to_start(self, config: config_module.Config) -> list[str]:
        """Every service of the stack file that routes.yaml declares, in the file's order."""
        declared = config.routes.services
        for name in self.spec.services:
            if name not in declared:
                raise StackFileError(
                    f"{self.spec.path}: [services.{name}] is not a service of {self.source} "
                    f"(its services: {', '.join(declared) or 'none'})"
                )
        return list(self.spec.services)

    def _write_routes(
        self, config: config_module.Config, ports: Mapping[str, int], services: list[str]
    ) -> None:
        tree = _load_tree(self.source)
        tree["legacy"]["url"] = f"http://127.0.0.1:{ports['monolith']}"
        if config.inventory is not None:  # named relative to the team's routes.yaml
            tree["legacy"]["endpoints"] = config.inventory.source
        for name in services:
            tree["services"][name]["url"] = f"http://127.0.0.1:{ports[name]}"
        # evidence of test runs never lands in the team's real store
        tree.setdefault("store", {})["url"] = f"sqlite:///{self.state_dir / 'strangler.db'}"
        tree["debug_headers"] = True
        _apply_modes(tree, config, self.modes, known=set(services), stack=self.spec.path)
        _dump_tree(tree, self.routes_path)

    def _values(self, port: int) -> dict[str, str]:
        values = stackfile.base_values(self.spec)
        values |= {
            "port": str(port),
            "state": str(self.state_dir),
            "routes": str(self.routes_path),
            "monolith_url": self.monolith.url if self.monolith else "",
        }
        return values

    def _env(self, values: Mapping[str, str], name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in self.spec.drop_env}
        env |= {"PYTHONUNBUFFERED": "1", "STRANGLER_ROUTES": str(self.routes_path)}
        for key, value in self.spec.env.items():
            env[key] = stackfile.expand(value, values, where=f"{self.spec.path}: env.{key}")
        return env

    def _launch(self, spec: ProcessSpec, port: int) -> Process:
        values = self._values(port)
        where = f"{self.spec.path}: {spec.name}"
        env = self._env(values, spec.name)
        log_path = self.state_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            for index, step in enumerate(spec.setup):
                argv = [stackfile.expand(a, values, where=f"{where}.setup[{index}]") for a in step]
                log.write(f"$ {' '.join(argv)}\n".encode())
                log.flush()
                done = subprocess.run(
                    argv,
                    cwd=self.spec.root,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
                if done.returncode != 0:
                    raise StackStartError(
                        f"{spec.name}: setup step {' '.join(argv)} exited with "
                        f"{done.returncode}; its log {log_path}:\n{processes.tail(log_path)}"
                    )
        argv = [stackfile.expand(a, values, where=f"{where}.command") for a in spec.command]
        process = processes.start(
            spec.name,
            argv,
            port=port,
            log_path=log_path,
            cwd=self.spec.root,
            env=env,
            append=True,  # after the setup steps' output
        )
        self.processes.append(process)
        process.wait_ready(spec.ready, timeout=self.spec.start_timeout)
        return process


def _strangler() -> str:
    """The ``strangler`` command beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "strangler"
    return str(beside) if beside.exists() else (shutil.which("strangler") or "strangler")


def _apply_modes(
    tree: Any,
    config: config_module.Config,
    modes: Mapping[str, ModeOverride],
    *,
    known: set[str],
    stack: Path,
) -> None:
    capabilities = config.routes.capabilities
    for name, override in modes.items():
        if name != ALL and name not in capabilities:
            raise StackFileError(
                f"mode override {name}={override.mode}: no such capability in routes.yaml "
                f"(known: {', '.join(capabilities)})"
            )
    for name, capability in capabilities.items():
        chosen = modes.get(name) or modes.get(ALL)
        if chosen is None:
            continue
        override = chosen
        if capability.service is None:
            if name in modes:
                raise StackFileError(
                    f"{name}: mode {override.mode} needs a 'service' in routes.yaml"
                )
            continue  # "every capability" means every one that can move
        if override.mode != "legacy" and capability.service not in known:
            if name not in modes:
                continue  # "every capability" means every one whose service the stack starts
            raise StackFileError(
                f"{name}: mode {override.mode} calls service {capability.service!r}, which "
                f"{stack} does not start (add [services.{capability.service}])"
            )
        entry = tree["capabilities"][name]
        entry["mode"] = override.mode
        if override.percent is not None:
            canary = entry.get("canary")
            if canary is None:
                entry["canary"] = {"percent": override.percent}
            else:
                canary["percent"] = override.percent


def _load_tree(path: Path) -> Any:
    return YAML(typ="rt").load(path.read_text(encoding="utf-8"))


def _dump_tree(tree: Any, path: Path) -> None:
    buffer = io.StringIO()
    YAML(typ="rt").dump(tree, buffer)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(temporary, path)  # the facade's watcher never reads half a file


def _readyz(url: str) -> Any:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return json.loads(error.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return None
