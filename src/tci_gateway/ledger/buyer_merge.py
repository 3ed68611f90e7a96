"""Merging two buyers that turned out to be one legal entity.

Everything of the merged buyer moves to the buyer that stays, for EVERY table that points
at ``buyers.id``: the tables are found from the schema's foreign keys
(:func:`buyer_references`), and each has a rule in :data:`RULES` chosen for its
constraints. A table without a rule stops the merge before anything is written (and
tests/services/test_buyer_merge.py fails), so a new table pointing at buyers cannot be
forgotten.

==========================  =============================================================
table                       rule
==========================  =============================================================
erp_accounts, alerts,       moved (no unique key involves the buyer)
cover_requests,
limit_changes
cover_decisions             moved; refused when both buyers have cover under one policy
                            (the insurer holds them as two buyers: a person decides)
claim_cases                 moved; refused when both have an OPEN case under one policy
                            (one open case per policy and buyer; which filings stand is
                            for a person to decide)
buyer_identifiers,          moved, except what the staying buyer already has (same
buyer_parents, assessments  identifier; same parent relation and source; same provider
                            assessment of the same date): the merged buyer's copy goes
limits_in_force             derived data keyed by (policy, buyer): the merged buyer's rows
                            and the staying buyer's rows under the same policies are
                            deleted, to be computed again from the merged cover history
                            (:attr:`MergeResult.limit_policies`)
tier_changes,               moved (the tier history of both; the staying buyer's tier
credit_applications         stays)
credit_lines                moved; refused when both have a line in force under one
                            policy (added up they would grant more than either was
                            granted: a person decides)
credit_plans                moved; refused when both have a live plan under one policy
behaviour_snapshots         (no foreign key: keyed by the buyer id as text) the merged
                            buyer's are deleted; the next nightly run takes the merged
                            buyer's snapshot
==========================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    Column,
    ColumnElement,
    MetaData,
    Table,
    delete,
    exists,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import CaseState
from tci_gateway.ledger.credit_tables import PlanState
from tci_gateway.ledger.tables import (
    Base,
    BehaviourSnapshotRow,
    BuyerRow,
    ClaimCaseRow,
    CoverDecisionRow,
    CreditLineRow,
    CreditPlanRow,
    LimitInForceRow,
    PolicyRow,
)


class MergeConflict(Exception):
    """Two buyers that cannot be merged automatically; the message says why."""


@dataclass(frozen=True)
class MergeResult:
    """What a merge left to do: the limit in force of ``keep`` under ``limit_policies``
    (policy ids) must be computed again from its merged cover history (the date roll
    does it for a buyer with cover history and no stored limit; a service that knows the
    policies does it at once, :func:`tci_gateway.services.identity.merge`)."""

    keep: int
    drop: int
    limit_policies: frozenset[int]


@dataclass(frozen=True)
class _Merge:
    session: Session
    keep: int
    drop: int
    limit_policies: frozenset[int]


Rule = Callable[[_Merge, Table, Column[int]], None]


def buyer_references(metadata: MetaData = Base.metadata) -> set[str]:
    """Every ``table.column`` of the schema with a foreign key to ``buyers.id``."""
    return {
        f"{table.name}.{fk.parent.name}"
        for table in metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == BuyerRow.__tablename__ and fk.column.name == "id"
    }


def unhandled(metadata: MetaData = Base.metadata) -> set[str]:
    """References to buyers that :data:`RULES` does not cover (empty when all are)."""
    return buyer_references(metadata) - RULES.keys()


def _move(m: _Merge, table: Table, column: Column[int]) -> None:
    m.session.execute(update(table).where(column == m.drop).values({column.name: m.keep}))


def _move_unless_kept(*key: str) -> Rule:
    """Move the merged buyer's rows, but delete those whose ``key`` columns equal a row of
    the staying buyer (NULLs equal, as the ledger stores one row for them)."""

    def rule(m: _Merge, table: Table, column: Column[int]) -> None:
        kept = table.alias("kept")
        same = exists().where(
            kept.c[column.name] == m.keep,
            *(kept.c[name].is_not_distinct_from(table.c[name]) for name in key),
        )
        m.session.execute(delete(table).where(column == m.drop, same))
        _move(m, table, column)

    return rule


def _limits_in_force(m: _Merge, table: Table, column: Column[int]) -> None:
    # Keyed by (policy, buyer) and derived from the cover history: never moved, computed
    # again for the staying buyer (MergeResult.limit_policies).
    m.session.execute(delete(table).where(column == m.drop))
    if m.limit_policies:
        m.session.execute(
            delete(table).where(column == m.keep, table.c.policy_id.in_(sorted(m.limit_policies)))
        )


def _forget(m: _Merge, table: Table, column: Column[int]) -> None:
    # A record derived from inputs the merge changes (the moved cover versions and ids
    # invalidate it by trigger): the merged buyer's rows go, nothing is moved.
    m.session.execute(delete(table).where(column == m.drop))


RULES: dict[str, Rule] = {
    "erp_accounts.buyer_id": _move,
    "alerts.buyer_id": _move,
    "cover_requests.buyer_id": _move,
    "limit_changes.buyer_id": _move,
    "cover_decisions.buyer_id": _move,  # after _refuse_conflicts
    "claim_cases.buyer_id": _move,  # after _refuse_conflicts
    "buyer_identifiers.buyer_id": _move_unless_kept("scheme", "issuer", "value"),
    "buyer_parents.buyer_id": _move_unless_kept("relation", "source"),
    "assessments.buyer_id": _move_unless_kept("provider", "provider_id", "as_of"),
    "limits_in_force.buyer_id": _limits_in_force,
    "tier_changes.buyer_id": _move,
    "credit_applications.buyer_id": _move,
    "credit_lines.buyer_id": _move,  # after _refuse_conflicts
    "credit_plans.buyer_id": _move,  # after _refuse_conflicts
    "unlisted_buyers.buyer_id": _forget,
}
"""How a merge treats each reference to ``buyers.id`` (module docstring)."""


def _policy_keys(session: Session, ids: Iterable[int]) -> str:
    keys = session.scalars(select(PolicyRow.key).where(PolicyRow.id.in_(list(ids))))
    return ", ".join(sorted(keys))


def _refuse_conflicts(session: Session, keep: int, drop: int) -> None:
    def shared(column: Column[int], buyer: Column[int], *where: ColumnElement[bool]) -> list[int]:
        """The values of ``column`` (a policy id) both buyers have rows for."""
        of_keep = select(column).where(buyer == keep, *where)
        stmt = select(column).where(buyer == drop, column.in_(of_keep), *where).distinct()
        return list(session.scalars(stmt))

    decisions = cast(Table, CoverDecisionRow.__table__).c
    covered = shared(decisions.policy_id, decisions.buyer_id)
    if covered:
        raise MergeConflict(
            f"buyers {keep} and {drop} both have cover under policy "
            f"{_policy_keys(session, covered)}: the insurer treats them as two buyers"
        )
    cases = cast(Table, ClaimCaseRow.__table__).c
    both_open = shared(cases.policy_id, cases.buyer_id, cases.state == CaseState.OPEN)
    if both_open:
        raise MergeConflict(
            f"buyers {keep} and {drop} both have an open claim case under policy "
            f"{_policy_keys(session, both_open)}: settle or close one first"
        )
    lines = cast(Table, CreditLineRow.__table__).c
    both_lines = shared(lines.policy_id, lines.buyer_id, lines.effective_to.is_(None))
    if both_lines:
        raise MergeConflict(
            f"buyers {keep} and {drop} both have a credit line in force under policy "
            f"{_policy_keys(session, both_lines)}: end one first (tci credit line)"
        )
    plans = cast(Table, CreditPlanRow.__table__).c
    live = plans.state.in_([PlanState.ACTIVE, PlanState.FROZEN])
    both_plans = shared(plans.policy_id, plans.buyer_id, live)
    if both_plans:
        raise MergeConflict(
            f"buyers {keep} and {drop} both have a progressive plan under policy "
            f"{_policy_keys(session, both_plans)}: a person decides which stands"
        )


def merge_buyers(session: Session, keep: int, drop: int) -> MergeResult:
    """Move everything of buyer ``drop`` to ``keep`` and delete ``drop`` (module
    docstring: every table that points at buyers, each by its rule).

    Refused (:class:`MergeConflict`) before anything is written when both have cover
    under one policy or both have an open claim case under one policy."""
    if keep == drop:
        return MergeResult(keep, drop, frozenset())
    missing = unhandled()
    if missing:
        # A programming error, not a user's: a table points at buyers and has no rule.
        raise RuntimeError(f"no merge rule for {', '.join(sorted(missing))}")
    _refuse_conflicts(session, keep, drop)
    decisions = cast(Table, CoverDecisionRow.__table__).c
    limits = cast(Table, LimitInForceRow.__table__).c
    limit_policies = frozenset(
        int(p)
        for p in session.scalars(
            union(
                select(decisions.policy_id).where(decisions.buyer_id == drop),
                select(limits.policy_id).where(limits.buyer_id == drop),
            )
        )
    )
    merge = _Merge(session, keep, drop, limit_policies)
    metadata = Base.metadata
    for ref in sorted(buyer_references(metadata)):
        name, column = ref.split(".")
        table = metadata.tables[name]
        RULES[ref](merge, table, table.c[column])
    session.execute(
        delete(BehaviourSnapshotRow).where(
            BehaviourSnapshotRow.scope == "buyer", BehaviourSnapshotRow.scope_key == str(drop)
        )
    )
    session.execute(delete(BuyerRow).where(BuyerRow.id == drop))
    session.flush()
    return MergeResult(keep, drop, limit_policies)
