"""Ports and their SQLAlchemy adapters: the catalog's own database."""
