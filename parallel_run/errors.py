"""Errors raised by parallel-run experiments.

ExperimentError
 ├── BehaviourError                 the behaviours are wired wrong: no control, two controls,
 │                                  a duplicate candidate name, a coroutine given to run()
 ├── OptionError (ValueError)       an option is out of range; the message quotes the bad value
 └── MismatchError                  raise_on_mismatches=True and a candidate disagreed with the
                                    control; ``result`` holds the whole Result (test suites only)

Exceptions raised *by the behaviours* are never wrapped: the control's reaches the caller as it
was raised, a candidate's is recorded in its Observation.
"""

from __future__ import annotations

import reprlib
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


def _describe(observation: Observation[Any]) -> str:
    if observation.exception is not None:
        return f"raised {observation.exception!r}"
    return f"returned {reprlib.repr(observation.value)}"
