"""A routes.yaml with one capability per way of serving (extracted, a canary split, a service
that is down), for the tests of the access log and the metrics in both engines."""

from __future__ import annotations

from facade.config.bucket import in_share

KEYS = [f"customer-{i}" for i in range(100)]
INSIDE = next(key for key in KEYS if in_share("split", key, 50))
OUTSIDE = next(key for key in KEYS if not in_share("split", key, 50))


def routes_for(legacy: str, service: str, dead: str) -> str:
    return f"""\
version: 1
legacy: {{url: "{legacy}"}}
services:
  svc: {{url: "{service}"}}
  gone: {{url: "{dead}", connect_timeout: 1s}}
capabilities:
  moved:
    match: [{{path: "/moved/{{id}}"}}]
    service: svc
    mode: extracted
  split:
    match: [{{methods: [GET], path: /split}}]
    service: svc
    mode: canary
    canary: {{percent: 50, sticky: "header:X-Customer-Id"}}
  down:
    match: [{{path: /down}}]
    service: gone
    mode: extracted
"""
