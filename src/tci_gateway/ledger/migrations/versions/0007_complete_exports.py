"""complete exports: open item scope (source, company code) and closure

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=64), server_default="default", nullable=False)
        )
        batch_op.add_column(sa.Column("company_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closed_import_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_open_items_scope", ["source", "company_code"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_open_items_closed_import_id_imports"),
            "imports",
            ["closed_import_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_open_items_closed_import_id_imports"), type_="foreignkey"
        )
        batch_op.drop_index("ix_open_items_scope")
        batch_op.drop_column("closed_import_id")
        batch_op.drop_column("closed_on")
        batch_op.drop_column("company_code")
        batch_op.drop_column("source")

    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_column("closed")
