"""initial ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tci_gateway.ledger.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buyers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("length(country) = 2", name=op.f("ck_buyers_country_len")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyers")),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("finished_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("insurer", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("insured_percentage", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("max_credit_period_days", sa.Integer(), nullable=False),
        sa.Column("max_extension_days", sa.Integer(), nullable=False),
        sa.Column("overdue_notification_days", sa.Integer(), nullable=False),
        sa.Column("waiting_days", sa.Integer(), nullable=False),
        sa.Column("claim_filing_days", sa.Integer(), nullable=False),
        sa.Column("discretionary_limit", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("claim_threshold", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("deductible", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("external_ref", sa.JSON(), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "insured_percentage > 0",
            name=op.f("ck_policies_insured_percentage"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_policies_currency_len")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("key", name=op.f("uq_policies_key")),
    )
    op.create_table(
        "buyer_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["buyers.id"],
            name=op.f("fk_buyer_identifiers_buyer_id_buyers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyer_identifiers")),
        sa.UniqueConstraint("scheme", "issuer", "value", name="uq_buyer_identifiers_scheme_value"),
    )
    with op.batch_alter_table("buyer_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buyer_identifiers_buyer_id"), ["buyer_id"], unique=False
        )

    op.create_table(
        "erp_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_erp_accounts_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_erp_accounts_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_accounts")),
        sa.UniqueConstraint("account", name=op.f("uq_erp_accounts_account")),
    )
    with op.batch_alter_table("erp_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erp_accounts_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_erp_accounts_policy_id"), ["policy_id"], unique=False)

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", tci_gateway.ledger.types.UTCDateTime(), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("stale", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'partial', 'failed')",
            name=op.f("ck_sync_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_sync_runs_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name=op.f("ck_alerts_severity")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_alerts_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_alerts_policy_id_policies")
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"], ["sync_runs.id"], name=op.f("fk_alerts_sync_run_id_sync_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_kind"), ["kind"], unique=False)

    op.create_table(
        "cover_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("insurer_cover_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("is_preliminary", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("granted_amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("requested_amount", tci_gateway.ledger.types.ExactDecimal(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("pending_action", sa.String(length=32), nullable=True),
        sa.Column("raw_codes", sa.JSON(), nullable=False),
        sa.Column("unknown_codes", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("decided_at", tci_gateway.ledger.types.UTCDateTime(), nullable=True),
        sa.Column("source_changed_at", tci_gateway.ledger.types.UTCDateTime(), nullable=True),
        sa.Column("recorded_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "pending_action IS NULL OR pending_action IN ('WITHDRAWAL_NOTICE', 'CANCELLATION_PENDING', 'REACTIVATION_PENDING', 'TRANSFER_PENDING', 'OTHER')",
            name=op.f("ck_cover_decisions_pending_action"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'APPROVED', 'PARTIALLY_APPROVED', 'REFUSED', 'REDUCED', 'WITHDRAWN', 'CANCELLED_BY_INSURED', 'SUPERSEDED', 'EXPIRED', 'INDICATION_ONLY')",
            name=op.f("ck_cover_decisions_status"),
        ),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from",
            name=op.f("ck_cover_decisions_dates"),
        ),
        sa.CheckConstraint("granted_amount >= 0", name=op.f("ck_cover_decisions_granted_nonneg")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_cover_decisions_currency_len")),
        sa.CheckConstraint(
            "requested_amount IS NULL OR requested_amount >= 0",
            name=op.f("ck_cover_decisions_requested_nonneg"),
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_cover_decisions_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_cover_decisions_policy_id_policies")
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"], ["sync_runs.id"], name=op.f("fk_cover_decisions_sync_run_id_sync_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cover_decisions")),
    )
    with op.batch_alter_table("cover_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cover_decisions_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            "ix_cover_decisions_policy_buyer",
            ["policy_id", "buyer_id", "effective_from"],
            unique=False,
        )

    op.create_table(
        "open_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erp_account_id", sa.Integer(), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("open_amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("applies_to", sa.String(length=64), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('INVOICE', 'CREDIT_NOTE', 'PAYMENT')", name=op.f("ck_open_items_kind")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_open_items_amount_nonneg")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_open_items_currency_len")),
        sa.CheckConstraint(
            "open_amount >= 0 AND open_amount <= amount", name=op.f("ck_open_items_open_amount")
        ),
        sa.ForeignKeyConstraint(
            ["erp_account_id"],
            ["erp_accounts.id"],
            name=op.f("fk_open_items_erp_account_id_erp_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_open_items_import_id_imports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_items")),
        sa.UniqueConstraint("erp_account_id", "document_number", name="uq_open_items_document"),
    )
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_open_items_erp_account_id"), ["erp_account_id"], unique=False
        )

    op.create_table(
        "cover_tranches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount", tci_gateway.ledger.types.ExactDecimal(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_cover_tranches_amount_nonneg")),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on >= valid_from", name=op.f("ck_cover_tranches_dates")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["cover_decisions.id"],
            name=op.f("fk_cover_tranches_decision_id_cover_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cover_tranches")),
        sa.UniqueConstraint("decision_id", "position", name="uq_cover_tranches_position"),
    )
    with op.batch_alter_table("cover_tranches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cover_tranches_decision_id"), ["decision_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cover_tranches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cover_tranches_decision_id"))

    op.drop_table("cover_tranches")
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open_items_erp_account_id"))

    op.drop_table("open_items")
    with op.batch_alter_table("cover_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_cover_decisions_policy_buyer")
        batch_op.drop_index(batch_op.f("ix_cover_decisions_buyer_id"))

    op.drop_table("cover_decisions")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_kind"))
        batch_op.drop_index(batch_op.f("ix_alerts_buyer_id"))

    op.drop_table("alerts")
    op.drop_table("sync_runs")
    with op.batch_alter_table("erp_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erp_accounts_policy_id"))
        batch_op.drop_index(batch_op.f("ix_erp_accounts_buyer_id"))

    op.drop_table("erp_accounts")
    with op.batch_alter_table("buyer_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buyer_identifiers_buyer_id"))

    op.drop_table("buyer_identifiers")
    op.drop_table("policies")
    op.drop_table("imports")
    op.drop_table("buyers")
