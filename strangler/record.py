"""The recording addon, capability-aware: record one capability's traffic as routes.yaml says.

    mitmdump -s strangler/record.py --mode reverse:http://127.0.0.1:8000 \\
        --set strangler_record=catalog.flows \\
        --set strangler_routes=routes.yaml --set strangler_capability=product-catalog

A flow is recorded when the facade's own matcher (normalized path, method) routes it to
``strangler_capability``; secrets are redacted with routes.yaml's ``store.redact`` and
``store.redact_fields`` on top of the built-in names. Without ``strangler_capability`` it
behaves as ``parallel_run/mitm_addon.py`` (path and method filters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facade import config as config_module
from facade.config.evidence import redactor_for
from facade.config.matching import Matcher
from facade.config.normalize import normalize_target
from facade.errors import ConfigError, PathRejected
from parallel_run.mitm_addon import Capture
from parallel_run.traffic import RecordedExchange


class CapabilityCapture(Capture):
    """``Capture`` whose filter is one capability of routes.yaml."""

    def __init__(self) -> None:
        super().__init__()
        self.capability: str | None = None
        self.matcher: Matcher | None = None

    def load(self, loader: Any) -> None:
        super().load(loader)
        loader.add_option("strangler_routes", str, "routes.yaml", "The routes.yaml to read.")
        loader.add_option(
            "strangler_capability", str, "", "Record only this capability's requests."
        )

    def configure(self, updated: set[str]) -> None:
        super().configure(updated)
        from mitmproxy import ctx, exceptions

        name = ctx.options.strangler_capability
        if not name:
            self.capability, self.matcher = None, None
            return
        self.use_capability(Path(ctx.options.strangler_routes), name, error=exceptions.OptionsError)

    def use_capability(self, routes: Path, name: str, *, error: type[Exception]) -> None:
        """Filter on ``name`` as ``routes`` defines it; ``error`` is raised when it cannot."""
        try:
            config = config_module.load(routes)
        except (ConfigError, OSError) as exc:
            raise error(f"strangler_routes: {exc}") from exc
        if name not in config.routes.capabilities:
            known = ", ".join(config.routes.capabilities) or "none"
            raise error(f"strangler_capability: unknown capability {name!r} (known: {known})")
        self.capability, self.matcher = name, config.matcher
        self.redactor = redactor_for(config)

    def wanted(self, exchange: RecordedExchange) -> bool:
        if self.matcher is None:
            return super().wanted(exchange)
        try:
            path = normalize_target(exchange.target).path
        except PathRejected:
            return False
        match = self.matcher.match(exchange.method, path)
        return match is not None and match.route.capability == self.capability


addons = [CapabilityCapture()]
