"""Breaker states read back from the facade's ``/metrics`` text (for ``strangler status``).

Pure, and light to import (the CLI must start fast): a few lines of parsing rather than
prometheus_client's parser, for the one gauge it needs.
"""

from __future__ import annotations

import re
from collections import Counter

# keep in step with facade.metrics.BREAKER_STATE and facade.resilience.breaker.STATE_VALUES
BREAKER_STATE = "strangler_breaker_state"
STATE_NAMES = {0: "closed", 1: "half_open", 2: "open"}
_SAMPLE = re.compile(rf"^{BREAKER_STATE}\{{(?P<labels>.*)\}}\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def breaker_states(metrics_text: str) -> dict[str, str]:
    """``{service: "closed" | "half_open" | "open"}`` from Prometheus text exposition.

    A value outside 0, 1, 2 reads as ``"unknown"``; services without a sample are absent.
    Under ``--workers N`` each worker has its breaker (a ``pid`` label): where they disagree
    the state says how many are in which, e.g. ``"open in 1 of 2 workers, closed in 1"``.
    """
    seen: dict[str, list[str]] = {}
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        labels = {
            m["name"]: re.sub(r"\\[\\\"n]", lambda e: _UNESCAPE[e[0]], m["value"])
            for m in _LABEL.finditer(match["labels"])
        }
        service = labels.get("service")
        if service is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        known = value.is_integer() and int(value) in STATE_NAMES
        seen.setdefault(service, []).append(STATE_NAMES[int(value)] if known else "unknown")
    return {service: _combined(states) for service, states in seen.items()}


def _combined(states: list[str]) -> str:
    counts = Counter(states)
    if len(counts) == 1:
        return states[0]
    # the worst first: an open breaker in one worker is what an operator must see
    order = sorted(counts, key=lambda state: (-_SEVERITY.get(state, 3), state))
    first, *rest = order
    return f"{first} in {counts[first]} of {len(states)} workers" + "".join(
        f", {state} in {counts[state]}" for state in rest
    )


_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}
