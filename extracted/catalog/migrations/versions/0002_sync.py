"""The data sync's tables: the ledger a sync into the catalog keeps, and an outbox.

``strangler data sync product-catalog`` applies the monolith's changes here and keeps, per
sku, the version it applied (``strangler_sync_ledger``) in the same transaction. The tables are
the sync's own contract (``strangler_sync.schema``), created here so the service's database
has them from its first start.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from extracted.chassis.outbox import SYNC_TABLES, sync_tables_ddl

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in sync_tables_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for table in SYNC_TABLES:
        op.drop_table(table)
