"""Parallel runs: the legacy path and its replacements side by side, compared, published.

A library of its own: it imports nothing from the facade, the ACL or the services.
"""

from parallel_run.errors import BehaviourError, ExperimentError, MismatchError, OptionError
from parallel_run.experiment import Experiment, Observation, OperationFailure, Result, science
from parallel_run.publish import StorePublisher

__all__ = [
    "BehaviourError",
    "Experiment",
    "ExperimentError",
    "MismatchError",
    "Observation",
    "OperationFailure",
    "OptionError",
    "Result",
    "StorePublisher",
    "science",
]
