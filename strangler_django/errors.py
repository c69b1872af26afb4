"""Errors of the seams, as the code around a seam sees them.

SeamError (Exception)
 ├── SeamCallFailed      the new implementation's service gave no usable answer
 ├── NotInService        the service holds nothing for this call: the legacy side does
 └── ServiceUnavailable  ``on_failure="error"``: the new side failed and legacy must not run

A new implementation raises ``SeamCallFailed`` or ``NotInService``; ``Seam.run`` turns them
into a legacy call, a ``ServiceUnavailable``, or a ``candidate_error`` observation. Domain
errors (a refused reservation) are the implementation's own exceptions and pass through.
"""

from __future__ import annotations


class SeamError(Exception):
    """The root of the seams' errors."""


class SeamCallFailed(SeamError):
    """A new implementation's service call failed (unreachable, timeout, 5xx, untranslatable);
    never a domain answer such as "insufficient stock", which is the caller's own error."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class NotInService(SeamError):
    """The new side has no state for this call (a reservation made before the seam moved):
    in ``new`` mode the legacy implementation settles it; in an experiment it is recorded."""


class ServiceUnavailable(SeamError):
    """A seam in ``new`` mode with ``on_failure="error"`` whose service failed: a write, where
    running the legacy side instead would split the truth between two databases. The project
    maps it to its own 503."""

    def __init__(self, seam: str, service: str) -> None:
        super().__init__(f"{service} unavailable, please retry")
        self.seam = seam
        self.service = service
