"""Every overdue invoice with its own deadline clock (``tci deadlines --invoices``),
streamed: the deadline scan's per-invoice view (:mod:`tci_gateway.services.deadlines`
gives one row per buyer)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from tci_gateway.domain.deadlines import DeadlineClock, deadline_clock
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, OpenItemRow
from tci_gateway.services.deadlines import effective_due_sql, known_policies, overdue_where


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
        for policy, policy_id in known_policies(session, policies):
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
                .where(*overdue_where(policy, policy_id, today))
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
