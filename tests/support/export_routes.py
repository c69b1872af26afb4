"""routes.yaml files for the export tests: one capability in every mode and kind of route."""

from __future__ import annotations

from pathlib import Path

from facade.config import Config, load

EVERY_MODE = """\
version: 1
legacy: {{url: "{legacy}"}}
services:
  svc: {{url: "{service}", retries: 1}}
  other: {{url: "{service}"}}
capabilities:
  plain:
    match: [{{path: /plain}}]
  shadowed:
    match: [{{methods: [GET, POST], path: "/shadowed/{{id}}"}}]
    service: svc
    mode: shadow
{shadow}
  split:
    match: [{{path: "/split/{{rest:path}}"}}]
    service: svc
    mode: canary
    canary: {{percent: {percent}, sticky: "{sticky}"}}
  moved:
    match: [{{path: /moved}}, {{methods: [PUT, POST], path: "/moved/{{id}}"}}]
    service: other
    mode: extracted
    max_body: 1KB
  special:
    match: [{{methods: [GET], path: /moved/special}}]
  punctuated:
    match: [{{path: "/api/v1.0/order-items/{{id}}/user_profile/~x/caf%C3%A9"}}]
    service: other
    mode: extracted
  translated:
    match: [{{path: /translated}}]
    service: svc
    translator: catalog.products
    mode: canary
"""


def every_mode(
    directory: Path,
    *,
    legacy: str = "http://127.0.0.1:18000",
    service: str = "http://127.0.0.1:18001",
    percent: float = 30,
    sticky: str = "header:X-Customer-Id",
    shadow: str = "",
) -> Config:
    """A routes.yaml with a capability in each mode (and a translated one), loaded."""
    path = directory / "routes.yaml"
    path.write_text(
        EVERY_MODE.format(
            legacy=legacy, service=service, percent=percent, sticky=sticky, shadow=shadow
        )
    )
    return load(path)
