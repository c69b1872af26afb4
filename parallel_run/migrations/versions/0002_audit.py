"""Audit trail: the hash-chained change log of routes.yaml.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        # the chain's order; given by the appender under its lock, never by the database
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("capability", sa.String(200), nullable=False),
        sa.Column("from_mode", sa.String(16), nullable=True),
        sa.Column("from_percent", sa.Float(), nullable=True),
        sa.Column("to_mode", sa.String(16), nullable=True),
        sa.Column("to_percent", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("digest_before", sa.String(64), nullable=True),
        sa.Column("digest_after", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        # two appenders that read the same head cannot both commit: the chain never forks
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    )
    op.create_index("ix_audit_log_capability_seq", "audit_log", ["capability", "seq"])
    op.create_index("ix_audit_log_digest_after", "audit_log", ["digest_after"])


def downgrade() -> None:
    op.drop_table("audit_log")
