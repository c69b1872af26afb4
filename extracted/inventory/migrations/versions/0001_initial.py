"""Initial inventory: stock levels and reservations named by idempotency key.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= on_hand", name="ck_stock_levels_reserved"
        ),
    )
    op.create_table(
        "reservations",
        sa.Column("idempotency_key", sa.String(128), primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name="ck_reservations_quantity"),
        sa.CheckConstraint("status IN ('held', 'cancelled')", name="ck_reservations_status"),
    )
    op.create_index("ix_reservations_sku", "reservations", ["sku"])


def downgrade() -> None:
    op.drop_index("ix_reservations_sku", table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("stock_levels")
