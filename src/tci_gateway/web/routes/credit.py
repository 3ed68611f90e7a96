"""Credit applications in the workspace.

* ``GET /credit``: the applications by state, newest first, the time from application to
  decision per tier and route, and the "Apply for credit" form (analysts).
* ``POST /credit/apply``: the application, through the service behind ``POST
  /v1/credit/applications`` (:func:`tci_gateway.services.credit_apply.apply_for_credit`:
  bureaus, behaviour, scorecard, the DCL pre-screen), then to its page.
* ``GET /credit/{reference}``: the decision and why: the scorecard (each factor's
  weight, value, points and contribution; a missing input named "missing", never 0), the
  DCL conditions with their reasons, every step with its time, and for a referred
  application (or one with the insurer) the decision form (analysts).
* ``POST /credit/{reference}/decision``: grant, refuse or send to the insurer.
* ``POST /buyers/{id}/credit-line``: an internal (uninsured) line (managers).
* ``POST /buyers/{id}/tier`` and ``/tier/unpin``: pin a tier by hand, or release it to
  the nightly rules (managers).

Every change is audited as the API's writes are (``web_credit_applied``,
``web_credit_decided``, ``web_credit_line_set``, ``web_tier_pinned``,
``web_tier_unpinned``). The apply form carries a one-time token: a second submit of the
same form (a double click, a reload) is sent to the first application instead of making
another (best effort: two submits racing within the same instant can both apply).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.api.routes.buyer_models import MAX_ID
from tci_gateway.domain.money import Money, MoneyError
from tci_gateway.domain.money import parse_amount as money_amount
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.credit_tables import ApplicationState
from tci_gateway.ledger.users import SignedIn
from tci_gateway.ledger.web_tables import Role
from tci_gateway.services import credit_apply, credit_lines, credit_stats, tiers
from tci_gateway.web import audit
from tci_gateway.web.credit_view import bureaus, credit_options, helpers, known_tiers
from tci_gateway.web.render import page
from tci_gateway.web.session import Analyst, Manager, Viewer

router = APIRouter()

PAGE_SIZE = 50
APPLY_ACTION = "web_credit_applied"
FORM_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
TOKEN_KEPT_HOURS = 24
REFERENCE = r"^CA-[0-9]{8}-[0-9]{6,10}$"
AMOUNT_MAX = 32
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
BuyerId = Annotated[int, Path(ge=1, le=MAX_ID)]
Reference = Annotated[str, Path(pattern=REFERENCE)]
Reason = Annotated[str, Form(min_length=1, max_length=500, pattern=_PRINTABLE)]

STATE_TABS: tuple[tuple[ApplicationState | None, str], ...] = (
    (None, "All"),
    (ApplicationState.REFERRED, "Referred to a person"),
    (ApplicationState.WITH_INSURER, "With the insurer"),
    (ApplicationState.GRANTED, "Granted"),
    (ApplicationState.REFUSED, "Refused"),
)
STATE_KIND = {"granted": "good", "refused": "bad", "referred": "warn", "with_insurer": "warn"}
ROUTE_TEXT = {
    "dcl": "Within the policy's discretionary credit limit: granted at once, insured "
    "under the DCL, no call to the insurer",
    "insurer": "Sent to the insurer: a cover request was filed (above the DCL, or a "
    "condition for the DCL did not hold)",
    "person": "Referred to a person, who decides with the evidence below (the engine "
    "never refuses on its own)",
}
ROUTE_SHORT = {"dcl": "DCL, at once", "insurer": "insurer", "person": "a person"}
CONDITION_TEXT = {
    "within_dcl": "Within the discretionary credit limit",
    "no_named_limit": "No named limit from the insurer on this buyer",
    "evidence": "Evidence: a recent approved bureau report, or trading experience",
    "no_adverse_information": "No adverse information",
    "no_insurer_refusal": "No refusal or reduction by the insurer",
    "country_listed": "The buyer's country is covered by the DCL",
    "tier_prescreen": "The buyer's tier allows the automatic pre-screen",
    "score": "Score at or above the pass mark, no required input missing",
}
STEP_TEXT = {
    "received": "Application received",
    "behaviour": "Payment behaviour measured",
    "scored": "Scored",
    "screened": "Pre-screened against the DCL conditions",
    "granted_dcl": "Granted within the DCL",
    "cover_request_queued": "Cover request queued for the insurer",
    "provisional_line": "Provisional internal line granted",
    "referred": "Referred to a person",
    "insurer_decided": "The insurer decided",
    "person_decided": "A person decided",
}
DECISIONS = (
    ("grant", "Grant"),
    ("refuse", "Refuse"),
    ("send_to_insurer", "Send to the insurer"),
)


def step_text(step: str) -> str:
    if step.startswith("assessment:"):
        return f"Assessment from {step.split(':', 1)[1]}"
    return STEP_TEXT.get(step, step.replace("_", " "))


def took(start: datetime | None, end: datetime | None) -> str:
    """``2 h 05 min``, ``3 min 20 s``, ``0.4 s`` between two times; ``—`` if either is
    missing."""
    if start is None or end is None:
        return "—"
    seconds = Decimal(str((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds.quantize(Decimal('0.1'))} s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def _common() -> dict[str, Any]:
    return {
        "state_kind": STATE_KIND,
        "route_text": ROUTE_TEXT,
        "route_short": ROUTE_SHORT,
        "condition_text": CONDITION_TEXT,
        "step_text": step_text,
        "took": took,
        **helpers(),
    }


def _url(**params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "/credit" + ("?" + urlencode(kept) if kept else "")


def _policy_choices(ctx: ApiContext) -> list[tuple[str, str, str]]:
    policies = ctx.settings.domain_policies()
    return [(k, policies[k].insurer, policies[k].terms.currency) for k in sorted(policies)]


@router.get("/credit", response_class=HTMLResponse)
def credit_page(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    state: ApplicationState | None = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    buyer: Annotated[str, Query(max_length=64)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    """Applications newest first (by state), time to decision, the apply form."""
    found = credit_apply.list_applications(
        ctx.ledger, state=state.value if state else None, limit=PAGE_SIZE + 1, before=before
    )
    items, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    stats = credit_stats.credit_stats(ctx.ledger)
    policies = _policy_choices(ctx)
    state_value = state.value if state else None
    return page(
        request,
        "credit.html",
        me,
        title="Credit applications",
        items=items,
        tabs=[(label, _url(state=s.value if s else None), s == state) for s, label in STATE_TABS],
        state=state,
        next_url=_url(state=state_value, before=items[-1].id) if more else "",
        first_url=_url(state=state_value) if before else "",
        stats=stats,
        may_apply=me.user.may(Role.ANALYST),
        policy_choices=policies,
        currencies=sorted({c for _, _, c in policies} | {ctx.settings.credit.reporting_currency}),
        form_token=secrets.token_urlsafe(24),
        buyer=buyer,
        **_common(),
    )


def parse_amount(text: str, currency: str, *, zero: bool = False) -> Decimal:
    """An amount typed in a form: ``40000``, ``40000.00`` or ``40,000.00`` (commas
    grouping digits are dropped), within ``currency``'s minor units; above 0 (``zero``:
    0 allowed too)."""
    try:
        value = money_amount(text.strip().replace(",", ""), currency)
    except MoneyError as exc:
        raise Problem(422, str(exc), title="Amount refused") from None
    if value < 0 or (value == 0 and not zero):
        raise Problem(422, f"the amount must be above zero, not {text.strip()!r}")
    return value


def _used(ctx: ApiContext, me: SignedIn, token: str) -> str | None:
    """The application made with this form token (its audit row), if any."""
    since = ctx.now() - timedelta(hours=TOKEN_KEPT_HOURS)
    with ctx.ledger.reading() as session:
        detail = session.scalars(
            select(AuditRow.detail)
            .where(
                AuditRow.action == APPLY_ACTION,
                AuditRow.user_id == me.user.id,
                AuditRow.at >= since,
                AuditRow.detail["form_token"].as_string() == token,
            )
            .limit(1)
        ).first()
    return None if detail is None else str(detail["reference"])


@router.post("/credit/apply")
def apply(
    request: Request,
    ctx: Ctx,
    me: Analyst,
    buyer: Annotated[str, Form(min_length=1, max_length=64, pattern=_PRINTABLE)],
    amount: Annotated[str, Form(min_length=1, max_length=AMOUNT_MAX)],
    currency: Annotated[str, Form(pattern=r"^[A-Z]{3}$")],
    form_token: Annotated[str, Form(pattern=FORM_ID_PATTERN)],
    policy: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Apply as ``POST /v1/credit/applications`` does; audited; to the result page."""
    done = _used(ctx, me, form_token)
    if done is not None:
        return RedirectResponse(f"/credit/{done}", status_code=303)
    value = parse_amount(amount, currency)
    try:
        view = credit_apply.apply_for_credit(
            ctx.ledger,
            ctx.settings.domain_policies(),
            bureaus(ctx),
            credit_options(ctx),
            buyer=buyer.strip(),
            amount=Money(value, currency),
            policy=policy or None,
            requested_by=me.user.name,
            channel="web",
            now=ctx.now(),
        )
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    audit.audit(
        ctx,
        request,
        me,
        APPLY_ACTION,
        {
            "reference": view.reference,
            "form_token": form_token,
            "buyer": buyer.strip(),
            "buyer_id": view.buyer_id,
            "policy": view.policy,
            "amount": str(value),
            "currency": currency,
            "route": view.route,
            "state": view.state,
        },
        status=303,
    )
    return RedirectResponse(f"/credit/{view.reference}", status_code=303)


@router.get("/credit/{reference}", response_class=HTMLResponse)
def application_page(request: Request, ctx: Ctx, me: Viewer, reference: Reference) -> HTMLResponse:
    """One application: the decision, its reasons, the evidence and the steps."""
    try:
        view = credit_apply.get_application(ctx.ledger, reference)
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    state = str(view.state)
    return page(
        request,
        "credit_application.html",
        me,
        title=f"Credit application {reference}",
        a=view,
        state_value=state,
        may_decide=me.user.may(Role.ANALYST) and state in ("referred", "with_insurer"),
        may_set_line=me.user.may(Role.MANAGER),
        # already with the insurer: a person may grant or refuse, not send it again
        decisions=[d for d in DECISIONS if state != "with_insurer" or d[0] != "send_to_insurer"],
        now=ctx.now(),
        **_common(),
    )


@router.post("/credit/{reference}/decision")
def decide(
    request: Request,
    ctx: Ctx,
    me: Analyst,
    reference: Reference,
    decision: Annotated[str, Form(pattern="^(grant|refuse|send_to_insurer)$")],
    reason: Reason,
    amount: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A person's decision, as ``POST /v1/credit/applications/{reference}/decision``."""
    try:
        current = credit_apply.get_application(ctx.ledger, reference)
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    if amount.strip() and decision != "grant":
        raise Problem(422, "only a grant takes an amount (leave it empty to refuse or send)")
    given = parse_amount(amount, current.currency) if amount.strip() else None
    try:
        view = credit_apply.decide(
            ctx.ledger,
            reference,
            decision=decision,
            amount=Money(given, current.currency) if given is not None else None,
            by=me.user.name,
            reason=reason.strip(),
            now=ctx.now(),
            policies=ctx.settings.domain_policies(),
        )
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise Problem(409, str(exc), title="Cannot be decided so") from None
    audit.audit(
        ctx,
        request,
        me,
        "web_credit_decided",
        {
            "reference": reference,
            "decision": decision,
            "amount": str(given) if given is not None else None,
            "reason": reason.strip(),
            "state": view.state,
        },
        status=303,
    )
    return RedirectResponse(f"/credit/{reference}", status_code=303)


@router.post("/buyers/{buyer_id}/credit-line")
def set_internal_line(
    request: Request,
    ctx: Ctx,
    me: Manager,
    buyer_id: BuyerId,
    policy: Annotated[str, Form(min_length=1, max_length=64)],
    amount: Annotated[str, Form(min_length=1, max_length=AMOUNT_MAX)],
    reason: Reason,
    back: Annotated[str, Form(pattern=r"^/(buyers/[0-9]+|credit/CA-[0-9-]+)$")] = "",
) -> Response:
    """An internal (uninsured) line for the buyer under ``policy``; 0 ends it."""
    policies = ctx.settings.domain_policies()
    if policy not in policies:
        raise Problem(422, f"unknown policy {policy!r} (configured: {', '.join(sorted(policies))})")
    currency = policies[policy].terms.currency
    value = parse_amount(amount, currency, zero=True)
    try:
        credit_lines.set_internal_line(
            ctx.ledger,
            buyer=str(buyer_id),
            policy=policies[policy],
            amount=Money(value, currency),
            by=me.user.name,
            reason=reason.strip(),
            now=ctx.now(),
        )
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    audit.audit(
        ctx,
        request,
        me,
        "web_credit_line_set",
        {
            "buyer_id": buyer_id,
            "policy": policy,
            "amount": str(value),
            "currency": currency,
            "reason": reason.strip(),
        },
        status=303,
    )
    return RedirectResponse(back or f"/buyers/{buyer_id}#credit-title", status_code=303)


@router.post("/buyers/{buyer_id}/tier")
def pin_tier(
    request: Request,
    ctx: Ctx,
    me: Manager,
    buyer_id: BuyerId,
    tier: Annotated[str, Form(min_length=1, max_length=16)],
    reason: Reason,
) -> Response:
    """Pin the buyer's tier: the nightly rules leave it alone until it is unpinned."""
    try:
        change = tiers.pin_tier(
            ctx.ledger,
            str(buyer_id),
            tier,
            by=me.user.name,
            reason=reason.strip(),
            now=ctx.now(),
            known_tiers=known_tiers(ctx),
        )
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    audit.audit(
        ctx,
        request,
        me,
        "web_tier_pinned",
        {"buyer_id": buyer_id, "tier": tier, "old_tier": change.old, "reason": reason.strip()},
        status=303,
    )
    return RedirectResponse(f"/buyers/{buyer_id}#credit-title", status_code=303)


@router.post("/buyers/{buyer_id}/tier/unpin")
def unpin_tier(request: Request, ctx: Ctx, me: Manager, buyer_id: BuyerId) -> Response:
    """Release a pinned tier: the next nightly evaluation decides it again."""
    try:
        change = tiers.unpin_tier(ctx.ledger, str(buyer_id), by=me.user.name, now=ctx.now())
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    audit.audit(
        ctx,
        request,
        me,
        "web_tier_unpinned",
        {"buyer_id": buyer_id, "changed": change is not None},
        status=303,
    )
    return RedirectResponse(f"/buyers/{buyer_id}#credit-title", status_code=303)
