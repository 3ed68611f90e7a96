"""Decisions after the pre-screen: the insurer's answer to the cover request an
application queued (:func:`follow_insurer`), and a person's decision on a referred one
(:func:`decide`). Re-exported by :mod:`tci_gateway.services.credit_apply`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import CoverAction
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import credit as repo
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    CreditApplicationRow,
    LineKind,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import BuyerRow, CoverRequestRow
from tci_gateway.services.cover_requests import queue_request
from tci_gateway.services.credit_views import ApplicationView, get_application

PRESCREEN = "pre-screen"
POLICY_CONDITIONS = frozenset(
    {
        "within_dcl",
        "no_named_limit",
        "evidence",
        "no_adverse_information",
        "no_insurer_refusal",
        "country_listed",
    }
)
"""The conditions a policy sets for self-assessment (the others, tier and score, are
the gateway's own): a person's grant is an insured DCL line only when all of these held
and the amount is within the DCL; otherwise it is an internal (uninsured) line."""

DECISIONS = ("grant", "refuse", "send_to_insurer")


def _bad(column: str, reason: str) -> InputError:
    return InputError([RecordError("credit decision", None, column, reason)])


def cover_action(insurer_limit: Decimal | None) -> CoverAction:
    """NEW when the buyer has no cover on the policy, else INCREASE (the new total)."""
    if insurer_limit is not None and insurer_limit > 0:
        return CoverAction.INCREASE
    return CoverAction.NEW


def provisional_line(
    session: Session, app: CreditApplicationRow, day: date, amount: Decimal, at: datetime
) -> None:
    """A provisional internal line while the insurer decides (nothing for 0)."""
    if amount <= 0:
        return
    repo.set_line(
        session,
        buyer_id=app.buyer_id,
        policy_id=app.policy_id,
        kind=LineKind.PROVISIONAL,
        amount=amount,
        currency=app.currency,
        day=day,
        approved_by=PRESCREEN,
        reason=f"{app.reference}: provisional while the insurer decides",
        now=at,
        application_id=app.id,
    )
    repo.add_event(session, app.id, "provisional_line", at, {"amount": f"{amount:f}"})


def referral_alert(
    session: Session, app: CreditApplicationRow, day: date, reason: str, at: datetime
) -> None:
    """Raise ``credit_referred`` once per application."""
    name = session.get_one(BuyerRow, app.buyer_id).name
    add_alert(
        session,
        kind=AlertKind.CREDIT_REFERRED,
        message=(
            f"Credit application {app.reference} for {name} ({app.amount:f} {app.currency}) "
            f"needs a person: {reason}"
        )[:2000],
        business_date=day,
        dedupe_key=f"credit_referred:{app.reference}",
        now=at,
        buyer_id=app.buyer_id,
        policy_id=app.policy_id,
        details={"reference": app.reference, "tier": app.tier},
    )


def follow_insurer(ledger: Ledger, *, now: datetime) -> int:
    """Applications with the insurer whose cover request has an answer: granted (the
    insurer's amount, when above 0) or refused, the provisional line ended; a request
    the insurer's API refused goes to a person (referred, alerted). How many moved.

    The decision is timed when the gateway learned it (the cover request's last update,
    by the poll job or an insurer callback), not when this runs: the nightly review
    does not add hours to the measured time to decision."""
    with ledger.unit_of_work() as session:
        waiting = repo.waiting_on_insurer(session)
    moved = 0
    for app_id in waiting:
        with ledger.unit_of_work() as session:
            app = repo.locked(session, app_id)
            if app.state is not ApplicationState.WITH_INSURER or app.cover_request_id is None:
                continue
            request = session.get_one(CoverRequestRow, app.cover_request_id)
            day = now.date()
            if request.state == "REJECTED":
                reason = f"the insurer refused the cover request: {request.last_error or '-'}"
                app.state, app.reason, app.updated_at = ApplicationState.REFERRED, reason, now
                repo.add_event(session, app.id, "insurer_rejected", now, {"reason": reason})
                referral_alert(session, app, day, reason, now)
                moved += 1
                continue
            granted = request.outcome_amount or Decimal(0)
            status = str(request.outcome_status or "")
            learned = max(app.received_at, min(now, request.updated_at))
            app.state = ApplicationState.GRANTED if granted > 0 else ApplicationState.REFUSED
            app.granted_amount = granted
            app.decided_at, app.decided_by = learned, f"insurer:{request.insurer}"
            app.reason = f"The insurer decided {status} {granted:f} {request.currency or ''}"
            app.updated_at = now
            ended = repo.end_lines(
                session, day, reason="the insurer decided", application_id=app.id
            )
            detail: dict[str, Any] = {"status": status, "amount": f"{granted:f}"}
            detail["followed_at"] = now.isoformat()
            if ended:
                detail["provisional_ended"] = [f"{r.amount:f}" for r in ended]
            repo.add_event(session, app.id, "insurer_decided", learned, detail)
            moved += 1
    return moved


def decide(
    ledger: Ledger,
    reference: str,
    *,
    decision: str,
    amount: Money | None,
    by: str,
    reason: str,
    now: datetime,
    policies: Mapping[str, Policy] | None = None,
) -> ApplicationView:
    """A person's decision on a referred application: ``grant`` (``amount``, else the
    amount applied for; an insured DCL line when the policy's conditions held and the
    amount is within the DCL, else an internal line), ``refuse``, or ``send_to_insurer``
    (one cover request queued, as the pre-screen would; needs ``policies``). The reason
    is required: it is what the buyer's history shows."""
    decision = decision.replace("-", "_")
    if decision not in DECISIONS:
        raise _bad("decision", f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
    if not reason.strip():
        raise _bad("reason", "a decision needs a reason")
    if decision == "send_to_insurer":
        _send(ledger, reference, amount, by, reason, now, policies or {})
        return get_application(ledger, reference)
    with ledger.unit_of_work() as session:
        app = repo.by_reference(session, reference, lock=True)
        _check_referred(app)
        detail: dict[str, Any] = {"decision": decision, "by": by, "reason": reason}
        if decision == "refuse":
            app.state = ApplicationState.REFUSED
        else:
            granted = _granted(app, amount)
            kind = _kind(app, granted)
            repo.set_line(
                session,
                buyer_id=app.buyer_id,
                policy_id=app.policy_id,
                kind=kind,
                amount=granted,
                currency=app.currency,
                day=now.date(),
                approved_by=by,
                reason=f"{app.reference}: {reason}",
                now=now,
                application_id=app.id,
            )
            app.state, app.granted_amount = ApplicationState.GRANTED, granted
            detail |= {"amount": f"{granted:f}", "line": kind.value}
        app.decided_at, app.decided_by, app.reason, app.updated_at = now, by[:64], reason, now
        repo.add_event(session, app.id, "person_decided", now, detail)
    return get_application(ledger, reference)


def _check_referred(app: CreditApplicationRow) -> None:
    if app.state is not ApplicationState.REFERRED:
        raise _bad(
            "reference",
            f"{app.reference} is {app.state.value}: a person decides referred applications only",
        )


def _granted(app: CreditApplicationRow, amount: Money | None) -> Decimal:
    if amount is None:
        return app.amount
    if amount.currency != app.currency:
        raise _bad("amount", f"the application is in {app.currency}, not {amount.currency}")
    if not Decimal(0) < amount.amount <= app.amount:
        raise _bad("amount", f"grant more than 0 and at most the {app.amount:f} applied for")
    return amount.amount


def _kind(app: CreditApplicationRow, granted: Decimal) -> LineKind:
    held = {c["name"] for c in app.conditions if c.get("passed")}
    limit = app.evidence.get("dcl_limit")
    within = limit is not None and granted <= Decimal(str(limit))
    if within:
        held.add("within_dcl")
    else:
        held.discard("within_dcl")
    return LineKind.DCL if held >= POLICY_CONDITIONS else LineKind.INTERNAL


def _send(
    ledger: Ledger,
    reference: str,
    amount: Money | None,
    by: str,
    reason: str,
    now: datetime,
    policies: Mapping[str, Policy],
) -> None:
    with ledger.unit_of_work() as session:
        app = repo.by_reference(session, reference)
        _check_referred(app)
        key = repo.policy_key(session, app.policy_id)
        account, _ = repo.account_of(session, app.buyer_id)
        buyer_key = account or str(app.buyer_id)
        action = cover_action(repo.insurer_limit(session, app.buyer_id, app.policy_id))
        requested = _granted(app, amount)
    if key is None or key not in policies:
        raise _bad("policy", f"policy {key!r} of {reference} is not configured")

    def before(session: Session) -> None:
        _check_referred(repo.by_reference(session, reference, lock=True))

    def after(session: Session, request_id: int) -> None:
        app = repo.by_reference(session, reference, lock=True)
        app.route, app.state = ApplicationRoute.INSURER, ApplicationState.WITH_INSURER
        app.cover_request_id, app.reason, app.updated_at = request_id, reason, now
        detail = {"decision": "send_to_insurer", "by": by, "reason": reason}
        repo.add_event(session, app.id, "person_decided", now, detail)
        repo.add_event(
            session,
            app.id,
            "cover_request_queued",
            now,
            {"cover_request_id": request_id, "action": action.value, "amount": f"{requested:f}"},
        )

    queue_request(
        ledger,
        policies[key],
        buyer=buyer_key,
        action=action,
        amount=Money(requested, app.currency),
        now=now,
        before=before,
        after=after,
    )
