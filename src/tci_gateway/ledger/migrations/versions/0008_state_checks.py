"""state checks: cover request outcomes, limit statuses and limit change reasons

Every other state column already had its CHECK (now declared through ``state_enum``, with
the same names and values). The three added here hold values the code has always written:
a decision's normalised status (``CoverStatus``), that or ``NO_COVER`` for a limit in
force, and ``sync`` / ``date`` / ``merge`` for a limit change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen here, as written by this revision: a later value needs a later migration.
_COVER_STATUSES = (
    "PENDING",
    "APPROVED",
    "PARTIALLY_APPROVED",
    "REFUSED",
    "REDUCED",
    "WITHDRAWN",
    "CANCELLED_BY_INSURED",
    "SUPERSEDED",
    "EXPIRED",
    "INDICATION_ONLY",
)
_LIMIT_STATUSES = (*_COVER_STATUSES, "NO_COVER")
_REASONS = ("sync", "date", "merge")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("cover_requests", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_cover_requests_outcome_status"), _in("outcome_status", _COVER_STATUSES)
        )
    with op.batch_alter_table("limits_in_force", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_limits_in_force_status"), _in("status", _LIMIT_STATUSES)
        )
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_limit_changes_reason"), _in("reason", _REASONS)
        )


def downgrade() -> None:
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limit_changes_reason"), type_="check")
    with op.batch_alter_table("limits_in_force", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limits_in_force_status"), type_="check")
    with op.batch_alter_table("cover_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cover_requests_outcome_status"), type_="check")
