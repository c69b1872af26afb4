"""How to open the result store, as a plain value (pure: no database import, so the
routes.yaml model can build one; ``parallel_run.store.open_store`` opens it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parallel_run.redact import Redactor

DEFAULT_BODY_LIMIT = 65536
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600
DEFAULT_MAX_BYTES = 256 * 1024**2  # per experiment: stored observation rows, bodies included


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Everything needed to open the result store: the one way every caller opens it (the
    facade's shadow runner, the CLI's report, lifecycle and replay, the Django seams).

    Built from routes.yaml by ``facade.config.evidence.store_settings``; opened by
    ``open_store``, or by a ``Recorder.for_store`` thread on its first write.
    """

    url: str
    redactor: Redactor
    body_limit: int = DEFAULT_BODY_LIMIT
    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    base_dir: Path | None = None  # a relative sqlite path is relative to it
    busy_timeout_ms: int = 5000
    connect_timeout_s: int = 5
