"""Where the catalog keeps its database: the default, the environment, an explicit URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from extracted.catalog.settings import DEFAULT_DATABASE_URL, CatalogSettings
from parallel_run.sqldb import resolve_url


def test_the_default_is_a_sqlite_file_under_the_working_directory() -> None:
    settings = CatalogSettings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///.strangler/catalog.db"
    resolved = resolve_url(settings.database_url, base_dir=Path("/srv/shop"))
    assert resolved.database == "/srv/shop/.strangler/catalog.db"


def test_the_environment_names_the_database_and_an_argument_wins() -> None:
    env = {"STRANGLER_CATALOG_DB": "sqlite:////var/catalog.db"}
    assert CatalogSettings.from_env(env).database_url == "sqlite:////var/catalog.db"
    chosen = CatalogSettings.from_env(env, database_url="sqlite:////tmp/x.db", port=9000)
    assert (chosen.database_url, chosen.port) == ("sqlite:////tmp/x.db", 9000)


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        CatalogSettings().port = 1  # type: ignore[misc]
