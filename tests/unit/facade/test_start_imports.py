"""What `strangler serve` and `strangler validate` import before they listen or answer: not the
result store (SQLAlchemy, alembic) nor deepdiff, loaded once shadow traffic needs them."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT

HEAVY = ("sqlalchemy", "alembic", "deepdiff", "parallel_run.store")


def imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [name for name in done.stdout.strip().split(",") if name]


def test_the_facade_and_the_cli_start_without_the_store_or_deepdiff() -> None:
    assert imported_after("import strangler.cli, strangler.cli.serve, facade.server") == []


def test_threads_that_need_the_store_at_once_each_get_it() -> None:
    # the recorder's, the compare worker's and the audit trail's threads may be the first to
    # import SQLAlchemy, each through another module, at the same moment: without
    # store_import.load_store first, each meets the others' half-initialised modules
    code = """
import importlib, threading
from parallel_run.store_import import load_store
failures = []
def first_use(name):
    try:
        load_store()
        importlib.import_module(name)
    except Exception as exc:
        failures.append(repr(exc))
entries = ("parallel_run.store", "parallel_run.sqldb", "parallel_run.audit", "sqlalchemy.engine")
threads = [threading.Thread(target=first_use, args=(name,)) for name in entries]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert not failures, failures
"""
    assert imported_after(code) == ["sqlalchemy", "alembic", "parallel_run.store"]
