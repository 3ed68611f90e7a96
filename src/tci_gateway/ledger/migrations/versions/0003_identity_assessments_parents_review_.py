"""identity: assessments, parents, review queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tci_gateway.ledger.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_a", sa.String(length=64), nullable=False),
        sa.Column("account_b", sa.String(length=64), nullable=False),
        sa.Column("score", tci_gateway.ledger.types.ExactDecimal(scale=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("decided_at", tci_gateway.ledger.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('PENDING', 'ACCEPTED', 'REJECTED')", name=op.f("ck_review_items_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_review_items_dedupe_key")),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_items_state"), ["state"], unique=False)

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.Column("scale", sa.String(length=64), nullable=False),
        sa.Column("score_raw", sa.String(length=64), nullable=True),
        sa.Column("band", sa.String(length=64), nullable=True),
        sa.Column("failure_score", sa.String(length=64), nullable=True),
        sa.Column("paydex", sa.Integer(), nullable=True),
        sa.Column("recommended_limit", tci_gateway.ledger.types.ExactDecimal(), nullable=True),
        sa.Column("limit_currency", sa.String(length=3), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("fetched_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(recommended_limit IS NULL) = (limit_currency IS NULL)",
            name=op.f("ck_assessments_limit_currency"),
        ),
        sa.CheckConstraint(
            "recommended_limit IS NULL OR recommended_limit >= 0",
            name=op.f("ck_assessments_limit_nonneg"),
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_assessments_buyer_id_buyers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint(
            "buyer_id", "provider", "provider_id", "as_of", name="uq_assessments_key"
        ),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_buyer_id"), ["buyer_id"], unique=False)

    op.create_table(
        "buyer_parents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "relation IN ('DIRECT', 'ULTIMATE')", name=op.f("ck_buyer_parents_relation")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_buyer_parents_buyer_id_buyers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyer_parents")),
        sa.UniqueConstraint("buyer_id", "relation", "source", name="uq_buyer_parents_key"),
    )
    with op.batch_alter_table("buyer_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_buyer_parents_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_buyer_parents_value"), ["value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("buyer_parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buyer_parents_value"))
        batch_op.drop_index(batch_op.f("ix_buyer_parents_buyer_id"))

    op.drop_table("buyer_parents")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_buyer_id"))

    op.drop_table("assessments")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_items_state"))

    op.drop_table("review_items")
