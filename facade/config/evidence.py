"""How the facade and the CLI open the result store that routes.yaml's ``store:`` names, and
the comparison rules a capability's ``compare:`` asks for (shadow mode and replay alike)."""

from __future__ import annotations

from typing import Any

from facade.config import Compare, Config
from parallel_run.compare import CompareRules
from parallel_run.redact import Redactor
from parallel_run.sampling import SamplePolicy
from parallel_run.store_settings import StoreSettings


def redactor_for(config: Config) -> Redactor:
    """Secrets to redact before anything is stored: configured names plus the built-in ones."""
    store = config.routes.store
    return Redactor(
        headers=store.redact, json_fields=store.redact_fields, query_params=store.redact_fields
    )


def store_settings(config: Config) -> StoreSettings:
    """The result store routes.yaml's ``store:`` names, for ``parallel_run.store.open_store``
    (or ``Recorder.for_store``): its URL, redaction, body limit, retention and size bound."""
    store = config.routes.store
    return StoreSettings(
        url=config.store_url,
        redactor=redactor_for(config),
        body_limit=store.body_limit,
        retention_seconds=store.retention,
        max_bytes=store.max_bytes_per_capability,
        base_dir=config.base_dir,
    )


def recorder_options(config: Config) -> dict[str, Any]:
    """Keyword arguments for ``Recorder`` (``Recorder.for_store``): how many examples of each
    mismatch signature keep their bodies, per window, and the body limit they are cut to."""
    store = config.routes.store
    return {
        "sampling": SamplePolicy(
            examples=store.examples_per_signature, window=store.example_window
        ),
        "body_limit": store.body_limit,
    }


def compare_rules(compare: Compare) -> CompareRules:
    """The comparator's rules for a capability: its ignored JSON paths and headers."""
    return CompareRules(ignore_paths=compare.ignore, ignore_headers=compare.ignore_headers)
