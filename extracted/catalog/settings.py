"""Settings of the catalog service, from arguments or the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from extracted.chassis.settings import ServiceSettings

DEFAULT_DATABASE_URL = "sqlite:///.strangler/catalog.db"  # relative to the working directory
DATABASE_ENV = "STRANGLER_CATALOG_DB"


@dataclass(frozen=True, slots=True)
class CatalogSettings(ServiceSettings):
    """``from_env`` reads ``STRANGLER_CATALOG_DB``; arguments that are not None win over it."""

    database_env: ClassVar[str] = DATABASE_ENV

    database_url: str = DEFAULT_DATABASE_URL
    port: int = 8081
