"""limits in force: an index on decision_id

``limits_in_force.decision_id`` points at ``cover_decisions`` without an index, so
deleting cover versions made PostgreSQL check the foreign key with a scan of every
stored limit per deleted version (the benchmarks' write floor at 400k covers: more than
20 minutes in one ``DELETE``). A plain index statement: no table is rebuilt (a SQLite
rebuild of ``limits_in_force`` would drop the triggers of migration 0014).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 15:25:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_limits_in_force_decision_id"), "limits_in_force", ["decision_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_limits_in_force_decision_id"), table_name="limits_in_force")
