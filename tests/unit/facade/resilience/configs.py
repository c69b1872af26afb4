"""routes.yaml text -> Config, for guard tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from facade.config import Config, parse


def config_of(services: str) -> Config:
    text = f"version: 1\nlegacy: {{url: 'http://127.0.0.1:8000'}}\nservices:\n{services}"
    routes, matcher = parse(text)
    return Config(Path("routes.yaml"), routes, matcher, hashlib.sha256(text.encode()).hexdigest())
