"""Settings of a service, from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Where a service listens and keeps its data. Each service subclasses it, naming its
    variable in ``database_env`` and its defaults as the fields' defaults."""

    database_env: ClassVar[str]

    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> Self:
        """Settings with the database URL read from ``cls.database_env`` in ``environ``
        (default ``os.environ``); explicit arguments that are not None win over it."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            database_url=database_url or env.get(cls.database_env) or default.database_url,
            host=host if host is not None else default.host,
            port=port if port is not None else default.port,
        )
