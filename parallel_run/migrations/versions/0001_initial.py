"""Initial result store: observations, noise_counts, drops.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
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
        "observations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("route", sa.String(500), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("control_status", sa.Integer(), nullable=True),
        sa.Column("candidate_status", sa.Integer(), nullable=True),
        sa.Column("control_ms", sa.Float(), nullable=True),
        sa.Column("candidate_ms", sa.Float(), nullable=True),
        sa.Column("control_error", sa.Text(), nullable=True),
        sa.Column("candidate_error", sa.Text(), nullable=True),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("noise", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(512), nullable=False),
        sa.Column("control_headers", sa.JSON(), nullable=False),
        sa.Column("candidate_headers", sa.JSON(), nullable=False),
        sa.Column("control_body", sa.LargeBinary(), nullable=True),
        sa.Column("candidate_body", sa.LargeBinary(), nullable=True),
        sa.Column("control_body_size", sa.Integer(), nullable=True),
        sa.Column("candidate_body_size", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_observations_experiment_created_at", "observations", ["experiment", "created_at"]
    )
    op.create_index("ix_observations_signature", "observations", ["signature"])
    op.create_index("ix_observations_run_id", "observations", ["run_id"])
    op.create_index("ix_observations_created_at", "observations", ["created_at"])

    op.create_table(
        "noise_counts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("route", sa.String(500), nullable=False),
        sa.Column("template_path", sa.String(500), nullable=False),
        sa.Column("twin_samples", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("twin_diffs", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("samples", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("diffs", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "experiment", "route", "template_path", name="uq_noise_counts_experiment_route_path"
        ),
    )

    op.create_table(
        "drops",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_drops_experiment_at", "drops", ["experiment", "at"])


def downgrade() -> None:
    op.drop_table("drops")
    op.drop_table("noise_counts")
    op.drop_table("observations")
