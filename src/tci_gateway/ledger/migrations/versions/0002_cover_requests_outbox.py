"""cover requests outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tci_gateway.ledger.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cover_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_reference", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("insurer", sa.String(length=64), nullable=False),
        sa.Column("insurer_buyer_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("cover_type", sa.String(length=16), nullable=False),
        sa.Column("amount", tci_gateway.ledger.types.ExactDecimal(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("insurer_request_ref", sa.String(length=64), nullable=True),
        sa.Column("outcome_status", sa.String(length=32), nullable=True),
        sa.Column("outcome_amount", tci_gateway.ledger.types.ExactDecimal(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "action IN ('NEW', 'INCREASE', 'REDUCE', 'CANCEL', 'RENEW')",
            name=op.f("ck_cover_requests_action"),
        ),
        sa.CheckConstraint(
            "state IN ('QUEUED', 'AMBIGUOUS', 'PENDING', 'DECIDED', 'REJECTED')",
            name=op.f("ck_cover_requests_state"),
        ),
        sa.CheckConstraint(
            "(amount IS NULL) = (currency IS NULL)", name=op.f("ck_cover_requests_amount_currency")
        ),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_cover_requests_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_cover_requests_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_cover_requests_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cover_requests")),
        sa.UniqueConstraint("client_reference", name=op.f("uq_cover_requests_client_reference")),
    )
    with op.batch_alter_table("cover_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cover_requests_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cover_requests_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cover_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cover_requests_state"))
        batch_op.drop_index(batch_op.f("ix_cover_requests_buyer_id"))

    op.drop_table("cover_requests")
