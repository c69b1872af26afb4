"""The one way to open the result store: a ``StoreSettings`` value and ``open_store``."""

from __future__ import annotations

from pathlib import Path

from parallel_run.redact import Redactor
from parallel_run.store import open_store
from parallel_run.store_settings import StoreSettings


def test_open_store_applies_every_setting(tmp_path: Path) -> None:
    redactor = Redactor(headers=("x-session",))
    settings = StoreSettings(
        "sqlite:///state/store.db",
        redactor,
        body_limit=1000,
        retention_seconds=60.0,
        max_bytes=12345,
        base_dir=tmp_path,
    )
    store = open_store(settings)
    try:
        assert (tmp_path / "state" / "store.db").is_file()  # relative to base_dir
        assert store.redactor is redactor
        assert store.body_limit == 1000
        assert store.retention.total_seconds() == 60.0
        assert store.max_bytes == 12345
    finally:
        store.close()
