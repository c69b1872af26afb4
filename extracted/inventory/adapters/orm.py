"""The inventory's tables (SQLAlchemy Core); ``migrations/versions`` creates them, and a test
checks that the migrated schema matches these definitions."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, MetaData, String, Table

from parallel_run.sqldb import UTCDateTime

metadata = MetaData()

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("on_hand", BigInteger(), nullable=False),
    Column("reserved", BigInteger(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # the last line of defence against overselling, whatever the code above it does
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_levels_reserved"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("idempotency_key", String(128), primary_key=True),
    Column("sku", String(64), nullable=False, index=True),
    Column("quantity", BigInteger(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("quantity >= 0", name="ck_reservations_quantity"),
    CheckConstraint("status IN ('held', 'cancelled', 'fulfilled')", name="ck_reservations_status"),
)
