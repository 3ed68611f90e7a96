"""The deadline scan: which buyers are overdue under which policy, and what is due.

One grouped query per policy finds each buyer's oldest overdue invoice (its due date
in force, :func:`effective_due_sql`); the clock
(:func:`~tci_gateway.domain.deadlines.deadline_clock`) and the buyer tier's escalation
path (:func:`~tci_gateway.domain.escalation.due_steps`) then say what is due. A buyer
whose open case has notified the insurer runs under the clock of that case instead
(:func:`notified_clocks`): paying the oldest invoice does not push its claim later.
Memory holds one row per overdue buyer, never the open items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import CaseState
from tci_gateway.domain.deadlines import DeadlineClock, DeadlineWarning, deadline_clock, warnings
from tci_gateway.domain.escalation import NOTIFYING, DueStep, EscalationPath, due_steps
from tci_gateway.domain.policy import Policy, PolicyTerms
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import (
    BuyerRow,
    CaseActionRow,
    ClaimCaseRow,
    ErpAccountRow,
    OpenItemRow,
)


@dataclass(frozen=True)
class OverdueBuyer:
    """A buyer with overdue invoices under a policy, with its clock and due steps."""

    policy: Policy
    policy_id: int
    buyer_id: int
    buyer_name: str
    tier: str
    today: date
    clock: DeadlineClock
    overdue_invoices: int
    steps: tuple[DueStep, ...]
    warnings: tuple[DeadlineWarning, ...]
    path: EscalationPath
    lead_days: tuple[int, ...]
    case_id: int | None = None
    """The open case whose clock this is, once that case has notified the insurer."""


def anchored(ob: OverdueBuyer, case_id: int, clock: DeadlineClock) -> OverdueBuyer:
    """``ob`` under the clock of its notified case ``case_id``: once the insurer has been
    notified, a case keeps the clock it was notified under (paying the oldest invoice
    does not push the claim deadlines later)."""
    if clock == ob.clock:
        return replace(ob, case_id=case_id)
    return replace(
        ob,
        case_id=case_id,
        clock=clock,
        steps=tuple(due_steps(ob.path, ob.policy.terms, clock, ob.today)),
        warnings=tuple(warnings(clock, ob.today, ob.lead_days)),
    )


def notified_clocks(
    session: Session, policy_id: int, terms: PolicyTerms
) -> dict[int, tuple[int, DeadlineClock]]:
    """The clock each open case of the policy that has notified the insurer runs under
    (the deadlines stored on the case when it was notified), by buyer id."""
    notified = select(CaseActionRow.case_id).where(CaseActionRow.action.in_(NOTIFYING))
    stmt = select(ClaimCaseRow).where(
        ClaimCaseRow.policy_id == policy_id,
        ClaimCaseRow.state == CaseState.OPEN,
        ClaimCaseRow.id.in_(notified),
    )
    return {
        row.buyer_id: (
            row.id,
            DeadlineClock(
                original_due_date=row.due_date,
                due_date=row.due_date,
                cover_stop=row.cover_stop,
                notify_by=row.notify_by,
                date_of_loss=row.date_of_loss,
                claim_by=row.claim_by,
                timezone=terms.timezone,
            ),
        )
        for row in session.scalars(stmt)
    }


def effective_due_sql(terms: PolicyTerms) -> ColumnElement[date | None]:
    """An open item's due date in force, in SQL: a mirror of
    :func:`~tci_gateway.domain.deadlines.effective_due_date` (the extension moves the
    date only when the policy says so and only later; a NULL on either side compares
    as unknown, so the ERP's date stands). tests/services/test_effective_due_date.py
    proves the two agree on every combination, on SQLite and PostgreSQL."""
    if terms.extension_moves_deadlines:
        return case(
            (OpenItemRow.extended_due_date > OpenItemRow.due_date, OpenItemRow.extended_due_date),
            else_=OpenItemRow.due_date,
        )
    return OpenItemRow.due_date.expression


def _overdue(policy: Policy, policy_id: int, today: date) -> tuple[ColumnElement[bool], ...]:
    """Open invoices of the policy's ERP accounts past their due date in force: in SQL
    what :func:`~tci_gateway.domain.deadlines.is_overdue` says."""
    return (
        ErpAccountRow.policy_id == policy_id,
        OpenItemRow.kind == ItemKind.INVOICE.value,
        OpenItemRow.open_amount > 0,
        effective_due_sql(policy.terms) < today,
    )


def _known_policies(
    session: Session, policies: Mapping[str, Policy]
) -> Iterator[tuple[Policy, int]]:
    """The configured policies the ledger knows, with their ids, in key order."""
    ids = policy_ids(session)
    for key, policy in sorted(policies.items()):
        if key in ids:
            yield policy, ids[key]


def scan_policy(
    session: Session,
    policy: Policy,
    policy_id: int,
    paths: Mapping[str, EscalationPath],
    default_tier: str,
    today: date,
    lead_days: tuple[int, ...],
    *,
    after_buyer: int | None = None,
) -> Iterator[OverdueBuyer]:
    """Every buyer with an open invoice past its due date under ``policy`` on ``today``
    (the business date in the policy's time zone), in buyer order; a buyer whose open
    case has notified the insurer under the clock of that case. ``after_buyer``: only
    the buyers with a greater id (a keyset page)."""
    due = effective_due_sql(policy.terms)
    notified = notified_clocks(session, policy_id, policy.terms)
    stmt = (
        select(
            ErpAccountRow.buyer_id,
            BuyerRow.name,
            BuyerRow.tier,
            func.min(due),
            func.count(),
        )
        .select_from(OpenItemRow)
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
        .where(*_overdue(policy, policy_id, today))
        .group_by(ErpAccountRow.buyer_id, BuyerRow.name, BuyerRow.tier)
        .order_by(ErpAccountRow.buyer_id)
    )
    if after_buyer is not None:
        stmt = stmt.where(ErpAccountRow.buyer_id > after_buyer)
    # Clock, due steps and warnings depend only on (tier, oldest due date) for one policy
    # and day: a few thousand distinct pairs for a hundred thousand overdue buyers.
    cache: dict[
        tuple[str, date], tuple[DeadlineClock, tuple[DueStep, ...], tuple[DeadlineWarning, ...]]
    ]
    cache = {}
    for buyer_id, name, tier, oldest_due, count in session.execute(stmt):
        assert oldest_due is not None  # the WHERE clause compares it with a date
        tier_name = tier if tier is not None and tier in paths else default_tier
        key = (tier_name, oldest_due)
        known = cache.get(key)
        if known is None:
            clock = deadline_clock(policy.terms, oldest_due)
            known = cache[key] = (
                clock,
                tuple(due_steps(paths[tier_name], policy.terms, clock, today)),
                tuple(warnings(clock, today, lead_days)),
            )
        ob = OverdueBuyer(
            policy=policy,
            policy_id=policy_id,
            buyer_id=buyer_id,
            buyer_name=name,
            tier=tier_name,
            today=today,
            clock=known[0],
            overdue_invoices=count,
            steps=known[1],
            warnings=known[2],
            path=paths[tier_name],
            lead_days=lead_days,
        )
        case_clock = notified.get(buyer_id)
        yield ob if case_clock is None else anchored(ob, *case_clock)


def scan(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    paths: Mapping[str, EscalationPath],
    *,
    default_tier: str,
    now: datetime,
    lead_days: tuple[int, ...] = (14, 7, 2),
) -> list[OverdueBuyer]:
    """The overdue buyers of every configured policy known to the ledger."""
    found: list[OverdueBuyer] = []
    with ledger.unit_of_work() as session:
        for policy, policy_id in _known_policies(session, policies):
            today = policy.terms.business_date(now)
            found.extend(
                scan_policy(session, policy, policy_id, paths, default_tier, today, lead_days)
            )
    return found


@dataclass(frozen=True)
class OverdueInvoiceClock:
    """One overdue invoice with its own deadline clock."""

    policy: str
    buyer_id: int
    buyer_name: str
    erp_account: str
    document_number: str
    today: date
    clock: DeadlineClock


def invoice_clocks(
    ledger: Ledger, policies: Mapping[str, Policy], *, now: datetime
) -> Iterator[OverdueInvoiceClock]:
    """Every open invoice past its due date, each with its own clock (streamed, in
    policy, buyer and due-date order)."""
    with ledger.unit_of_work() as session:
        for policy, policy_id in _known_policies(session, policies):
            today = policy.terms.business_date(now)
            due = effective_due_sql(policy.terms)
            stmt = (
                select(
                    ErpAccountRow.buyer_id,
                    BuyerRow.name,
                    ErpAccountRow.account,
                    OpenItemRow.document_number,
                    OpenItemRow.due_date,
                    OpenItemRow.extended_due_date,
                )
                .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
                .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
                .where(*_overdue(policy, policy_id, today))
                .order_by(ErpAccountRow.buyer_id, due, OpenItemRow.document_number)
                .execution_options(yield_per=5000)
            )
            for buyer_id, name, account, number, original, extended in session.execute(stmt):
                assert original is not None  # NULL due dates never compare as overdue
                yield OverdueInvoiceClock(
                    policy.key,
                    buyer_id,
                    name,
                    account,
                    number,
                    today,
                    deadline_clock(policy.terms, original, extended),
                )
