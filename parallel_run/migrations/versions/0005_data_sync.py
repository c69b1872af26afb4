"""Data sync: relay heartbeats, lost changes, change windows and ``data verify`` results.

``sync_health`` holds each relay process's latest heartbeat (lag, pending, parked, counters,
capture state); ``sync_conflicts`` one row per change lost to a conflict; ``sync_windows`` the
``[captured_at, applied_at)`` of each key's changes, so a report can tell a mismatch seen while
the key was on its way; ``data_verifications`` every ``strangler data verify``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_health",
        sa.Column("capability", sa.String(200), primary_key=True),
        sa.Column("direction", sa.String(16), primary_key=True),
        sa.Column("relay", sa.String(255), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("parked", sa.BigInteger(), nullable=False),
        sa.Column("applied_total", sa.BigInteger(), nullable=False),
        sa.Column("conflicts_total", sa.BigInteger(), nullable=False),
        sa.Column("capture_state", sa.String(32), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("capability", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("loser_side", sa.String(16), nullable=False),
        sa.Column("source_seq", sa.BigInteger(), nullable=False),
        sa.Column("target_seq", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "capability", "key", "loser_side", "target_seq", name="uq_sync_conflicts_lost_change"
        ),
    )
    op.create_index("ix_sync_conflicts_capability_at", "sync_conflicts", ["capability", "at"])
    op.create_table(
        "sync_windows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("capability", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_sync_windows_capability_key_captured_at",
        "sync_windows",
        ["capability", "key", "captured_at"],
    )
    op.create_index("ix_sync_windows_applied_at", "sync_windows", ["applied_at"])
    op.create_table(
        "data_verifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("capability", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("equal", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_data_verifications_capability_at", "data_verifications", ["capability", "at"]
    )


def downgrade() -> None:
    op.drop_table("data_verifications")
    op.drop_table("sync_windows")
    op.drop_table("sync_conflicts")
    op.drop_table("sync_health")
