"""Checks every service's ``strangler data`` row target must pass, whatever its rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from acl.data import DataMoveError, RowTarget


def assert_reading_an_absent_database_creates_nothing(
    open_target: Callable[[str], RowTarget], tmp_path: Path
) -> None:
    """Counting or reading a database that is not there fails, and leaves no file behind."""
    path = tmp_path / "absent.db"
    absent = open_target(f"sqlite:///{path}")
    with pytest.raises(DataMoveError, match="has no schema yet"):
        absent.count()
    with pytest.raises(DataMoveError, match="has no schema yet"):
        absent.read(after=None, limit=1)
    absent.close()
    assert not path.exists()


def assert_the_plugin_opens_the_database_named_by(
    variable: str,
    plugin: Callable[[], object],
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The routes.yaml plugin (``module:attr``) makes a RowTarget on the service's own database,
    the one its environment variable names."""
    monkeypatch.setenv(variable, f"sqlite:///{tmp_path / 'from-env.db'}")
    made = plugin()
    assert isinstance(made, RowTarget)
    made.prepare()
    made.close()
    assert (tmp_path / "from-env.db").exists()
