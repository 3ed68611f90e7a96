"""The credit routes' reading side: a service's application, statistics, tier change,
credit lines and plan turned into the response models of
:mod:`tci_gateway.api.routes.credit_models` (kept apart so the routes stay short)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from tci_gateway.api.context import ApiContext
from tci_gateway.api.problems import FieldError, Problem
from tci_gateway.api.routes.buyer_models import MAX_ID
from tci_gateway.api.routes.buyers import reader
from tci_gateway.api.routes.credit_models import (
    ApplicationOut,
    BehaviourOut,
    BuyerCreditOut,
    ConditionOut,
    CreditLineOut,
    EventOut,
    PlanOut,
    ScorecardOut,
    StatsOut,
    StatsRowOut,
    TierChangeOut,
    TierOut,
)
from tci_gateway.domain.money import amount_text
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, PolicyRow
from tci_gateway.ledger.tiers import TierChange
from tci_gateway.services import buyer_detail, progressive
from tci_gateway.services.behaviour import buyer_behaviour
from tci_gateway.services.credit_lines import credit_lines
from tci_gateway.services.credit_stats import CreditStats, StatsRow
from tci_gateway.services.credit_views import ApplicationView
from tci_gateway.services.tiers import tier_history
from tci_gateway.wiring import known_tiers as wiring_known_tiers


def bad(field: str, reason: str) -> Problem:
    return Problem(422, reason, errors=[FieldError(field=field, reason=reason)])


def _money(value: Any, currency: str) -> str | None:
    return None if value is None else amount_text(value, currency)


def application_out(v: ApplicationView) -> ApplicationOut:
    cur = v.currency
    hours = v.hours_to_decision
    return ApplicationOut(
        reference=v.reference,
        url=f"/v1/credit/applications/{v.reference}",
        buyer_id=v.buyer_id,
        buyer_name=v.buyer_name,
        policy=v.policy,
        amount=amount_text(v.amount, cur),
        currency=cur,
        tier=v.tier,
        state=v.state,
        route=v.route,
        reason=v.reason,
        granted_amount=_money(v.granted_amount, cur),
        provisional_amount=_money(v.provisional_amount, cur),
        cover_request_id=v.cover_request_id,
        cover_request_reference=v.cover_request_reference,
        cover_request_state=v.cover_request_state,
        scorecard=ScorecardOut.of(v.scorecard),
        conditions=[ConditionOut.of(c) for c in v.conditions],
        evidence=dict(v.evidence),
        requested_by=v.requested_by,
        channel=v.channel,
        plan_id=v.plan_id,
        received_at=v.received_at,
        decided_at=v.decided_at,
        decided_by=v.decided_by,
        hours_to_decision=None if hours is None else f"{hours:f}",
        updated_at=v.updated_at,
        events=[EventOut(step=e.step, at=e.at, detail=dict(e.detail)) for e in v.events],
    )


def audit_detail(v: ApplicationView) -> dict[str, Any]:
    """What an audit row says of an application (amounts as strings)."""
    return {
        "reference": v.reference,
        "buyer_id": v.buyer_id,
        "policy": v.policy,
        "amount": amount_text(v.amount, v.currency),
        "currency": v.currency,
        "state": v.state,
        "route": v.route,
        "granted_amount": _money(v.granted_amount, v.currency),
        "cover_request_id": v.cover_request_id,
    }


def _hours(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


def _stats_row(r: StatsRow) -> StatsRowOut:
    return StatsRowOut(
        tier=r.tier,
        route=r.route,
        count=r.count,
        decided=r.decided,
        pending=r.pending,
        p50_hours=_hours(r.p50_hours),
        p90_hours=_hours(r.p90_hours),
        mean_hours=_hours(r.mean_hours),
    )


def stats_out(stats: CreditStats, since: date | None) -> StatsOut:
    return StatsOut(
        since=since,
        rows=[_stats_row(r) for r in stats.rows],
        total=_stats_row(stats.total) if stats.total is not None else None,
    )


# -- tiers ---------------------------------------------------------------------------------


def known_tiers(ctx: ApiContext) -> frozenset[str]:
    """The tiers a person may pin: the escalation tiers and the credit tiers."""
    return wiring_known_tiers(ctx.settings)


def resolve_buyer(ctx: ApiContext, buyer: str) -> int:
    """The ledger id of ``buyer`` as every command reads it (an ERP account, else a
    ledger buyer id); 404 when there is none."""
    with ctx.ledger.reading() as session:
        found = session.scalar(
            select(ErpAccountRow.buyer_id).where(ErpAccountRow.account == buyer).limit(1)
        )
        if found is None and buyer.isascii() and buyer.isdigit() and int(buyer) <= MAX_ID:
            found = session.scalar(select(BuyerRow.id).where(BuyerRow.id == int(buyer)))
    if found is None:
        raise Problem(404, f"no ERP account or buyer id {buyer!r} in the ledger")
    return int(found)


def check_buyer(ctx: ApiContext, key: ApiKey, buyer_id: int) -> BuyerRow:
    """The buyer, 404 when there is none or the key may not see it."""
    with ctx.ledger.reading() as session:
        try:
            return buyer_detail.check_visible(session, reader(ctx, key), buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise Problem(404, str(exc).strip("'\"")) from None


def change_out(c: TierChange) -> TierChangeOut:
    return TierChangeOut(
        business_date=c.date,
        old_tier=c.old,
        new_tier=c.new,
        reason=c.reason,
        source=c.source,
        changed_by=c.by,
        at=c.at,
        details=dict(c.details),
    )


def tier_out(ctx: ApiContext, buyer_id: int, change: TierChange | None) -> TierOut:
    with ctx.ledger.reading() as session:
        row = session.get_one(BuyerRow, buyer_id)
        tier, pinned = row.tier, row.tier_pinned
    return TierOut(
        buyer_id=buyer_id,
        tier=tier or ctx.settings.escalation.default_tier,
        pinned=pinned,
        change=change_out(change) if change is not None else None,
    )


# -- a buyer's credit position ---------------------------------------------------------------


def _plan_out(p: progressive.PlanView) -> PlanOut:
    cur = p.currency
    return PlanOut(
        id=p.id,
        policy=p.policy,
        currency=cur,
        target=amount_text(p.target, cur),
        current=amount_text(p.current, cur),
        state=p.state,
        step=p.step,
        last_step_on=p.last_step_on,
        last_evaluated_on=p.last_evaluated_on,
        next_action=p.next_action,
        next_amount=_money(p.next_amount, cur),
        reason=p.reason,
        next_condition=p.next_condition,
        application=p.application,
    )


def buyer_credit(ctx: ApiContext, key: ApiKey, buyer_id: int) -> BuyerCreditOut:
    """The buyer's credit position today (the buyer checked visible by the caller). A
    key restricted to policies sees the lines and plan of those only, and no behaviour
    (its figures span every policy)."""
    day = ctx.now().date()
    restricted = key.policies is not None
    options = None if restricted else ctx.credit_options()
    with ctx.ledger.reading() as session:
        row = session.get_one(BuyerRow, buyer_id)
        keys = dict(session.execute(select(PolicyRow.id, PolicyRow.key)).all())
        found = credit_lines(session, day, [buyer_id])
        plan = progressive.plan_of(session, buyer_id)
        name, tier, pinned = row.name, row.tier, row.tier_pinned
    lines = []
    for (_, policy_id), line in sorted(found.items()):
        policy = keys.get(policy_id, "")
        if not key.allows_policy(policy):
            continue
        cur = line.currency
        lines.append(
            CreditLineOut(
                policy=policy,
                currency=cur,
                insurer_limit=_money(line.insurer_limit, cur),
                dcl=amount_text(line.dcl, cur),
                internal=amount_text(line.internal, cur),
                provisional=amount_text(line.provisional, cur),
                insured=amount_text(line.insured, cur),
                uninsured=amount_text(line.uninsured, cur),
                total=amount_text(line.total, cur),
            )
        )
    behaviour = None
    if options is not None:
        b = buyer_behaviour(ctx.ledger, day, options.behaviour, [buyer_id]).get(buyer_id)
        if b is not None:
            behaviour = BehaviourOut.of("buyer", str(buyer_id), name, b)
    if plan is not None and not key.allows_policy(plan.policy):
        plan = None
    return BuyerCreditOut(
        buyer_id=buyer_id,
        name=name,
        tier=tier or ctx.settings.escalation.default_tier,
        tier_set=tier is not None,
        pinned=pinned,
        tier_history=[change_out(c) for c in tier_history(ctx.ledger, buyer_id)],
        lines=lines,
        plan=_plan_out(plan) if plan is not None else None,
        behaviour=behaviour,
    )
