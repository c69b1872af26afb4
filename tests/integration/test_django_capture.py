"""strangler_django's change capture in a Django project of its own (``django-admin
startproject`` + one app): ``manage.py strangler_capture install|status|remove`` over
``STRANGLER_CAPTURE``, and ``migrate`` putting back the triggers that a table-rebuilding
migration dropped (SQLite rebuilds a table for an ``AlterField``, and its triggers go with it).
Nothing of the demo shop is on the path."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TOOLKIT = Path(__file__).resolve().parents[2]

SETTINGS = """
INSTALLED_APPS += ["shelf", "strangler_django"]
DATABASES["default"]["NAME"] = os.environ["TOY_DB"]
STRANGLER_ROUTES = None
# TOY_NO_CAPTURE: the same project without the setting, to show what a rebuild does alone
STRANGLER_CAPTURE = {} if os.environ.get("TOY_NO_CAPTURE") else {
    "items": ("shelf.Item", "code", ["code", "price"]),
}
"""

MODELS = """
from django.db import models


class Item(models.Model):
    code = models.CharField(max_length=32, unique=True)
    price = models.{price_field}()
"""

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("code", models.CharField(max_length=32, unique=True)),
                ("price", models.IntegerField()),
            ],
        ),
    ]
"""

# a type change: Django's SQLite schema editor copies the table into a new one
REBUILD = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shelf", "0001_initial")]
    operations = [
        migrations.AlterField(model_name="item", name="price", field=models.BigIntegerField()),
    ]
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy-capture")
    subprocess.run(
        [str(BIN / "django-admin"), "startproject", "toy", str(root)],
        check=True,
        capture_output=True,
        env=_env(root / "unused.db"),
    )
    settings = root / "toy" / "settings.py"
    settings.write_text("import os\n" + settings.read_text() + SETTINGS)
    app = root / "shelf"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS.format(price_field="BigIntegerField"))
    (app / "migrations" / "0001_initial.py").write_text(INITIAL)
    (app / "migrations" / "0002_rebuild.py").write_text(REBUILD)
    return root


def _env(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    return env | {"PYTHONPATH": str(TOOLKIT), "TOY_DB": str(database)} | extra


def manage(project: Path, database: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=_env(database, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def triggers(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'shelf_item'"
        )
        return {row[0] for row in rows}


def captured_after_a_raw_write(database: Path, code: str) -> list[tuple[str, str]]:
    """Insert a row behind Django's back; the outbox rows of it."""
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("INSERT INTO shelf_item (code, price) VALUES (?, 100)", (code,))
        rows = connection.execute(
            "SELECT aggregatetype, type FROM strangler_outbox WHERE aggregateid = ?", (code,)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def narrow_table(project: Path, tmp_path: Path) -> Path:
    """A database migrated, then taken back to 0001: the next migrate rebuilds the table."""
    database = tmp_path / "toy.db"
    manage(project, database, "migrate", "--noinput")
    manage(project, database, "migrate", "--noinput", "shelf", "0001")
    return database


def test_install_is_idempotent_and_status_reports_it(toy: Path, tmp_path: Path) -> None:
    database = tmp_path / "toy.db"
    manage(toy, database, "migrate", "--noinput")
    assert "items: absent" in manage(toy, database, "strangler_capture", "status")
    first = manage(toy, database, "strangler_capture", "install")
    again = manage(toy, database, "strangler_capture", "install", "items")
    assert first.startswith("items: installed, epoch ")
    assert again.split(",")[:2] == first.split(",")[:2]  # the same epoch: nothing changed
    assert triggers(database)
    assert captured_after_a_raw_write(database, "A-1") == [("items", "upsert")]
    manage(toy, database, "strangler_capture", "remove")
    assert triggers(database) == set()
    assert captured_after_a_raw_write(database, "A-2") == []
    manage(toy, database, "migrate", "--noinput")
    assert triggers(database) == set()  # removed on purpose: migrate does not undo that


def test_migrate_puts_back_the_triggers_a_table_rebuild_dropped(toy: Path, tmp_path: Path) -> None:
    database = narrow_table(toy, tmp_path)
    manage(toy, database, "strangler_capture", "install")
    installed = triggers(database)
    assert installed
    out = manage(toy, database, "migrate", "--noinput", "shelf", "0002")
    assert "capture of items re-installed (missing)" in out
    assert triggers(database) == installed
    assert captured_after_a_raw_write(database, "B-1") == [("items", "upsert")]


def test_migrate_re_installs_a_drifted_capture(toy: Path, tmp_path: Path) -> None:
    database = tmp_path / "toy.db"
    manage(toy, database, "migrate", "--noinput")
    manage(toy, database, "strangler_capture", "install")
    with closing(sqlite3.connect(database)) as connection, connection:
        # as installed by an older trigger generator
        connection.execute("UPDATE strangler_capture SET spec_hash = ?", ("1" * 64,))
    assert "items: drifted" in manage(toy, database, "strangler_capture", "status")

    out = manage(toy, database, "migrate", "--noinput")

    assert "capture of items re-installed (drifted)" in out
    assert "items: installed" in manage(toy, database, "strangler_capture", "status")


def test_without_the_hook_the_same_migration_loses_the_triggers(toy: Path, tmp_path: Path) -> None:
    database = narrow_table(toy, tmp_path)
    manage(toy, database, "strangler_capture", "install")
    assert triggers(database)
    manage(toy, database, "migrate", "--noinput", "shelf", "0002", TOY_NO_CAPTURE="1")
    assert triggers(database) == set()  # what the hook is there for


def test_migrate_never_switches_capture_on_by_itself(toy: Path, tmp_path: Path) -> None:
    database = tmp_path / "toy.db"
    manage(toy, database, "migrate", "--noinput")
    assert triggers(database) == set()
    with closing(sqlite3.connect(database)) as connection:
        names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert not any(name.startswith("strangler_") for name in names)
