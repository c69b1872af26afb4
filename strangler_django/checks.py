"""System checks (``manage.py check``, and every ``migrate``/``runserver``): the seams are usable.

Settings read:

- ``STRANGLER_ROUTES``: the routes.yaml path, or ``None`` to run every seam legacy. Missing,
  unreadable or not loading is an error: an installed app that silently does nothing hides a
  typo until the day a seam should have switched.
- ``STRANGLER_SEAMS`` (optional): the project's seams and what their call sites offer,
  ``{"pricing": {"keys": ["customer"]}, "inventory": {"keys": ["sku"], "stateful": True}}``.
  Given, a seam in routes.yaml that is not declared here is an error (a typo there would
  never run), as is a ``sticky:`` key the call sites do not pass. ``stateful`` seams (a call
  that creates state a later call settles: a reservation, then its release) below 100% need
  ``sticky``, or the two calls may take different sides: a warning.
- ``STRANGLER_CAPTURE`` (optional, the data sync's capture): each entry's model and fields
  exist (``strangler_django.capture``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from facade.config import Config
from strangler_django.capture import configured
from strangler_django.switchboard import SWITCHBOARD, Switchboard

ROUTES_SETTING = "STRANGLER_ROUTES"
SEAMS_SETTING = "STRANGLER_SEAMS"


@dataclass(frozen=True, slots=True)
class Declared:
    """A seam as ``STRANGLER_SEAMS`` declares it."""

    keys: frozenset[str]
    stateful: bool


def declared_seams(raw: object) -> dict[str, Declared]:
    """``STRANGLER_SEAMS`` read; ValueError says what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{SEAMS_SETTING} must be a dict of seam name -> options, not {raw!r}")
    declared: dict[str, Declared] = {}
    for name, options in raw.items():
        if not isinstance(name, str) or not isinstance(options, Mapping):
            raise ValueError(f"{SEAMS_SETTING}[{name!r}] must be a dict such as {{'keys': [...]}}")
        unknown = set(options) - {"keys", "stateful"}
        if unknown:
            raise ValueError(f"{SEAMS_SETTING}[{name!r}]: unknown options {sorted(unknown)}")
        keys = options.get("keys", ())
        if isinstance(keys, str) or not all(isinstance(key, str) for key in keys):
            raise ValueError(f"{SEAMS_SETTING}[{name!r}]['keys'] must be a list of names")
        declared[name] = Declared(frozenset(keys), bool(options.get("stateful", False)))
    return declared


def check_capture(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``STRANGLER_CAPTURE`` (optional) names models and fields that exist: found at start,
    not by the first ``migrate`` or ``strangler_capture`` that reads it."""
    try:
        configured()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint="(model label, key field, [fields])", id="strangler.E008")
        ]
    return []


def check_seams(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The registered check (tag ``strangler``)."""
    return list(problems(SWITCHBOARD))


def problems(board: Switchboard) -> Iterator[checks.CheckMessage]:
    if not hasattr(settings, ROUTES_SETTING):
        yield checks.Error(
            f"{ROUTES_SETTING} is not set",
            hint=f"set {ROUTES_SETTING} to your routes.yaml path, or to None to run every seam "
            "on its legacy implementation",
            id="strangler.E001",
        )
        return
    configured = getattr(settings, ROUTES_SETTING)
    if configured is None:
        return  # seams off, on purpose
    if not isinstance(configured, str | os.PathLike):
        yield checks.Error(
            f"{ROUTES_SETTING} must be a path, not {configured!r}", id="strangler.E001"
        )
        return
    path = Path(configured)
    if not path.is_file() or not os.access(path, os.R_OK):
        yield checks.Error(
            f"{ROUTES_SETTING}: {path} is not a readable file",
            hint="create it (strangler init) or point the setting at it",
            id="strangler.E002",
        )
        return
    config = board.current()
    if board.last_error is not None:
        yield checks.Error(
            f"{ROUTES_SETTING}: {path} does not load: {board.last_error}",
            hint="fix it; until then the seams keep their last good settings (legacy at start)",
            id="strangler.E003",
        )
    if config is not None:
        yield from _seam_problems(config)


def _seam_problems(config: Config) -> Iterator[checks.CheckMessage]:
    raw = getattr(settings, SEAMS_SETTING, None)
    declared: dict[str, Declared] | None = None
    if raw is not None:
        try:
            declared = declared_seams(raw)
        except ValueError as exc:
            yield checks.Error(str(exc), id="strangler.E007")
    for name, seam in config.routes.seams.items():
        where = f"{config.source}: seams.{name}"
        if declared is not None and name not in declared:
            yield checks.Error(
                f"{where}: {name!r} is not a seam of this project",
                hint=f"declared in {SEAMS_SETTING}: {', '.join(sorted(declared)) or 'none'}",
                id="strangler.E004",
            )
            continue
        if seam.implementation != "legacy" and seam.service is None:
            yield checks.Error(
                f"{where}: {seam.implementation} but names no service",
                hint="add service: <a name under services:>",
                id="strangler.E005",
            )
        if declared is None:
            continue
        offered = declared[name]
        if seam.sticky is not None and seam.sticky not in offered.keys:
            yield checks.Error(
                f"{where}: sticky {seam.sticky!r} is not a key its calls offer",
                hint=f"one of: {', '.join(sorted(offered.keys)) or 'none declared'}",
                id="strangler.E006",
            )
        partial = seam.implementation != "legacy" and 0 < seam.percent < 100
        if offered.stateful and partial and seam.sticky is None:
            keys = sorted(offered.keys)
            yield checks.Warning(
                f"{where}: at {seam.percent:g}% each call draws apart: state made on one side "
                "may be settled on the other",
                hint=f"add sticky: {keys[0]}" if keys else "add sticky: <a key>",
                id="strangler.W001",
            )
