"""Alembic environment of the result store; run by ``ResultStore.open()``, never imported.

``ResultStore`` passes its own connection, in a transaction holding the migration lock on
PostgreSQL; see ``parallel_run.sqldb.run_alembic_env``.
"""

from parallel_run.sqldb import run_alembic_env

run_alembic_env("parallel_run_alembic_version")
