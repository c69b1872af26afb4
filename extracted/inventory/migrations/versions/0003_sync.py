"""The data sync's tables: the inventory's own outbox (the way back) and the ledger.

Every use case that changes a stock level writes its sku to ``strangler_outbox`` in the same
transaction (aggregate ``stock``), and ``strangler data sync inventory`` carries it back to the
monolith; a sync into the inventory keeps its per-sku versions in ``strangler_sync_ledger``.
The tables are the sync's own contract (``strangler_sync.schema``); the outbox gets its epoch
here, once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from extracted.chassis.outbox import SYNC_TABLES, sync_tables_ddl
from strangler_sync import SqlAlchemyTx, ensure_outbox

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOCK = "stock"  # services.STOCK when this revision was written


def upgrade() -> None:
    bind = op.get_bind()
    for statement in sync_tables_ddl(bind.dialect.name):
        op.execute(statement)
    ensure_outbox(SqlAlchemyTx(bind), STOCK)


def downgrade() -> None:
    for table in SYNC_TABLES:
        op.drop_table(table)
