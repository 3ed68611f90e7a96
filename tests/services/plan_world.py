"""A small credit world for the nightly review's tests (H5): one policy, buyers with ERP
accounts, invoices with settled dates, plans, credit lines and step applications written
directly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy, PolicyTerms
from tci_gateway.ledger import credit as credit_repo
from tci_gateway.ledger.buyers import create_buyer, upsert_account
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    CreditApplicationRow,
    LineKind,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids, upsert_policies
from tci_gateway.ledger.tables import ErpAccountRow, OpenItemRow
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.progressive import start_plan

D = Decimal
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
START = date(2026, 1, 5)
DCL = D(50000)


def make_policy(key: str = "main", dcl: Decimal = DCL) -> Policy:
    zero = Money(D(0), "EUR")
    terms = PolicyTerms(
        currency="EUR",
        insured_percentage=D(90),
        max_credit_period_days=120,
        max_extension_days=60,
        overdue_notification_days=90,
        waiting_days=180,
        claim_filing_days=360,
        discretionary_limit=Money(dcl, "EUR"),
        claim_threshold=zero,
        deductible=zero,
        timezone="UTC",
    )
    return Policy(key=key, insurer="atradius", terms=terms, external_ref={"customer_id": "1"})


class World:
    """The ledger, the policies and the ids of what was written."""

    def __init__(self, ledger: Ledger, policies: dict[str, Policy]) -> None:
        self.ledger = ledger
        self.policies = policies
        self.policy_id = 0
        self.buyers: dict[str, int] = {}

    def buyer(self, name: str) -> int:
        with self.ledger.unit_of_work() as s:
            bid = create_buyer(s, name, "FR", NOW)
            upsert_account(s, f"ACC-{name}", name, bid, self.policy_id, NOW)
        self.buyers[name] = bid
        return bid

    def invoice(
        self,
        buyer: str,
        number: str,
        amount: Decimal,
        *,
        issued: date,
        due: date | None,
        settled: date | None = None,
        open_amount: Decimal | None = None,
        kind: str = "INVOICE",
    ) -> None:
        if open_amount is None:
            open_amount = D(0) if settled else amount
        with self.ledger.unit_of_work() as s:
            account = s.scalar(
                select(ErpAccountRow.id).where(ErpAccountRow.buyer_id == self.buyers[buyer])
            )
            s.add(
                OpenItemRow(
                    erp_account_id=account,
                    document_number=number,
                    kind=kind,
                    currency="EUR",
                    amount=amount,
                    open_amount=open_amount,
                    document_date=issued,
                    due_date=due,
                    updated_at=NOW,
                    settled_on=settled,
                )
            )

    def plan(self, buyer: str, target: Decimal, current: Decimal, *, day: date = START) -> int:
        with self.ledger.unit_of_work() as s:
            return start_plan(
                s,
                buyer_id=self.buyers[buyer],
                policy_id=self.policy_id,
                target=target,
                currency="EUR",
                day=day,
                now=NOW,
                current=current,
            )

    def line(self, buyer: str, kind: LineKind, amount: Decimal, *, day: date = START) -> None:
        with self.ledger.unit_of_work() as s:
            credit_repo.set_line(
                s,
                buyer_id=self.buyers[buyer],
                policy_id=self.policy_id,
                kind=kind,
                amount=amount,
                currency="EUR",
                day=day,
                approved_by="test",
                reason="test line",
                now=NOW,
            )


def build(ledger: Ledger, *, dcl: Decimal = DCL) -> World:
    policies = {"main": make_policy(dcl=dcl)}
    world = World(ledger, policies)
    with ledger.unit_of_work() as s:
        world.policy_id = upsert_policies(s, policies, NOW)["main"]
    return world


class FakeApply:
    """Stands for ``apply_for_credit``: records the call and writes the application in
    the given state (granted at the amount applied for, unless ``granted`` says less)."""

    def __init__(self, state: ApplicationState, granted: Decimal | None = None) -> None:
        self.state = state
        self.granted = granted
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        ledger: Ledger,
        policies: Mapping[str, Policy],
        bureaus: Mapping[str, BureauAdapter],
        options: CreditOptions,
        *,
        buyer: str,
        amount: Money,
        policy: str | None,
        requested_by: str,
        channel: str,
        now: datetime,
        plan_id: int | None = None,
    ) -> str:
        self.calls.append({"buyer": buyer, "amount": amount, "policy": policy, "plan": plan_id})
        with ledger.reading() as s:
            pid = policy_ids(s)[policy or "main"]
        granted = (
            (self.granted or amount.amount) if self.state is ApplicationState.GRANTED else None
        )
        return add_application(
            ledger,
            buyer_id=int(buyer),
            policy_id=pid,
            amount=amount.amount,
            state=self.state,
            granted=granted,
            plan_id=plan_id,
            channel=channel,
            now=now,
        )


def add_application(
    ledger: Ledger,
    *,
    buyer_id: int,
    policy_id: int,
    amount: Decimal,
    state: ApplicationState,
    granted: Decimal | None,
    plan_id: int | None,
    channel: str = "progressive",
    now: datetime = NOW,
) -> str:
    """An application written as the application service would leave it."""
    with ledger.unit_of_work() as s:
        row = CreditApplicationRow(
            reference="pending",
            buyer_id=buyer_id,
            policy_id=policy_id,
            amount=amount,
            currency="EUR",
            requested_by="test",
            channel=channel,
            tier="growth",
            state=state,
            route=ApplicationRoute.DCL
            if state is ApplicationState.GRANTED
            else ApplicationRoute.INSURER,
            scorecard={},
            conditions=[],
            evidence={},
            granted_amount=granted,
            plan_id=plan_id,
            received_at=now,
            decided_at=now if state is ApplicationState.GRANTED else None,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        row.reference = f"CA-TEST-{row.id:06d}"
        return row.reference


def set_application(
    ledger: Ledger, reference: str, state: ApplicationState, granted: Decimal | None
) -> None:
    """The insurer (or a person) decided the application."""
    with ledger.unit_of_work() as s:
        row = s.scalar(
            select(CreditApplicationRow).where(CreditApplicationRow.reference == reference)
        )
        assert row is not None
        row.state, row.granted_amount = state, granted
