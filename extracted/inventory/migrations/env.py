"""Alembic environment of the inventory; run by ``adapters.database.migrate()``, never imported.

``migrate()`` passes its own connection, in a transaction; see
``parallel_run.sqldb.run_alembic_env``.
"""

from parallel_run.sqldb import run_alembic_env

run_alembic_env("inventory_alembic_version")  # VERSION_TABLE of adapters/database.py
