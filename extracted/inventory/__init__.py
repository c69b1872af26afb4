"""The inventory service: stock levels and reservations, carved out of the monolith.

Its own aiohttp app (``bootstrap.create_app``), its own database and migrations (version table
``inventory_alembic_version``), its own versioned API under ``/v1``. Start it with
``python -m extracted.inventory --port P``.
"""
