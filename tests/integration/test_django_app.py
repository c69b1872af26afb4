"""strangler_django in a Django project of its own, as a user adds it: ``django-admin
startproject``, ``INSTALLED_APPS += ["strangler_django"]``, a routes.yaml, one seam declared in
the project's code; then legacy / new / experiment, observations in the result store, and the
system checks' errors. Nothing of the demo shop is on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from parallel_run.redact import Redactor
from parallel_run.store import ResultStore

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TOOLKIT = Path(__file__).resolve().parents[2]

SETTINGS = """
INSTALLED_APPS += ["strangler_django"]
STRANGLER_ROUTES = os.environ.get("TOY_ROUTES")
STRANGLER_SEAMS = {"greeting": {"keys": ["user"]}}
"""

# the project's own seam: a legacy and a new implementation behind one function
GREETING = """
from strangler_django import Endpoint, SeamCallFailed, seam


def legacy_greeting(user: str) -> dict[str, str]:
    return {"text": f"hello {user}", "by": "legacy"}


def new_greeting(endpoint: Endpoint, user: str) -> dict[str, str]:
    if user == "down":
        raise SeamCallFailed(endpoint.name, "unreachable")
    text = "HELLO" if user == "odd" else f"hello {user}"
    return {"text": text, "by": endpoint.name}


def greet(user: str) -> dict[str, str]:
    return seam("greeting").run(
        legacy=lambda: legacy_greeting(user),
        new=lambda endpoint: new_greeting(endpoint, user),
        keys={"user": user},
        clean=lambda value: {"text": value["text"]},  # who answered is not a difference
        call=f"greet {user}",
    )
"""

# calls the seam as the project's code would, then flushes the recorder (as a worker's exit);
# a spy on parallel_run's store publisher says which runs the app handed to it
DRIVE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toy.settings")
import django
django.setup()
from parallel_run.publish import StorePublisher
from toy.greeting import greet
from strangler_django import recording

published = []
publish = StorePublisher.__call__


def spy(self, result):
    published.append([result.name, self.call])
    publish(self, result)


StorePublisher.__call__ = spy
answers = [greet(user) for user in sys.argv[1:]]
recording.flush()
print(json.dumps({"answers": answers, "published": published}))
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh project from ``django-admin startproject``, with the app added."""
    root = tmp_path_factory.mktemp("toy-project")
    subprocess.run(
        [str(BIN / "django-admin"), "startproject", "toy", str(root)],
        check=True,
        capture_output=True,
        env=_env(),
    )
    settings = root / "toy" / "settings.py"
    settings.write_text("import os\n" + settings.read_text() + SETTINGS)
    (root / "toy" / "greeting.py").write_text(GREETING)
    (root / "drive.py").write_text(DRIVE)
    return root


def _env(**extra: str) -> dict[str, str]:
    # only the toolkit's checkout on the path, never the demo shop's settings
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "TOY_ROUTES"}}
    return env | {"PYTHONPATH": str(TOOLKIT)} | extra


def _routes(path: Path, *, seam: str, store: Path) -> Path:
    path.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        "services: {greeter: {url: 'http://127.0.0.1:9', timeout: 5s}}\n"
        f"seams:\n  greeting: {seam}\n"
        f"store: {{url: 'sqlite:///{store}'}}\n"
    )
    return path


def _run(project: Path, routes: Path | None, *users: str) -> dict[str, Any]:
    env = _env(**({"TOY_ROUTES": str(routes)} if routes else {}))
    done = subprocess.run(
        [sys.executable, "drive.py", *users],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ran: dict[str, Any] = json.loads(done.stdout)
    return ran


def _drive(project: Path, routes: Path | None, *users: str) -> list[dict[str, str]]:
    answers: list[dict[str, str]] = _run(project, routes, *users)["answers"]
    return answers


def _check(project: Path, routes: Path | None) -> subprocess.CompletedProcess[str]:
    env = _env(**({"TOY_ROUTES": str(routes)} if routes else {}))
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _observations(store: Path, experiment: str) -> list[Any]:
    db = ResultStore.open(f"sqlite:///{store}", redactor=Redactor())
    try:
        return list(db.observations(experiment=experiment))
    finally:
        db.close()


def test_a_legacy_seam_runs_the_legacy_implementation_and_records_nothing(
    toy: Path, tmp_path: Path
) -> None:
    store = tmp_path / "evidence.db"
    routes = _routes(tmp_path / "routes.yaml", seam="{implementation: legacy}", store=store)
    assert _drive(toy, routes, "ann") == [{"text": "hello ann", "by": "legacy"}]
    assert not store.exists()


def test_a_new_seam_calls_the_service_and_falls_back_when_it_fails(
    toy: Path, tmp_path: Path
) -> None:
    store = tmp_path / "evidence.db"
    routes = _routes(
        tmp_path / "routes.yaml", seam="{implementation: new, service: greeter}", store=store
    )
    assert _drive(toy, routes, "ann", "down") == [
        {"text": "hello ann", "by": "greeter"},
        {"text": "hello down", "by": "legacy"},  # on_failure="legacy": a read
    ]
    assert not store.exists()


def test_a_sticky_percent_splits_users_and_keeps_each_on_one_side(
    toy: Path, tmp_path: Path
) -> None:
    routes = _routes(
        tmp_path / "routes.yaml",
        seam="{implementation: new, service: greeter, percent: 50, sticky: user}",
        store=tmp_path / "evidence.db",
    )
    users = [f"u{n}" for n in range(40)]
    first = [answer["by"] for answer in _drive(toy, routes, *users)]
    again = [answer["by"] for answer in _drive(toy, routes, *users)]
    assert first == again  # sticky: the same user, the same side, in another process
    assert 5 < first.count("greeter") < 35


def test_an_experiment_answers_legacy_and_records_each_comparison(
    toy: Path, tmp_path: Path
) -> None:
    store = tmp_path / "evidence.db"
    routes = _routes(
        tmp_path / "routes.yaml",
        seam="{implementation: experiment, service: greeter}",
        store=store,
    )
    ran = _run(toy, routes, "ann", "odd", "down")
    assert {answer["by"] for answer in ran["answers"]} == {"legacy"}  # the control is authoritative
    # each call's experiment went to parallel_run's store publisher, and it wrote the rows
    assert ran["published"] == [
        ["seam:greeting", "greet ann"],
        ["seam:greeting", "greet odd"],
        ["seam:greeting", "greet down"],
    ]
    seen = _observations(store, "seam:greeting")
    assert Counter((o.path, o.outcome) for o in seen) == {
        ("greet ann", "match"): 1,
        ("greet odd", "mismatch"): 1,
        ("greet down", "candidate_error"): 1,
    }
    assert {(o.kind, o.route, o.method) for o in seen} == {("seam", "greeting", "CALL")}
    assert all(o.control_ms is not None and o.candidate_ms is not None for o in seen)
    (odd,) = (o for o in seen if o.outcome == "mismatch")
    # the cleaned values were compared (who answered is not a difference), and kept as evidence
    assert [d["path"] for d in odd.differences] == ["$.text"]
    assert odd.control_body is not None
    assert json.loads(odd.control_body) == {"text": "hello odd"}
    (down,) = (o for o in seen if o.outcome == "candidate_error")
    assert down.candidate_error is not None
    assert "unreachable" in down.candidate_error


def test_the_routes_file_is_re_read_when_it_changes(toy: Path, tmp_path: Path) -> None:
    store = tmp_path / "evidence.db"
    routes = _routes(tmp_path / "routes.yaml", seam="{implementation: legacy}", store=store)
    assert _drive(toy, routes, "ann")[0]["by"] == "legacy"
    _routes(routes, seam="{implementation: new, service: greeter}", store=store)
    assert _drive(toy, routes, "ann")[0]["by"] == "greeter"


def test_the_checks_pass_with_a_good_file_and_seams_off_with_none(
    toy: Path, tmp_path: Path
) -> None:
    routes = _routes(
        tmp_path / "routes.yaml",
        seam="{implementation: new, service: greeter, sticky: user}",
        store=tmp_path / "evidence.db",
    )
    assert _check(toy, routes).returncode == 0
    assert _check(toy, None).returncode == 0  # STRANGLER_ROUTES = None: every seam legacy


def test_the_checks_refuse_a_missing_routes_file(toy: Path, tmp_path: Path) -> None:
    done = _check(toy, tmp_path / "nowhere.yaml")
    assert done.returncode != 0
    assert "strangler.E002" in done.stderr
    assert "nowhere.yaml is not a readable file" in done.stderr


def test_the_checks_refuse_a_routes_file_that_does_not_load(toy: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nlegacy: {url: [\n")
    done = _check(toy, routes)
    assert done.returncode != 0
    assert "strangler.E003" in done.stderr
    assert f"{routes}:" in done.stderr  # PATH:LINE


def test_the_checks_name_each_seam_problem(toy: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy: {url: 'http://127.0.0.1:9'}\n"
        "services: {greeter: {url: 'http://127.0.0.1:9'}}\n"
        "seams:\n"
        "  greting: {implementation: legacy}\n"
        "  greeting: {implementation: new, service: greeter, sticky: customer}\n"
    )
    done = _check(toy, routes)
    assert done.returncode != 0
    assert "strangler.E004" in done.stderr
    assert "'greting' is not a seam of this project" in done.stderr
    assert "strangler.E006" in done.stderr
    assert "sticky 'customer' is not a key its calls offer" in done.stderr


def test_the_checks_refuse_a_project_that_never_set_the_routes_path(
    toy: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare_settings.py"
    bare.write_text(
        (toy / "toy" / "settings.py").read_text().replace("STRANGLER_ROUTES", "_UNUSED")
    )
    done = subprocess.run(
        [str(BIN / "django-admin"), "check", "--settings", "bare_settings"],
        cwd=toy,
        env=_env(PYTHONPATH=f"{TOOLKIT}{os.pathsep}{tmp_path}{os.pathsep}{toy}"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "strangler.E001" in done.stderr
    assert "STRANGLER_ROUTES is not set" in done.stderr
