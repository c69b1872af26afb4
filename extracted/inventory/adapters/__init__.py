"""Ports and their SQLAlchemy adapters: the inventory's own database."""
