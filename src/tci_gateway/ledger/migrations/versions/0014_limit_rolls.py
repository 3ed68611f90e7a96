"""limit rolls: the business date through which each policy's limits are rolled

``limit_rolls`` holds, per policy, the business date of its last completed date roll
while that roll still holds: every buyer with cover history has a stored limit computed
on that date that does not end by it. A roll of that date then has nothing to do and
returns without reading the limits (``services.limits.roll_limits``).

The limit writers' code keeps it true (the roll sets it in its own transaction; a sync or
a merge that stores limits of another date deletes it). The triggers below keep it true
for what changes the inputs of the limits outside that code: a cover version recorded
outside a sync run (a sync run's versions are refreshed in the run's own transaction), a
version or a tranche changed or deleted, a stored limit deleted (a buyer merge). Each
deletes the policy's row, and the next roll reads everything again. On PostgreSQL they
first take the limit writers' lock, as the roll does, so a change committed while a roll
runs cannot be overwritten by the roll's record (SQLite has one writer at a time).

SQLite drops a table's triggers when it is rebuilt (``batch_alter_table`` on
``cover_decisions``, ``cover_tranches`` or ``limits_in_force``): a later migration that
rebuilds one must create them again (tests/services/test_limit_rolls.py fails
otherwise).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_CLEAR_NEW = "DELETE FROM limit_rolls WHERE policy_id = NEW.policy_id;"
_CLEAR_OLD = "DELETE FROM limit_rolls WHERE policy_id = OLD.policy_id;"


_OF_DECISION = {
    "OLD": "DELETE FROM limit_rolls WHERE policy_id IN "
    "(SELECT policy_id FROM cover_decisions WHERE id = OLD.decision_id);",
    "NEW": "DELETE FROM limit_rolls WHERE policy_id IN "
    "(SELECT policy_id FROM cover_decisions WHERE id = NEW.decision_id);",
}


_SQLITE = (
    "CREATE TRIGGER limit_rolls_version_added AFTER INSERT ON cover_decisions "
    f"FOR EACH ROW WHEN NEW.sync_run_id IS NULL BEGIN {_CLEAR_NEW} END",
    "CREATE TRIGGER limit_rolls_version_changed AFTER UPDATE ON cover_decisions "
    f"FOR EACH ROW BEGIN {_CLEAR_OLD} {_CLEAR_NEW} END",
    "CREATE TRIGGER limit_rolls_version_deleted AFTER DELETE ON cover_decisions "
    f"FOR EACH ROW BEGIN {_CLEAR_OLD} END",
    "CREATE TRIGGER limit_rolls_tranche_changed AFTER UPDATE ON cover_tranches "
    f"FOR EACH ROW BEGIN {_OF_DECISION['OLD']} {_OF_DECISION['NEW']} END",
    "CREATE TRIGGER limit_rolls_tranche_deleted AFTER DELETE ON cover_tranches "
    f"FOR EACH ROW BEGIN {_OF_DECISION['OLD']} END",
    "CREATE TRIGGER limit_rolls_limit_deleted AFTER DELETE ON limits_in_force "
    f"FOR EACH ROW BEGIN {_CLEAR_OLD} END",
)
_SQLITE_NAMES = (
    "limit_rolls_version_added",
    "limit_rolls_version_changed",
    "limit_rolls_version_deleted",
    "limit_rolls_tranche_changed",
    "limit_rolls_tranche_deleted",
    "limit_rolls_limit_deleted",
)

_POSTGRES = (
    # The limit writers' lock (ledger.limits.lock_writers: ledger.locks.lock_key of
    # "<schema>:limits_in_force"), so that a trigger waits for a roll in progress to commit
    # and deletes what it recorded, never the other way round. ("\\:": a colon, not a
    # bind parameter of op.execute's text().)
    """CREATE FUNCTION limit_writers_lock() RETURNS void LANGUAGE sql AS $$
SELECT pg_advisory_xact_lock(('x' || encode(substring(sha256(convert_to(
    'tci_gateway.lock:' || current_schema() || '\\:limits_in_force', 'UTF8')) FROM 1 FOR 8),
    'hex'))::bit(64)::bigint)
$$""",
    """CREATE FUNCTION limit_rolls_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM limit_writers_lock();
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM limit_rolls WHERE policy_id = OLD.policy_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        DELETE FROM limit_rolls WHERE policy_id = NEW.policy_id;
    END IF;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION limit_rolls_clear_tranche() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM limit_writers_lock();
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM limit_rolls WHERE policy_id IN
            (SELECT policy_id FROM cover_decisions WHERE id = OLD.decision_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        DELETE FROM limit_rolls WHERE policy_id IN
            (SELECT policy_id FROM cover_decisions WHERE id = NEW.decision_id);
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER limit_rolls_version_added AFTER INSERT ON cover_decisions "
    "FOR EACH ROW WHEN (NEW.sync_run_id IS NULL) EXECUTE FUNCTION limit_rolls_clear()",
    "CREATE TRIGGER limit_rolls_version_changed AFTER UPDATE OR DELETE ON cover_decisions "
    "FOR EACH ROW EXECUTE FUNCTION limit_rolls_clear()",
    "CREATE TRIGGER limit_rolls_tranche_changed AFTER UPDATE OR DELETE ON cover_tranches "
    "FOR EACH ROW EXECUTE FUNCTION limit_rolls_clear_tranche()",
    "CREATE TRIGGER limit_rolls_limit_deleted AFTER DELETE ON limits_in_force "
    "FOR EACH ROW EXECUTE FUNCTION limit_rolls_clear()",
)


def upgrade() -> None:
    op.create_table(
        "limit_rolls",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_limit_rolls_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_limit_rolls")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER limit_rolls_limit_deleted ON limits_in_force")
        op.execute("DROP TRIGGER limit_rolls_tranche_changed ON cover_tranches")
        op.execute("DROP TRIGGER limit_rolls_version_changed ON cover_decisions")
        op.execute("DROP TRIGGER limit_rolls_version_added ON cover_decisions")
        op.execute("DROP FUNCTION limit_rolls_clear_tranche()")
        op.execute("DROP FUNCTION limit_rolls_clear()")
        op.execute("DROP FUNCTION limit_writers_lock()")
    else:
        for name in _SQLITE_NAMES:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("limit_rolls")
