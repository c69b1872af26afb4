"""The catalog model: pure Python, no SQLAlchemy, no aiohttp."""
