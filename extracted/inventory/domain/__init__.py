"""The inventory model: pure Python, no SQLAlchemy, no aiohttp."""
