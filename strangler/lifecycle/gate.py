"""The evidence gate: may a capability move to a step where the service serves more traffic?

Pure: the counts come in (``Evidence``, from the result store), a ``Decision`` comes out.
A step is gated when the share of requests the service would serve grows past
``promote.ungated_canary_percent``: ``cutover`` always, ``canary`` above that percent. Moving
back (``rollback``, a smaller canary) is never gated. The gate passes when the store holds at
least ``promote.min_comparisons`` judged comparisons in ``promote.window`` with a mismatch
rate and a candidate error rate at or under ``max_mismatch_rate`` and ``max_error_rate``.

Rates here are over judged comparisons (matches, mismatches, candidate errors; ``ignored``
ones are left out), with mismatches and candidate errors counted apart: a slow candidate is
not a wrong one. ``strangler report``'s rate counts both together.

A capability with ``data.sync`` must also have its data in step (``SyncEvidence``, from the
relays' heartbeats and ``data verify`` results in the store): a gated step is refused while the
forward relay is not running or lags more than ``promote.max_sync_lag``, capture is not
installed, rows are parked, or the latest ``data verify`` was not clean (or none was recorded).
A service that serves traffic from a stale copy gives wrong answers, however clean the
comparisons were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facade.config import Mode, Promote
from strangler.data.plan import needed_directions


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the parallel run recorded for one capability over ``window`` seconds."""

    window: float
    comparisons: int = 0  # judged: matches + mismatches + candidate errors
    mismatches: int = 0
    candidate_errors: int = 0

    @property
    def mismatch_rate(self) -> float | None:
        return self.mismatches / self.comparisons if self.comparisons else None

    @property
    def error_rate(self) -> float | None:
        return self.candidate_errors / self.comparisons if self.comparisons else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": format_window(self.window),
            "window_seconds": self.window,
            "comparisons": self.comparisons,
            "mismatches": self.mismatches,
            "candidate_errors": self.candidate_errors,
            "mismatch_rate": self.mismatch_rate,
            "error_rate": self.error_rate,
        }


HEARTBEAT_STALE = 10.0
"""Seconds after which a relay's last heartbeat no longer vouches for its lag (it beats every
2 s): the relay is taken as not running and the lag as unknown."""


@dataclass(frozen=True, slots=True)
class DirectionHealth:
    """One sync direction (``forward``: monolith to service; ``back``: the way back) as its
    newest relay heartbeat reported it, ``heartbeat_age`` seconds ago."""

    direction: str
    lag_seconds: float
    heartbeat_age: float
    pending: int = 0
    parked: int = 0
    conflicts: int = 0
    capture_state: str = "installed"  # installed | missing | drifted | absent
    last_error: str | None = None

    @property
    def running(self) -> bool:
        return self.heartbeat_age <= HEARTBEAT_STALE

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "lag_seconds": self.lag_seconds,
            "pending": self.pending,
            "parked": self.parked,
            "conflicts": self.conflicts,
            "last_error": self.last_error,
            "heartbeat_age_s": self.heartbeat_age,
            "running": self.running,
            "capture": self.capture_state,
        }


@dataclass(frozen=True, slots=True)
class VerifyState:
    """The latest ``strangler data verify`` of the capability."""

    at: datetime
    equal: bool
    counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "equal": self.equal, "counts": dict(self.counts)}


@dataclass(frozen=True, slots=True)
class SyncEvidence:
    """The data sync of one capability; ``required`` when it has ``data.sync``. ``directions``
    holds one entry per direction a relay has reported (none: no relay ever ran)."""

    capability: str
    required: bool
    directions: tuple[DirectionHealth, ...] = ()
    verify: VerifyState | None = None
    has_back: bool = False  # sync.back is configured

    def direction(self, name: str) -> DirectionHealth | None:
        return next((d for d in self.directions if d.direction == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directions": [d.to_dict() for d in self.directions],
            "verify": None if self.verify is None else self.verify.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` when the evidence supports the step (or the step needs none).
    ``shortfalls`` lists what is missing, the parallel run's first, then the data sync's;
    ``sync_shortfalls`` is how many of them (at the end) are about the data sync."""

    allowed: bool
    gated: bool
    shortfalls: tuple[str, ...] = ()
    sync_shortfalls: int = 0

    def explain(self, *, capability: str, step: str, promote: Promote, evidence: Evidence) -> str:
        """A plain explanation of a refusal: what is needed, what the store holds; a second
        paragraph, "data sync", when the capability's data is not in step."""
        split = len(self.shortfalls) - self.sync_shortfalls
        comparing, syncing = self.shortfalls[:split], self.shortfalls[split:]
        window = format_window(promote.window)
        lines = []
        if comparing or not syncing:
            lines += [
                f"refused: {step} of {capability!r} needs parallel-run evidence the store "
                "does not hold yet.",
                f"  needed, over the last {window}: at least {promote.min_comparisons} "
                f"comparisons, mismatch rate <= {pct(promote.max_mismatch_rate)}, "
                f"candidate error rate <= {pct(promote.max_error_rate)}",
                f"  the store holds: {evidence.comparisons} comparisons, "
                f"{evidence.mismatches} mismatches "
                f"({pct(evidence.mismatch_rate)}), {evidence.candidate_errors} candidate "
                f"errors ({pct(evidence.error_rate)})",
                *(f"  - {s}" for s in comparing),
            ]
        else:
            lines.append(f"refused: {step} of {capability!r} while its data is not in step.")
        if syncing:
            lines += [
                f"data sync: needed: the relay running with a lag <= "
                f"{format_window(promote.max_sync_lag)}, capture installed, no parked rows, "
                "and a clean `strangler data verify`",
                *(f"  - {s}" for s in syncing),
            ]
        hint = (
            f"Evidence is gathered in shadow mode (`strangler shadow {capability}`; "
            f"`strangler report {capability}` shows it). "
            if comparing or not syncing
            else ""
        )
        lines.append(f"{hint}To go ahead anyway: --force --reason TEXT (the override is audited).")
        return "\n".join(lines)


def exposure(mode: Mode | None, percent: float) -> float:
    """The share of the capability's requests the service serves, in percent."""
    if mode == "extracted":
        return 100.0
    if mode == "canary":
        return percent
    return 0.0


def is_gated(
    promote: Promote, *, from_mode: Mode, from_percent: float, to_mode: Mode, to_percent: float
) -> bool:
    """Whether the step grows the service's share past the ungated canary percent."""
    before = exposure(from_mode, from_percent)
    after = exposure(to_mode, to_percent)
    return after > before and after > promote.ungated_canary_percent


def shortfalls(promote: Promote, evidence: Evidence) -> tuple[str, ...]:
    """What the evidence lacks, one plain sentence each; empty when it is enough."""
    found = []
    missing = promote.min_comparisons - evidence.comparisons
    if missing > 0:
        found.append(f"needs {missing} more comparisons")
    rate = evidence.mismatch_rate
    if rate is not None and rate > promote.max_mismatch_rate:
        found.append(f"mismatch rate {pct(rate)} > {pct(promote.max_mismatch_rate)}")
    errors = evidence.error_rate
    if errors is not None and errors > promote.max_error_rate:
        found.append(f"candidate error rate {pct(errors)} > {pct(promote.max_error_rate)}")
    return tuple(found)


def judged_directions(sync: SyncEvidence, *, from_mode: Mode, to_mode: Mode) -> set[str]:
    """The directions a step from ``from_mode`` to ``to_mode`` depends on: those the target
    mode runs (the plan's rule). The way back only when the current mode runs it too: it
    starts with the step that lets the service take writes, and a back relay stopped by a
    rollback must not keep its old heartbeat in the way."""
    after: set[str] = set(needed_directions(to_mode, has_back=sync.has_back))
    return after & ({"forward"} | set(needed_directions(from_mode, has_back=sync.has_back)))


def sync_shortfalls(
    promote: Promote,
    sync: SyncEvidence | None,
    *,
    step: tuple[Mode, Mode] | None = None,
) -> tuple[str, ...]:
    """What keeps the capability's data from being in step, one sentence each naming what to
    run; empty when it is, or when the capability has no ``data.sync``. ``step`` (from mode,
    to mode) limits the relays judged to those the step depends on; without it, every one
    that reported."""
    if sync is None or not sync.required:
        return ()
    cap = sync.capability
    found: list[str] = []
    judged = (
        {d.direction for d in sync.directions} | {"forward"}
        if step is None
        else judged_directions(sync, from_mode=step[0], to_mode=step[1])
    )
    forward = sync.direction("forward")
    if forward is None and "forward" in judged:
        found.append(f"no sync relay has reported for forward (run: strangler data sync {cap})")
    for health in sync.directions:
        if health.direction in judged:
            found += _direction_shortfalls(promote, cap, health)
    verify = sync.verify
    if verify is None:
        found.append(f"no data verify recorded (run: strangler data verify {cap})")
    elif not verify.equal:
        when = verify.at.strftime("%Y-%m-%d %H:%M UTC")
        found.append(
            f"the latest data verify ({when}) found {_verify_problems(verify.counts)} "
            f"(run: strangler data verify {cap} once the sync has caught up)"
        )
    return tuple(found)


_CAPTURE = {
    "absent": "capture not installed",
    "missing": "capture triggers missing",
    "drifted": "capture triggers differ from the capture spec",
}


def _direction_shortfalls(promote: Promote, cap: str, health: DirectionHealth) -> list[str]:
    found = []
    name = health.direction
    if not health.running:
        found.append(
            f"relay not running for {name}: last heartbeat {health.heartbeat_age:.0f}s ago, "
            f"lag unknown (run: strangler data sync {cap})"
        )
    elif health.lag_seconds > promote.max_sync_lag:
        found.append(
            f"sync lag {health.lag_seconds:.1f}s > promote.max_sync_lag "
            f"{format_window(promote.max_sync_lag)} ({name}; strangler data status {cap})"
        )
    if health.capture_state in _CAPTURE:
        found.append(
            f"{_CAPTURE[health.capture_state]} for {name} (run: strangler data capture {cap})"
        )
    if health.parked:
        rows = "row" if health.parked == 1 else "rows"
        found.append(
            f"{health.parked} {rows} parked for {name} (strangler data status {cap}; "
            f"strangler data sync {cap} --retry-parked)"
        )
    return found


def _verify_problems(counts: Mapping[str, int]) -> str:
    kinds = ("different", "missing", "extra", "untranslatable", "unreadable")
    found = [f"{counts[k]} {k}" for k in kinds if counts.get(k)]
    return (", ".join(found) + " rows") if found else "differences"


def decide(
    promote: Promote,
    evidence: Evidence,
    *,
    from_mode: Mode,
    from_percent: float,
    to_mode: Mode,
    to_percent: float,
    sync: SyncEvidence | None = None,
) -> Decision:
    """Allow or refuse one step; ``sync`` is checked for capabilities with ``data.sync``."""
    if not is_gated(
        promote,
        from_mode=from_mode,
        from_percent=from_percent,
        to_mode=to_mode,
        to_percent=to_percent,
    ):
        return Decision(allowed=True, gated=False)
    syncing = sync_shortfalls(promote, sync, step=(from_mode, to_mode))
    missing = shortfalls(promote, evidence) + syncing
    return Decision(
        allowed=not missing, gated=True, shortfalls=missing, sync_shortfalls=len(syncing)
    )


@dataclass(frozen=True, slots=True)
class Readiness:
    """The next step of a capability and whether the evidence supports it."""

    next_step: str | None  # shadow | cutover | None (extracted, or no service)
    ready: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"next_step": self.next_step, "ready": self.ready, "text": self.text}


def readiness(
    mode: Mode,
    *,
    has_service: bool,
    promote: Promote,
    evidence: Evidence,
    sync: SyncEvidence | None = None,
) -> Readiness:
    """``ready to cutover``, ``needs 312 more comparisons``, ``mismatch rate 0.8% > 0.1%``,
    ``3 rows parked for forward (...)``..."""
    if not has_service:
        return Readiness(None, False, "no service: name one under 'service:' first")
    if mode == "extracted":
        return Readiness(None, True, "cut over")
    if mode == "legacy":
        return Readiness("shadow", True, "ready to shadow")
    syncing = sync_shortfalls(promote, sync, step=(mode, "extracted"))
    missing = shortfalls(promote, evidence) + syncing
    if missing:
        return Readiness("cutover", False, "; ".join(missing))
    return Readiness("cutover", True, "ready to cutover")


def pct(rate: float | None) -> str:
    """0.008 -> ``0.8%``; None -> ``-``."""
    if rate is None:
        return "-"
    return f"{rate * 100:.3g}%"


def format_window(seconds: float) -> str:
    """86400 -> ``24h``; 604800 -> ``7d``; 1800 -> ``30m``; 90 -> ``90s``."""
    if seconds > 2 * 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
