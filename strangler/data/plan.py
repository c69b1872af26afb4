"""What ``strangler data sync CAP`` runs, read from routes.yaml: pure, no database.

A capability's sync has up to two directions: ``forward`` (the monolith's outbox into the
service) and ``back`` (the service's outbox into the monolith, after the service takes
writes). The mode decides which run and who owns the data when both sides changed a key:

    mode        directions                         owner (wins a conflict)
    legacy      none (forward when asked)          the monolith
    shadow      forward                            the monolith
    canary      forward, back (if sync.back)       the monolith
    extracted   forward, back (if sync.back)       the service
    retired     forward                            the service

A retired capability (``strangler retire``) has no way back: its back direction is closed, a
running back relay drains and stops when it reads the file, and ``--direction back`` is refused.

Conflicts are looked for whenever a way back is configured, whatever the mode: after a
rollback the back relay drains what the service changed meanwhile, and those changes must
still lose to fresh monolith writes by the owner rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from acl.data import PluginNotFound, load_attribute
from facade.config.model import Config, Mode

Direction = Literal["forward", "back"]
Side = Literal["legacy", "service"]
DIRECTIONS: tuple[Direction, ...] = ("forward", "back")


class PlanError(ValueError):
    """routes.yaml does not describe a sync that can run; ``loc`` is where (for PATH:LINE)."""

    def __init__(self, message: str, *, loc: tuple[str, ...]) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True, slots=True)
class DirectionPlan:
    """One direction's plugins and outboxes, as routes.yaml names them."""

    direction: Direction
    source: str  # SyncSource plugin
    translate: str  # row translator plugin
    target: str  # SyncTarget plugin
    aggregate: str  # aggregatetype of the source outbox's rows
    target_aggregate: str | None  # the target outbox's aggregatetype (its own changes), if any

    @property
    def source_side(self) -> Side:
        return "legacy" if self.direction == "forward" else "service"

    @property
    def target_side(self) -> Side:
        return "service" if self.direction == "forward" else "legacy"


@dataclass(frozen=True, slots=True)
class SyncPlan:
    capability: str
    mode: Mode
    capture: str  # plugin -> strangler_sync.Capture (spec, the monolith's URL)
    back_outbox: str | None  # plugin -> the service database's URL
    batch_size: int
    retention: float  # seconds
    needed: tuple[Direction, ...]  # what the mode runs
    configured: tuple[Direction, ...]  # what routes.yaml makes possible
    retired: bool = False  # `strangler retire`: the way back is closed for good

    @property
    def closed(self) -> tuple[Direction, ...]:
        """Directions that must not run, even when asked for by name."""
        return ("back",) if self.retired else ()

    @property
    def owner(self) -> Side:
        return "service" if self.mode == "extracted" else "legacy"

    @property
    def looks_for_conflicts(self) -> bool:
        """A way back is configured: the service may have taken writes (now, or before a
        rollback), so both sides may have changed a key."""
        return "back" in self.configured

    def ledger_owner(self, direction: Direction) -> Literal["source", "target"]:
        """Who wins a conflict, as the target's ledger sees it."""
        source: Side = "legacy" if direction == "forward" else "service"
        return "source" if self.owner == source else "target"


def needed_directions(
    mode: Mode, *, has_back: bool, retired: bool = False
) -> tuple[Direction, ...]:
    if retired:
        return ("forward",)
    if mode == "shadow":
        return ("forward",)
    if mode in ("canary", "extracted"):
        return ("forward", "back") if has_back else ("forward",)
    return ()


def plan_for(config: Config, capability: str) -> SyncPlan:
    """The sync plan of ``capability``; ``PlanError`` when routes.yaml gives it none."""
    capabilities = config.routes.capabilities
    if capability not in capabilities:
        known = ", ".join(name for name, c in capabilities.items() if c.data and c.data.sync)
        raise PlanError(
            f"unknown capability {capability!r} (with data.sync: {known or 'none'})", loc=()
        )
    cap = capabilities[capability]
    if cap.data is None:
        raise PlanError(
            f"capability {capability!r} has no 'data:' section (source, translate, target)",
            loc=("capabilities", capability),
        )
    sync = cap.data.sync
    if sync is None:
        raise PlanError(
            f"capabilities.{capability}.data has no 'sync:' section (capture: pkg.module:name)",
            loc=("capabilities", capability, "data"),
        )
    has_back = sync.back is not None
    return SyncPlan(
        capability=capability,
        mode=cap.mode,
        capture=sync.capture,
        back_outbox=sync.back.outbox if sync.back else None,
        batch_size=sync.batch_size or cap.data.batch_size,
        retention=sync.retention,
        needed=needed_directions(cap.mode, has_back=has_back, retired=cap.retired),
        configured=DIRECTIONS if has_back else ("forward",),
        retired=cap.retired,
    )


def direction_plan(config: Config, capability: str, direction: Direction) -> DirectionPlan:
    """The plugins of one direction; ``PlanError`` as ``plan_for``, or when there is no way back."""
    plan_for(config, capability)  # the same checks and messages
    data = config.routes.capabilities[capability].data
    assert data is not None  # plan_for checked
    assert data.sync is not None
    back = data.sync.back
    if direction == "forward":
        return DirectionPlan(
            direction="forward",
            source=data.source,
            translate=data.translate,
            target=data.target,
            aggregate=capability,
            target_aggregate=back.aggregate if back else None,
        )
    if back is None:
        raise PlanError(
            f"capabilities.{capability}.data.sync has no 'back:' section: no way back to run",
            loc=("capabilities", capability, "data", "sync"),
        )
    return DirectionPlan(
        direction="back",
        source=back.source,
        translate=back.translate,
        target=back.target,
        aggregate=back.aggregate,
        target_aggregate=capability,
    )


class PlanReader:
    """The plan of one capability, re-read when routes.yaml's mtime changes (each batch asks):
    ``cutover`` changes the owner within a batch. A file that no longer loads keeps the last
    good plan (a half-saved edit must not stop the sync)."""

    def __init__(self, path: Path, capability: str, load: Callable[[Path], Config]) -> None:
        self._path = path
        self._capability = capability
        self._load = load
        self._mtime = self._stat()
        self.plan = plan_for(load(path), capability)

    def _stat(self) -> int | None:
        try:
            return self._path.stat().st_mtime_ns
        except OSError:
            return None

    def current(self) -> SyncPlan:
        mtime = self._stat()
        if mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            with contextlib.suppress(ValueError, OSError):
                self.plan = plan_for(self._load(self._path), self._capability)
        return self.plan


def resolve_plugin(spec: str) -> object:
    """``pkg.module:name``: the attribute, called when it is a function or class (a factory)."""
    obj = load_attribute(spec)
    if callable(obj):
        try:
            obj = obj()
        except TypeError as exc:
            raise PluginNotFound(
                spec, reason=f"cannot call {spec.partition(':')[2]}(): {exc}"
            ) from exc
    return obj
