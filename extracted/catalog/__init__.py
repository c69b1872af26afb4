"""The catalog service: products and their prices, carved out of the monolith.

Its own aiohttp app (``bootstrap.create_app``), its own database and migrations, its own
versioned API under ``/v1``. Start it with ``python -m extracted.catalog --port P``.
"""
