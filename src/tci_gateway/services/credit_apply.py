"""Credit applications: gather the evidence, score, pre-screen, and decide at once within
the policy's discretionary credit limit (DCL), send it to the insurer, or hand it to a
person (docs/credit.md, "Credit applications").

1. The application is written (``received``) and committed before anything is asked,
   so even a crash leaves it visible.
2. Every configured bureau is asked at once, outside any transaction (the buyer's id at
   that bureau: its latest stored assessment, or the identifier the wiring names for
   it); a failed call falls back to the stored assessment and says so.
3. Payment behaviour and trading facts are read (:mod:`tci_gateway.services.behaviour`).
4. The scorecard and the DCL pre-screen (:mod:`tci_gateway.domain.scorecard`,
   :mod:`tci_gateway.domain.prescreen`) choose the route, and one transaction records
   the outcome: a ``dcl`` credit line (no insurer call), or exactly one cover request
   queued in the outbox with the application's change in the same transaction (a second
   run finds it routed and queues nothing), or a referral with a ``credit_referred``
   alert.

Every step is an event row with its time stamp and its duration, so the time from
application to decision is measured (:mod:`tci_gateway.services.credit_stats`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain.credit import Route, Screen
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.prescreen import ScreenInputs, screen
from tci_gateway.domain.progressive import start_amount
from tci_gateway.domain.scorecard import score
from tci_gateway.errors import InputError
from tci_gateway.ledger import credit as repo
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    CreditApplicationRow,
    LineKind,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.logs import get_logger
from tci_gateway.services import credit_evidence as ev
from tci_gateway.services.behaviour import buyer_behaviour, trading_facts
from tci_gateway.services.cover_requests import queue_request
from tci_gateway.services.credit_decide import (
    PRESCREEN,
    cover_action,
    decide,
    follow_insurer,
    provisional_line,
    referral_alert,
)
from tci_gateway.services.credit_intake import Start, open_application
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.credit_views import (
    ApplicationView,
    EventView,
    get_application,
    list_applications,
)
from tci_gateway.services.progressive import start_plan

__all__ = [
    "ApplicationView",
    "EventView",
    "apply_for_credit",
    "decide",
    "follow_insurer",
    "get_application",
    "list_applications",
]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def apply_for_credit(
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
) -> ApplicationView:
    """Apply for a credit line of ``amount`` (the whole line, in the policy currency)
    for ``buyer`` (an ERP account or a ledger buyer id) under ``policy`` (else the
    buyer's ERP account's, else the only one): gathered, scored, screened and routed
    (module docstring). The application as recorded."""
    clock = ev.Clock(now)
    start = open_application(
        ledger,
        policies,
        bureaus,
        options,
        buyer=buyer,
        amount=amount,
        policy_key=policy,
        requested_by=requested_by,
        channel=channel,
        now=now,
        plan_id=plan_id,
    )
    try:
        _screen_and_route(ledger, bureaus, options, start, clock, amount.amount)
    except Exception as exc:
        _failed(ledger, start, exc, clock.at())
        raise
    return get_application(ledger, start.reference)


def _failed(ledger: Ledger, start: Start, exc: Exception, at: datetime) -> None:
    """An application the pre-screen could not finish goes to a person (never left
    ``received`` unseen); the error still reaches the caller."""
    reason = f"The pre-screen failed ({type(exc).__name__}: {exc}): a person decides."
    get_logger(reference=start.reference).error("credit_prescreen_failed", error=str(exc))
    try:
        with ledger.unit_of_work() as session:
            app = repo.locked(session, start.app_id)
            if app.state is not ApplicationState.RECEIVED:
                return
            app.state, app.route, app.reason = ApplicationState.REFERRED, None, reason[:2000]
            app.updated_at = at
            repo.add_event(session, app.id, "failed", at, {"error": str(exc)[:500]})
            referral_alert(session, app, start.day, reason, at)
    except Exception as inner:  # the ledger itself is down: the caller sees the first error
        get_logger(reference=start.reference).error("credit_referral_failed", error=str(inner))


def _screen_and_route(
    ledger: Ledger,
    bureaus: Mapping[str, BureauAdapter],
    options: CreditOptions,
    start: Start,
    clock: ev.Clock,
    applied: Decimal,
) -> None:
    steps: list[ev.Step] = []
    answers = ev.ask_bureaus(bureaus, start.provider_ids, start.stored, clock)
    for a in answers:
        detail = ev.bureau_json(a)
        steps.append(ev.Step(f"assessment:{a.bureau}", a.at, detail))
    at, started = clock.at(), time.monotonic()
    behaviour = buyer_behaviour(ledger, start.day, options.behaviour, [start.buyer_id]).get(
        start.buyer_id
    )
    trading = trading_facts(
        ledger,
        start.buyer_id,
        start.day,
        options.behaviour,
        experience_months=options.dcl.experience_months,
    )
    months = trading.months_trading if trading.first_invoice_on is not None else None
    steps.append(
        ev.Step(
            "behaviour",
            at,
            {
                "duration_ms": _ms(started),
                "dbt_weighted": ev.decimal_text(behaviour.dbt_weighted if behaviour else None),
                "months_trading": months,
                "paid_within_terms": trading.paid_within_terms,
            },
        )
    )
    at, started = clock.at(), time.monotonic()
    inputs = ev.score_inputs(answers, behaviour, months, trading.paid_within_terms)
    card = score(options.factors, inputs, options.threshold_of(start.tier))
    steps.append(
        ev.Step(
            "scored",
            at,
            {
                "duration_ms": _ms(started),
                "score": f"{card.score:f}",
                "threshold": f"{card.threshold:f}",
                "missing": list(card.missing),
            },
        )
    )
    at, started = clock.at(), time.monotonic()
    currency = start.policy.terms.currency
    highest = _in_policy_currency(trading.highest_month_end_balance, options, currency, start.day)
    rules = options.dcl_rules(
        start.policy.terms.discretionary_limit.amount, start.country, start.tier
    )
    found = screen(
        ScreenInputs(
            day=start.day,
            amount=applied,
            country=start.country,
            reports=tuple(
                (a.bureau, a.assessment.as_of) for a in answers if a.assessment is not None
            ),
            paid_within_terms=trading.paid_within_terms,
            highest_month_end_balance=highest,
            adverse=tuple(start.adverse),
            insurer_refusals=tuple(start.refusals),
            insurer_limit=start.insurer_limit,
            currency=currency,
            tier=start.tier,
        ),
        rules,
        card,
    )
    steps.append(
        ev.Step(
            "screened",
            at,
            {
                "duration_ms": _ms(started),
                "route": found.route.value,
                "failed": [c.name for c in found.failed],
            },
        )
    )
    evidence: dict[str, Any] = {
        "tier": start.tier,
        "country": start.country,
        "business_date": start.day.isoformat(),
        "dcl_limit": f"{rules.limit:f}",
        "bureaus": {a.bureau: ev.bureau_json(a) for a in answers},
        "insurer_grades": {
            start.policy.insurer: {
                "source": "missing",
                "note": f"the {start.policy.insurer} adapter gives no grade of its own",
            }
        },
        "behaviour": ev.behaviour_json(behaviour),
        "trading": {
            "first_invoice_on": ev.day_text(trading.first_invoice_on),
            "months_trading": months,
            "paid_within_terms": trading.paid_within_terms,
            "highest_month_end_balance": None if highest is None else f"{highest:f}",
        },
        "adverse": start.adverse,
        "insurer_refusals": start.refusals,
        "insurer_limit": None if start.insurer_limit is None else f"{start.insurer_limit:f}",
        "screen": ev.screen_json(found),
    }
    if behaviour is None:
        evidence["missing"] = ["payment behaviour: no items of the buyer in the ledger"]
    outcome = _Outcome(start, found, evidence, steps, answers, clock, options, applied)
    if found.route is Route.DCL:
        _grant_dcl(ledger, outcome)
    elif found.route is Route.INSURER:
        _to_insurer(ledger, outcome)
    else:
        _refer(ledger, outcome, found.reason)


def _in_policy_currency(
    value: Decimal | None, options: CreditOptions, currency: str, day: date
) -> Decimal | None:
    """The highest month-end balance (reporting currency) in the policy currency; None
    without a rate (then it cannot cap a line: no evidence from it, conservative)."""
    if value is None:
        return None
    converted = options.behaviour.convert(
        Money(value, options.behaviour.reporting_currency), currency, day
    )
    return None if converted is None else converted.amount


@dataclass
class _Outcome:
    start: Start
    screen: Screen
    evidence: dict[str, Any]
    steps: list[ev.Step]
    answers: list[ev.BureauAnswer]
    clock: ev.Clock
    options: CreditOptions
    amount: Decimal


def _record(session: Session, app: CreditApplicationRow, o: _Outcome, route: Route) -> None:
    """The screen's findings on the row, the live answers stored, the steps written."""
    app.route = ApplicationRoute(route.value)
    app.score = o.screen.scorecard.score
    app.scorecard = ev.scorecard_json(o.screen.scorecard)
    app.conditions = ev.conditions_json(o.screen)
    app.evidence = o.evidence
    app.reason = o.screen.reason
    app.updated_at = o.clock.at()
    for a in o.answers:
        if a.fresh and a.assessment is not None:
            identity_repo.store_assessment(session, o.start.buyer_id, a.assessment, o.clock.now)
    for step in o.steps:
        repo.add_event(session, app.id, step.step, step.at, step.detail)


class _AlreadyRouted(Exception):
    """The application was routed by an earlier run: nothing more to do."""


def _grant_dcl(ledger: Ledger, o: _Outcome) -> None:
    s = o.start
    with ledger.unit_of_work() as session:
        app = repo.locked(session, s.app_id)
        if app.state is not ApplicationState.RECEIVED:
            return
        at, started = o.clock.at(), time.monotonic()
        _record(session, app, o, Route.DCL)
        granted, plan = o.screen.granted, app.plan_id
        rules = o.options.progressive
        if rules is not None and plan is None and o.options.tier_progressive.get(s.tier, False):
            granted = start_amount(o.amount, rules)
            plan = start_plan(
                session,
                buyer_id=s.buyer_id,
                policy_id=s.policy_id,
                target=o.amount,
                currency=app.currency,
                day=s.day,
                now=at,
                current=granted,
            )
            app.plan_id = plan
        repo.set_line(
            session,
            buyer_id=s.buyer_id,
            policy_id=s.policy_id,
            kind=LineKind.DCL,
            amount=granted,
            currency=app.currency,
            day=s.day,
            approved_by=PRESCREEN,
            reason=f"{s.reference}: within the DCL",
            now=at,
            application_id=app.id,
        )
        app.state, app.granted_amount = ApplicationState.GRANTED, granted
        app.decided_at, app.decided_by = o.clock.at(), PRESCREEN
        detail: dict[str, Any] = {"amount": f"{granted:f}", "duration_ms": _ms(started)}
        if plan is not None and granted < o.amount:
            detail |= {"plan_id": plan, "target": f"{o.amount:f}"}
        repo.add_event(session, app.id, "granted_dcl", at, detail)


def _to_insurer(ledger: Ledger, o: _Outcome) -> None:
    s = o.start
    at = o.clock.at()

    def before(session: Session) -> None:
        app = repo.locked(session, s.app_id)
        if app.state is not ApplicationState.RECEIVED or app.cover_request_id is not None:
            raise _AlreadyRouted

    def after(session: Session, request_id: int) -> None:
        app = repo.locked(session, s.app_id)
        _record(session, app, o, Route.INSURER)
        app.cover_request_id, app.state = request_id, ApplicationState.WITH_INSURER
        action = cover_action(s.insurer_limit)
        repo.add_event(
            session,
            app.id,
            "cover_request_queued",
            at,
            {"cover_request_id": request_id, "action": action.value, "amount": f"{o.amount:f}"},
        )
        provisional_line(session, app, s.day, o.screen.provisional, o.clock.at())

    try:
        queue_request(
            ledger,
            s.policy,
            buyer=s.buyer_key,
            action=cover_action(s.insurer_limit),
            amount=Money(o.amount, s.policy.terms.currency),
            now=at,
            before=before,
            after=after,
        )
    except _AlreadyRouted:
        return
    except InputError as exc:  # no insurer buyer id yet: a person links it and decides
        _refer(ledger, o, f"{o.screen.reason} The cover request could not be queued: {exc}")


def _refer(ledger: Ledger, o: _Outcome, reason: str) -> None:
    s = o.start
    with ledger.unit_of_work() as session:
        app = repo.locked(session, s.app_id)
        if app.state is not ApplicationState.RECEIVED:
            return
        at = o.clock.at()
        _record(session, app, o, Route.PERSON)
        app.state, app.reason = ApplicationState.REFERRED, reason
        repo.add_event(session, app.id, "referred", at, {"reason": reason})
        referral_alert(session, app, s.day, reason, at)
