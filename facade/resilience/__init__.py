"""Resilience of the facade's calls to extracted services (canary and extracted modes).

The pieces are small and mostly pure, each with an injectable clock so tests never sleep:

- ``window``: counts over a rolling time window (bucketed), shared by the two below
- ``breaker``: the circuit breaker's state machine (closed, open, half-open)
- ``budget``: the retry budget (retries may add only a share of extra calls)
- ``backoff``: exponential backoff with full jitter
- ``bulkhead``: the cap on concurrent calls per service
- ``policy``: which methods may be retried or fall back, and what counts as a failure
- ``guard``: one service's breaker, budget and bulkhead, shared by a process across reloads
- ``call``: one resilient call (deadline, attempts, retries) built from the above
- ``scrape``: breaker states read back from the facade's ``/metrics`` text

This package imports nothing heavy at import time: ``scrape`` is used by the CLI.
"""
