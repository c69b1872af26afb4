"""Bounded evidence: mismatch tallies, example drops, and each row's cost in the store.

Mismatches beyond the examples kept per signature are counted in ``mismatch_tallies``; examples
refused because their experiment's share of the store was full are counted in ``example_drops``;
``observations.stored_bytes`` is what a row costs against that share (rows stored before this
revision get their bodies' size plus the fixed overhead).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_OVERHEAD = 512  # parallel_run.store.ROW_OVERHEAD when this revision was written


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
    # length() counts bytes of a BLOB (SQLite) and of a bytea (PostgreSQL)
    op.execute(
        sa.text(
            "UPDATE observations SET stored_bytes = :overhead"
            " + COALESCE(length(control_body), 0) + COALESCE(length(candidate_body), 0)"
        ).bindparams(overhead=ROW_OVERHEAD)
    )
    op.create_table(
        "mismatch_tallies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("route", sa.String(500), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("signature", sa.String(512), nullable=False),
        sa.Column("candidate_error", sa.Text(), nullable=True),
        sa.Column("shape", sa.JSON(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("control_ms", sa.JSON(), nullable=False),
        sa.Column("candidate_ms", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_mismatch_tallies_experiment_minute", "mismatch_tallies", ["experiment", "minute"]
    )
    op.create_index("ix_mismatch_tallies_run_id", "mismatch_tallies", ["run_id"])
    op.create_table(
        "example_drops",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_example_drops_experiment_at", "example_drops", ["experiment", "at"])


def downgrade() -> None:
    op.drop_table("example_drops")
    op.drop_table("mismatch_tallies")
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("stored_bytes")
