"""Settings of the inventory service, from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///.strangler/inventory.db"  # relative to the working directory
DATABASE_ENV = "STRANGLER_INVENTORY_DB"


@dataclass(frozen=True, slots=True)
class InventorySettings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8102

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> InventorySettings:
        """Settings with ``STRANGLER_INVENTORY_DB`` read from ``environ`` (default
        ``os.environ``); explicit arguments that are not None win over it."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            database_url=database_url or env.get(DATABASE_ENV) or default.database_url,
            host=host if host is not None else default.host,
            port=port if port is not None else default.port,
        )
