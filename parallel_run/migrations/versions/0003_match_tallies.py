"""Match tallies: comparisons that matched, stored per minute as a count and two histograms.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_tallies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("route", sa.String(500), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("control_ms", sa.JSON(), nullable=False),
        sa.Column("candidate_ms", sa.JSON(), nullable=False),
    )
    op.create_index("ix_match_tallies_experiment_minute", "match_tallies", ["experiment", "minute"])
    op.create_index("ix_match_tallies_run_id", "match_tallies", ["run_id"])


def downgrade() -> None:
    op.drop_table("match_tallies")
