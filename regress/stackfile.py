"""The stack file: how a team's monolith and services are started for regression tests.

A small TOML file (default ``strangler-stack.toml`` beside routes.yaml)::

    [env]                       # every command sees these (placeholders allowed)
    STRANGLER_LEGACY_DB = "{state}/legacy.sqlite3"

    [monolith]
    setup = [["{python}", "-m", "shop", "migrate"]]     # run in order before it starts
    command = ["{bin}/gunicorn", "shop.wsgi", "--bind", "127.0.0.1:{port}"]
    ready = "/"                                          # GET answered (any status) = up

    [services.catalog]                                   # a name of routes.yaml's services:
    setup = [["{bin}/strangler", "data", "copy", "product-catalog", "--routes", "{routes}"]]
    command = ["{python}", "-m", "catalog", "--port", "{port}"]
    ready = "/healthz"

Placeholders: ``{port}`` (this process's free port), ``{state}`` (the stack's own temporary
directory), ``{routes}`` (the stack's copy of routes.yaml), ``{monolith_url}``, ``{python}``
(this interpreter), ``{bin}`` (its scripts directory), ``{root}`` (the stack file's directory,
also every command's working directory). ``{{`` is a literal brace. Pure: no process is started
here.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regress.errors import StackFileError

DEFAULT_NAME = "strangler-stack.toml"
PLACEHOLDERS = ("port", "state", "routes", "monolith_url", "python", "bin", "root")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process: commands run before it starts, its command, and the path that says it is
    up (None: an open TCP port is enough)."""

    name: str
    command: tuple[str, ...]
    setup: tuple[tuple[str, ...], ...] = ()
    ready: str | None = "/"


@dataclass(frozen=True, slots=True)
class StackFile:
    path: Path
    monolith: ProcessSpec
    services: Mapping[str, ProcessSpec] = field(default_factory=dict)
    facade: ProcessSpec | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    drop_env: tuple[str, ...] = ()
    start_timeout: float = 60.0

    @property
    def root(self) -> Path:
        return self.path.parent


def expand(text: str, values: Mapping[str, str], *, where: str) -> str:
    """``text`` with its placeholders filled; an unknown one is a StackFileError."""
    try:
        return text.format_map(values)
    except KeyError as exc:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise StackFileError(
            f"{where}: unknown placeholder {{{exc.args[0]}}} (known: {known})"
        ) from None
    except (ValueError, IndexError) as exc:
        raise StackFileError(
            f"{where}: {exc} in {text!r} (write {{{{ for a literal brace)"
        ) from None


def base_values(stack: StackFile) -> dict[str, str]:
    return {
        "python": sys.executable,
        "bin": str(Path(sys.executable).parent),
        "root": str(stack.root),
    }


def load(path: Path) -> StackFile:
    """Read and check a stack file; every error names the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(
            f"{path}: no stack file (it says how to start the monolith and services: "
            "see docs/regress.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"{path}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StackFileError(f"{path}: not TOML: {exc}") from None
    known = {"monolith", "services", "facade", "env", "stack"}
    if unknown := sorted(set(raw) - known):
        raise StackFileError(
            f"{path}: unknown table(s) {', '.join(unknown)} (known: {sorted(known)})"
        )
    if "monolith" not in raw:
        raise StackFileError(f"{path}: [monolith] is required: how the monolith starts")
    services_raw = _table(raw.get("services", {}), f"{path}: [services]")
    options = _table(raw.get("stack", {}), f"{path}: [stack]")
    env = _table(raw.get("env", {}), f"{path}: [env]")
    for key, value in env.items():
        if not isinstance(value, str):
            raise StackFileError(f"{path}: env.{key} must be a string, not {value!r}")
    timeout = options.get("start_timeout", 60)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise StackFileError(f"{path}: stack.start_timeout must be seconds > 0, not {timeout!r}")
    return StackFile(
        path=path.resolve(),
        monolith=_process("monolith", raw["monolith"], f"{path}: [monolith]"),
        services={
            name: _process(name, spec, f"{path}: [services.{name}]")
            for name, spec in services_raw.items()
        },
        facade=_process("facade", raw["facade"], f"{path}: [facade]") if "facade" in raw else None,
        env=dict(env),
        drop_env=tuple(_strings(options.get("drop_env", []), f"{path}: stack.drop_env")),
        start_timeout=float(timeout),
    )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StackFileError(f"{where} must be a table")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise StackFileError(f"{where} must be a list of strings")
    return value


def _process(name: str, raw: Any, where: str) -> ProcessSpec:
    table = _table(raw, where)
    if unknown := sorted(set(table) - {"command", "setup", "ready"}):
        raise StackFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if "command" not in table:
        raise StackFileError(f"{where}: 'command' is required (a list: program and arguments)")
    command = _strings(table["command"], f"{where}.command")
    if not command:
        raise StackFileError(f"{where}.command is empty")
    setup = table.get("setup", [])
    if not isinstance(setup, list):
        raise StackFileError(f"{where}.setup must be a list of commands")
    steps = tuple(tuple(_strings(step, f"{where}.setup[{i}]")) for i, step in enumerate(setup))
    ready = table.get("ready", "/")
    if not isinstance(ready, str):
        raise StackFileError(
            f"{where}.ready must be a path such as '/healthz', or '' for a TCP check"
        )
    return ProcessSpec(name, tuple(command), steps, ready or None)
