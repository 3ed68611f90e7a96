"""unlisted checks: what a sync's cover_missing check found, kept for a rerun

``unlisted_checks`` (per policy, the run whose staged snapshot was checked) and
``unlisted_buyers`` (the buyers with cover history under the policy that snapshot did
not list): see ``ledger.unlisted_tables``. A run whose snapshot hashes the same as the
checked one reads the buyers found instead of walking the whole portfolio again.

The triggers below delete a policy's check when an input of it changes: an insurer id
(scheme ``INSURER``) added, changed or deleted deletes every policy's check; a cover
version changed or deleted (a buyer merge moves them) deletes its policy's. A version
added needs none: a run compares with a baseline only while no version of the policy
was recorded after it (``ledger.staging.baseline_run``), and a run that reconciles
records its own check. On PostgreSQL they first take the limit writers' lock
(``limit_writers_lock()``, migration 0014), which the sync also holds while it checks
and records: a change committed during the check deletes what it recorded, never the
other way round.

SQLite drops a table's triggers when it is rebuilt: a later migration that rebuilds
``buyer_identifiers`` or ``cover_decisions`` must create them again
(tests/services/test_unlisted_checks.py fails otherwise).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_INSURER_NEW = "NEW.scheme = 'INSURER'"
_INSURER_OLD = "OLD.scheme = 'INSURER'"
_ALL = "DELETE FROM unlisted_checks;"

_SQLITE = {
    "unlisted_checks_id_added": "AFTER INSERT ON buyer_identifiers FOR EACH ROW "
    f"WHEN {_INSURER_NEW} BEGIN {_ALL} END",
    "unlisted_checks_id_changed": "AFTER UPDATE ON buyer_identifiers FOR EACH ROW "
    f"WHEN ({_INSURER_OLD} OR {_INSURER_NEW}) AND (OLD.buyer_id IS NOT NEW.buyer_id "
    "OR OLD.scheme IS NOT NEW.scheme OR OLD.issuer IS NOT NEW.issuer "
    f"OR OLD.value IS NOT NEW.value) BEGIN {_ALL} END",
    "unlisted_checks_id_deleted": "AFTER DELETE ON buyer_identifiers FOR EACH ROW "
    f"WHEN {_INSURER_OLD} BEGIN {_ALL} END",
    "unlisted_checks_version_changed": "AFTER UPDATE ON cover_decisions FOR EACH ROW BEGIN "
    "DELETE FROM unlisted_checks WHERE policy_id IN (OLD.policy_id, NEW.policy_id); END",
    "unlisted_checks_version_deleted": "AFTER DELETE ON cover_decisions FOR EACH ROW BEGIN "
    "DELETE FROM unlisted_checks WHERE policy_id = OLD.policy_id; END",
}

_POSTGRES_FUNCTIONS = (
    # Per statement, with its rows as transition tables: a bulk COPY of ids (an ERP
    # buyers file, a sync's new buyers) calls it once, not once per id.
    """CREATE FUNCTION unlisted_checks_clear_ids() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        changed := EXISTS (SELECT 1 FROM new_ids WHERE scheme = 'INSURER');
    ELSIF TG_OP = 'DELETE' THEN
        changed := EXISTS (SELECT 1 FROM old_ids WHERE scheme = 'INSURER');
    ELSE  -- an UPDATE that left every insurer id as it was changes nothing
        changed := EXISTS (
            SELECT buyer_id, scheme, issuer, value FROM new_ids WHERE scheme = 'INSURER'
            EXCEPT SELECT buyer_id, scheme, issuer, value FROM old_ids
        ) OR EXISTS (
            SELECT buyer_id, scheme, issuer, value FROM old_ids WHERE scheme = 'INSURER'
            EXCEPT SELECT buyer_id, scheme, issuer, value FROM new_ids
        );
    END IF;
    IF changed THEN
        PERFORM limit_writers_lock();
        DELETE FROM unlisted_checks;
    END IF;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION unlisted_checks_clear_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM limit_writers_lock();
    DELETE FROM unlisted_checks WHERE policy_id = OLD.policy_id;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM unlisted_checks WHERE policy_id = NEW.policy_id;
    END IF;
    RETURN NULL;
END $$""",
)

_POSTGRES_TRIGGERS = {
    "unlisted_checks_id_added": (
        "buyer_identifiers",
        "AFTER INSERT ON buyer_identifiers REFERENCING NEW TABLE AS new_ids "
        "FOR EACH STATEMENT EXECUTE FUNCTION unlisted_checks_clear_ids()",
    ),
    "unlisted_checks_id_changed": (
        "buyer_identifiers",
        "AFTER UPDATE ON buyer_identifiers REFERENCING OLD TABLE AS old_ids "
        "NEW TABLE AS new_ids FOR EACH STATEMENT EXECUTE FUNCTION unlisted_checks_clear_ids()",
    ),
    "unlisted_checks_id_deleted": (
        "buyer_identifiers",
        "AFTER DELETE ON buyer_identifiers REFERENCING OLD TABLE AS old_ids "
        "FOR EACH STATEMENT EXECUTE FUNCTION unlisted_checks_clear_ids()",
    ),
    "unlisted_checks_version_changed": (
        "cover_decisions",
        "AFTER UPDATE OR DELETE ON cover_decisions FOR EACH ROW "
        "EXECUTE FUNCTION unlisted_checks_clear_versions()",
    ),
}


def upgrade() -> None:
    op.create_table(
        "unlisted_checks",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("listed_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_unlisted_checks_policy_id_policies")
        ),
        sa.ForeignKeyConstraint(
            ["listed_by"], ["sync_runs.id"], name=op.f("fk_unlisted_checks_listed_by_sync_runs")
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_unlisted_checks")),
    )
    op.create_table(
        "unlisted_buyers",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["buyers.id"],
            name=op.f("fk_unlisted_buyers_buyer_id_buyers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_unlisted_buyers_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("policy_id", "buyer_id", name=op.f("pk_unlisted_buyers")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for function in _POSTGRES_FUNCTIONS:
            op.execute(function)
        for name, (_, definition) in _POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")
    else:
        for name, body in _SQLITE.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _) in _POSTGRES_TRIGGERS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION unlisted_checks_clear_versions()")
        op.execute("DROP FUNCTION unlisted_checks_clear_ids()")
    else:
        for name in _SQLITE:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("unlisted_buyers")
    op.drop_table("unlisted_checks")
