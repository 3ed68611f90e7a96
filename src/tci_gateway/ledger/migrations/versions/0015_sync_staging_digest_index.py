"""sync staging digest index: a run's digests read from the index alone

A rerun compares the digests it fetches with the baseline run's, a window of positions at
a time (``ledger.staging.staged_digests``). With the digest in the index on
(sync_run_id, position), that read no longer touches the staged rows (and their
payloads). The new index replaces ``ix_sync_staging_run`` (its prefix).

Plain index statements on ``sync_staging`` only: no table is rebuilt (a SQLite rebuild of
``cover_decisions``, ``cover_tranches`` or ``limits_in_force`` would drop the triggers of
migration 0014).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_sync_staging_run_digest", "sync_staging", ["sync_run_id", "position", "digest"]
    )
    op.drop_index("ix_sync_staging_run", table_name="sync_staging")


def downgrade() -> None:
    op.create_index("ix_sync_staging_run", "sync_staging", ["sync_run_id", "position"])
    op.drop_index("ix_sync_staging_run_digest", table_name="sync_staging")
