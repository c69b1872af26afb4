"""The service chassis: what every extracted service runs on, written once.

Each service keeps its own domain, repositories, handlers, migrations and error shape; the
chassis gives it the plumbing around them:

- ``settings``: host, port and database URL from arguments or the service's own variable;
- ``database``: the engine (SQLite pragmas), Alembic migrations under a per-service version
  table, the schema revision, the ``/healthz`` ping;
- ``unit_of_work``: the transaction base the services' units of work subclass;
- ``http``: the error middleware (each service maps its own errors), JSON answers, ``/healthz``;
- ``app``: the aiohttp application with the database opened in a ``cleanup_ctx``;
- ``data``: the part of a ``strangler data`` row target every service shares;
- ``cli``: ``python -m extracted.<service>``: arguments, an optional seed file, serving.

Services import the chassis, never each other; the chassis imports no service
(``pyproject.toml``'s import-linter contract).
"""
