"""limits in force and their changes (the ERP's changed-since cursor)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tci_gateway.ledger.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_limit_changes_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_limit_changes_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_changes")),
    )
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limit_changes_buyer_id"), ["buyer_id"], unique=False)

    op.create_table(
        "limits_in_force",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_limits_in_force_amount_nonneg")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_limits_in_force_currency_len")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_limits_in_force_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["cover_decisions.id"],
            name=op.f("fk_limits_in_force_decision_id_cover_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_limits_in_force_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("policy_id", "buyer_id", name=op.f("pk_limits_in_force")),
    )
    with op.batch_alter_table("limits_in_force", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limits_in_force_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_limits_in_force_change_id"), ["change_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("limits_in_force", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limits_in_force_change_id"))
        batch_op.drop_index(batch_op.f("ix_limits_in_force_buyer_id"))

    op.drop_table("limits_in_force")
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_changes_buyer_id"))

    op.drop_table("limit_changes")
