"""sync record digests: a digest of each staged portfolio record

A sync compares the digests of the records it fetches with those of the last run that
staged the policy's whole portfolio; a portfolio that hashes the same is neither staged
nor reconciled again (see ``services.sync``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_staging", sa.Column("digest", sa.String(length=32), nullable=True))
    # which buyers a run's snapshot lists (cover_missing), without holding them in memory
    op.create_index("ix_sync_staging_external", "sync_staging", ["sync_run_id", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_staging_external", table_name="sync_staging")
    with op.batch_alter_table("sync_staging", schema=None) as batch_op:
        batch_op.drop_column("digest")
