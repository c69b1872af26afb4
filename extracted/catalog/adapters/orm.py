"""The catalog's tables (SQLAlchemy Core); ``migrations/versions`` creates them, and a test
checks that the migrated schema matches these definitions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Integer,
    MetaData,
    String,
    Table,
)

from parallel_run.sqldb import UTCDateTime

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    # integer minor units (cents): money never passes through a float
    Column("price_minor", BigInteger(), nullable=False),
    Column("price_currency", String(3), nullable=False),
    Column("on_hand", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("price_minor >= 0", name="ck_products_price_minor"),
    CheckConstraint("on_hand >= 0", name="ck_products_on_hand"),
    CheckConstraint("status IN ('active', 'inactive')", name="ck_products_status"),
)
