"""nightly: fx rates, job runs, scheduler lease, sync staging

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tci_gateway.ledger.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate", tci_gateway.ledger.types.ExactDecimal(scale=8), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("imported_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "length(base) = 3 AND length(quote) = 3", name=op.f("ck_fx_rates_codes")
        ),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint("rate_date", "base", "quote", name="uq_fx_rates_key"),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("lease_until", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", tci_gateway.ledger.types.UTCDateTime(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "state IN ('RUNNING', 'SUCCEEDED', 'FAILED')", name=op.f("ck_job_runs_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "business_date", name="uq_job_runs_key"),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("lease_until", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "sync_staging",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_name", sa.String(length=300), nullable=False),
        sa.Column("buyer_country", sa.String(length=2), nullable=True),
        sa.Column("fetched_at", tci_gateway.ledger.types.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("normalised", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_staging_sync_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_staging")),
    )
    with op.batch_alter_table("sync_staging", schema=None) as batch_op:
        batch_op.create_index("ix_sync_staging_run", ["sync_run_id", "position"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_staging", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_staging_run")

    op.drop_table("sync_staging")
    op.drop_table("scheduler_leases")
    op.drop_table("job_runs")
    op.drop_table("fx_rates")
