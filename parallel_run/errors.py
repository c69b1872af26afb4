"""Errors raised by parallel-run experiments.

ExperimentError
 ├── BehaviourError                 the behaviours are wired wrong: no control, two controls,
 │                                  a duplicate candidate name, a coroutine given to run()
 ├── OptionError (ValueError)       an option is out of range; the message quotes the bad value
 ├── MismatchError                  raise_on_mismatches=True and a candidate disagreed with the
 │                                  control; ``result`` holds the whole Result (test suites only)
 ├── RecordExtraMissing             mitmproxy flow files without the extra strangler[record]
 └── TrafficFileError (ValueError)  a recording (flows, HAR, .gor) is damaged: where reading
                                    stopped, why, and how many entries came before

Exceptions raised *by the behaviours* are never wrapped: the control's reaches the caller as it
was raised, a candidate's is recorded in its Observation.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parallel_run.experiment import Observation, Result


class ExperimentError(Exception):
    """Root of every error parallel_run raises on purpose."""


class BehaviourError(ExperimentError):
    """The experiment's behaviours cannot be run as registered; the message says what to change."""


class OptionError(ExperimentError, ValueError):
    """An experiment option is out of range."""


class MismatchError(ExperimentError):
    """A candidate disagreed with the control and the experiment raises on mismatches.

    Raised after the result was published, instead of the control's value or exception.
    """

    def __init__(self, result: Result[Any]) -> None:
        self.result = result
        lines = [
            f"experiment {result.name!r}: {len(result.mismatched)} candidate(s) disagreed"
            " with the control",
            f"  control: {_describe(result.control)}",
            *(f"  {candidate.name}: {_describe(candidate)}" for candidate in result.mismatched),
        ]
        super().__init__("\n".join(lines))


class RecordExtraMissing(ExperimentError):
    """mitmproxy, the optional extra ``strangler[record]``, is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "mitmproxy flow files need the optional extra: install strangler[record]"
            " (pip install 'strangler[record]')"
        )


class TrafficFileError(ExperimentError, ValueError):
    """A recording is damaged or unreadable; ``where`` says where reading stopped.

    ``read`` entries came before the damage (and were handed out before this was raised).
    """

    def __init__(self, path: Path, *, where: str, reason: str, read: int) -> None:
        self.path, self.where, self.reason, self.read = path, where, reason, read
        super().__init__(f"{path}: reading stopped at {where}: {reason} ({read} entries read)")


def _describe(observation: Observation[Any]) -> str:
    if observation.exception is not None:
        return f"raised {observation.exception!r}"
    return f"returned {reprlib.repr(observation.value)}"
