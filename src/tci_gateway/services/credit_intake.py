"""The first step of a credit application: the buyer resolved, the policy chosen, the
application written (``received``) and committed, and what the ledger already knows
gathered (the buyer's ids at the bureaus and their stored assessments, adverse
information, insurer refusals, the insurer's limit in force) before any bureau is asked
(:mod:`tci_gateway.services.credit_apply`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import credit as repo
from tci_gateway.ledger.credit_tables import ApplicationState, CreditApplicationRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services.cover_requests import find_buyer
from tci_gateway.services.credit_options import CreditOptions


def _bad(column: str, reason: str) -> InputError:
    return InputError([RecordError("credit application", None, column, reason)])


@dataclass
class Start:
    """What the first transaction found and wrote."""

    app_id: int
    reference: str
    buyer_id: int
    buyer_key: str
    name: str
    country: str
    tier: str
    policy: Policy
    policy_id: int
    day: date
    provider_ids: dict[str, str | None]
    stored: dict[str, repo.StoredAssessment]
    adverse: list[str]
    refusals: list[str]
    insurer_limit: Decimal | None


def pick_policy(
    session: Session, policies: Mapping[str, Policy], buyer_id: int, key: str | None
) -> Policy:
    if key is not None:
        if key not in policies:
            known = ", ".join(sorted(policies)) or "none"
            raise _bad("policy", f"unknown policy {key!r} (configured: {known})")
        return policies[key]
    _, policy_id = repo.account_of(session, buyer_id)
    account_policy = repo.policy_key(session, policy_id) if policy_id is not None else None
    if account_policy is not None and account_policy in policies:
        return policies[account_policy]
    if len(policies) == 1:
        return next(iter(policies.values()))
    known = ", ".join(sorted(policies)) or "none"
    raise _bad("policy", f"the buyer's ERP account names no configured policy: give one ({known})")


def open_application(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    bureaus: Mapping[str, BureauAdapter],
    options: CreditOptions,
    *,
    buyer: str,
    amount: Money,
    policy_key: str | None,
    requested_by: str,
    channel: str,
    now: datetime,
    plan_id: int | None,
) -> Start:
    if amount.amount <= 0:
        raise _bad("amount", "the amount must be positive")
    with ledger.unit_of_work() as session:
        buyer_id, name = find_buyer(session, buyer)
        policy = pick_policy(session, policies, buyer_id, policy_key)
        if amount.currency != policy.terms.currency:
            raise _bad(
                "currency",
                f"policy {policy.key} is in {policy.terms.currency}, not {amount.currency}",
            )
        policy_id = upsert_policies(session, {policy.key: policy}, now)[policy.key]
        row = session.get_one(BuyerRow, buyer_id)
        tier = row.tier or options.default_tier
        day = policy.terms.business_date(now)
        app = CreditApplicationRow(
            reference=f"pending-{buyer_id}-{now.timestamp()}",
            buyer_id=buyer_id,
            policy_id=policy_id,
            amount=amount.amount,
            currency=amount.currency,
            requested_by=requested_by[:64],
            channel=channel[:16],
            tier=tier,
            state=ApplicationState.RECEIVED,
            scorecard={},
            conditions=[],
            evidence={},
            plan_id=plan_id,
            received_at=now,
            updated_at=now,
        )
        session.add(app)
        session.flush()
        app.reference = repo.reference_of(app.id, day)
        detail = {"amount": f"{amount.amount:f}", "currency": amount.currency}
        detail |= {"requested_by": requested_by, "channel": channel, "policy": policy.key}
        repo.add_event(session, app.id, "received", now, detail)
        stored = repo.latest_assessments(session, buyer_id)
        idents = repo.identifiers_of(session, buyer_id)
        provider_ids: dict[str, str | None] = {}
        for bureau in bureaus:
            scheme = options.bureau_id_schemes.get(bureau)
            known = stored[bureau].provider_id if bureau in stored else None
            provider_ids[bureau] = known or (idents.get(scheme) if scheme else None)
        account, _ = repo.account_of(session, buyer_id)
        months = options.dcl.insurer_refusal_months
        return Start(
            app_id=app.id,
            reference=app.reference,
            buyer_id=buyer_id,
            buyer_key=account or str(buyer_id),
            name=name,
            country=row.country,
            tier=tier,
            policy=policy,
            policy_id=policy_id,
            day=day,
            provider_ids=provider_ids,
            stored={b: s for b, s in stored.items() if b in bureaus},
            adverse=repo.adverse_information(
                session,
                buyer_id,
                day,
                months=options.dcl.adverse_months,
                max_extension_days=policy.terms.max_extension_days,
                policy_id=policy_id,
            ),
            refusals=repo.insurer_refusals(session, buyer_id, day, months=months) if months else [],
            insurer_limit=repo.insurer_limit(session, buyer_id, policy_id),
        )
