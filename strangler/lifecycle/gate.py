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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facade.config import Mode, Promote


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


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` when the evidence supports the step (or the step needs none)."""

    allowed: bool
    gated: bool
    shortfalls: tuple[str, ...] = ()

    def explain(self, *, capability: str, step: str, promote: Promote, evidence: Evidence) -> str:
        """A plain explanation of a refusal: what is needed, what the store holds."""
        window = format_window(promote.window)
        return "\n".join(
            [
                f"refused: {step} of {capability!r} needs parallel-run evidence the store "
                "does not hold yet.",
                f"  needed, over the last {window}: at least {promote.min_comparisons} "
                f"comparisons, mismatch rate <= {pct(promote.max_mismatch_rate)}, "
                f"candidate error rate <= {pct(promote.max_error_rate)}",
                f"  the store holds: {evidence.comparisons} comparisons, "
                f"{evidence.mismatches} mismatches "
                f"({pct(evidence.mismatch_rate)}), {evidence.candidate_errors} candidate "
                f"errors ({pct(evidence.error_rate)})",
                *(f"  - {s}" for s in self.shortfalls),
                f"Evidence is gathered in shadow mode (`strangler shadow {capability}`; "
                f"`strangler report {capability}` shows it). To go ahead anyway: "
                "--force --reason TEXT (the override is audited).",
            ]
        )


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


def decide(
    promote: Promote,
    evidence: Evidence,
    *,
    from_mode: Mode,
    from_percent: float,
    to_mode: Mode,
    to_percent: float,
) -> Decision:
    """Allow or refuse one step."""
    if not is_gated(
        promote,
        from_mode=from_mode,
        from_percent=from_percent,
        to_mode=to_mode,
        to_percent=to_percent,
    ):
        return Decision(allowed=True, gated=False)
    missing = shortfalls(promote, evidence)
    return Decision(allowed=not missing, gated=True, shortfalls=missing)


@dataclass(frozen=True, slots=True)
class Readiness:
    """The next step of a capability and whether the evidence supports it."""

    next_step: str | None  # shadow | cutover | None (extracted, or no service)
    ready: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"next_step": self.next_step, "ready": self.ready, "text": self.text}


def readiness(mode: Mode, *, has_service: bool, promote: Promote, evidence: Evidence) -> Readiness:
    """``ready to cutover``, ``needs 312 more comparisons``, ``mismatch rate 0.8% > 0.1%``..."""
    if not has_service:
        return Readiness(None, False, "no service: name one under 'service:' first")
    if mode == "extracted":
        return Readiness(None, True, "cut over")
    if mode == "legacy":
        return Readiness("shadow", True, "ready to shadow")
    missing = shortfalls(promote, evidence)
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
