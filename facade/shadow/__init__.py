"""Shadow mode: the candidate service gets the same request in the background, off the
request path, and both answers are compared and recorded.

The client's answer never waits for any of this. Two halves, each counting what it has to drop
rather than ever blocking a request:

- ``caller``: the event loop's side. Admission (in-flight limit per service), the candidate and
  twin calls through lean pools, the hand-off (``handoff``: bounded in count and bytes).
- ``worker``: the compare thread. Classify (``parallel_run.observe``), metrics, the recorder
  of the ``store:`` in force (``store``), the noise trackers and their timely flush.

``job`` holds what a request hands over and the bounds; ``runner`` wires the halves together.
"""

from __future__ import annotations

from facade.shadow.job import (
    CLOSE_WAIT,
    COMPARE_QUEUE,
    COMPARE_QUEUE_BYTES,
    MAX_IN_FLIGHT,
    MAX_SHADOW_BODY,
    READ_LIMIT,
    SHADOW_HEADER,
    SHADOWED_METHODS,
    TWIN_TARGET,
    Compared,
    ShadowJob,
    answer_size,
    wants_shadow,
)
from facade.shadow.runner import ShadowRunner
from facade.shadow.worker import NOISE_FLUSH_INTERVAL, QUIET_FLUSH

__all__ = [
    "CLOSE_WAIT",
    "COMPARE_QUEUE",
    "COMPARE_QUEUE_BYTES",
    "MAX_IN_FLIGHT",
    "MAX_SHADOW_BODY",
    "NOISE_FLUSH_INTERVAL",
    "QUIET_FLUSH",
    "READ_LIMIT",
    "SHADOWED_METHODS",
    "SHADOW_HEADER",
    "TWIN_TARGET",
    "Compared",
    "ShadowJob",
    "ShadowRunner",
    "answer_size",
    "wants_shadow",
]
