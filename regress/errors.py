"""Errors raised by the regression tooling.

RegressError
 ├── StackFileError (ValueError)    the stack file cannot be used: ``PATH: message``
 ├── StackStartError                a process of the stack did not start; the message ends
 │                                  with the tail of its log
 └── CorpusError (ValueError)       a corpus file or its ``corpus.yaml`` cannot be used
"""

from __future__ import annotations


class RegressError(Exception):
    """Root of every error the regression tooling raises on purpose."""


class StackFileError(RegressError, ValueError):
    """The stack file is missing, not TOML, or names something it cannot start."""


class StackStartError(RegressError):
    """A process of the stack exited or did not answer in time."""


class CorpusError(RegressError, ValueError):
    """A corpus directory, recording or ``corpus.yaml`` cannot be used."""
