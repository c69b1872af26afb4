"""Reservations can be fulfilled: their units shipped, off the shelf.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot alter a constraint: batch mode copies the table with the new one
    with op.batch_alter_table("reservations") as batch:
        batch.drop_constraint("ck_reservations_status", type_="check")
        batch.create_check_constraint(
            "ck_reservations_status", "status IN ('held', 'cancelled', 'fulfilled')"
        )


def downgrade() -> None:
    op.execute("UPDATE reservations SET status = 'cancelled' WHERE status = 'fulfilled'")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_constraint("ck_reservations_status", type_="check")
        batch.create_check_constraint("ck_reservations_status", "status IN ('held', 'cancelled')")
