"""The catalog's tables (SQLAlchemy Core); ``migrations/versions`` creates them, and a test
checks that the migrated schema matches these definitions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog keeps UTC")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
