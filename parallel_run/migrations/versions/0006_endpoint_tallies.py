"""Endpoint tallies: requests per monolith endpoint, capability and server, per minute.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "endpoint_tallies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(500), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("capability", sa.String(200), nullable=False),
        sa.Column("served_by", sa.String(200), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_endpoint_tallies_minute", "endpoint_tallies", ["minute"])
    op.create_index(
        "ix_endpoint_tallies_capability_minute", "endpoint_tallies", ["capability", "minute"]
    )


def downgrade() -> None:
    op.drop_table("endpoint_tallies")
