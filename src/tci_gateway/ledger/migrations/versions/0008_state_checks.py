"""state checks: cover request outcomes, limit statuses, limit change reasons, filing statuses

Every other state column already had its CHECK (now declared through ``state_enum``, with
the same names and values). The four added here hold values the code has always written:
a decision's normalised status (``CoverStatus``) for a cover request's outcome, that or
``NO_COVER`` for a limit in force, ``sync`` / ``date`` / ``merge`` for a limit change, and
the normalised case status (``InsurerCaseStatus``) of a filed case action.

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
_CASE_STATUSES = (
    "SUBMITTED",
    "ACKNOWLEDGED",
    "DOCUMENTS_REQUESTED",
    "ACCEPTED",
    "PARTIALLY_ACCEPTED",
    "REJECTED",
    "PAID",
    "CLOSED",
)


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
    with op.batch_alter_table("case_actions", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_case_actions_insurer_status"), _in("insurer_status", _CASE_STATUSES)
        )


def downgrade() -> None:
    with op.batch_alter_table("case_actions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_actions_insurer_status"), type_="check")
    with op.batch_alter_table("limit_changes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limit_changes_reason"), type_="check")
    with op.batch_alter_table("limits_in_force", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limits_in_force_status"), type_="check")
    with op.batch_alter_table("cover_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cover_requests_outcome_status"), type_="check")
