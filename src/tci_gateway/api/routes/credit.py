"""Credit applications, a person's decision on them, time-to-decision statistics, tiers
pinned by hand and a buyer's credit position.

The same services as ``tci credit`` and ``tci tiers``
(:mod:`tci_gateway.services.credit_apply`, :mod:`tci_gateway.services.tiers`). Scopes:
reading needs ``buyers:read``; applying and deciding need ``cover:request`` (an
application above the discretionary limit files a cover request with the insurer);
pinning a tier, a risk manager's call, needs ``admin``. Every write is audited; the
POSTs take an ``Idempotency-Key`` (required to apply: a replay answers the stored
application and files nothing).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tci_gateway.api.audit import audit
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import IdempotencyKey, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, FieldError, Problem, problem_responses
from tci_gateway.api.routes import credit_views
from tci_gateway.api.routes.behaviour import EARLIEST
from tci_gateway.api.routes.credit_models import (
    REFERENCE_PATTERN,
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    ApplicationStateName,
    BuyerCreditOut,
    DecisionIn,
    StatsOut,
    TierIn,
    TierOut,
)
from tci_gateway.api.security import check_policy, require
from tci_gateway.domain.money import Money, MoneyError, is_currency, parse_amount
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.services import credit_apply, credit_stats, tiers

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["credit"])

MAX_ID = 2**31 - 1
Reading = Annotated[ApiKey, Depends(require("buyers:read"))]
Applying = Annotated[ApiKey, Depends(require("cover:request"))]
Pinning = Annotated[ApiKey, Depends(require("admin"))]
Reference = Annotated[
    str,
    Path(max_length=32, pattern=REFERENCE_PATTERN, description="e.g. CA-20261201-000001"),
]
BuyerId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ledger's buyer id")]
RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Required: a unique key per application; a replay returns the stored "
        "application and neither assesses nor files anything again.",
    ),
]


def _bad(field: str, reason: str) -> Problem:
    return Problem(422, reason, errors=[FieldError(field=field, reason=reason)])


def _money(text: str, currency: str, field: str = "amount") -> Money:
    if not is_currency(currency):
        raise _bad("currency", f"{currency!r} is not an ISO 4217 currency code")
    try:
        value = parse_amount(text, currency)
    except MoneyError as exc:
        raise _bad(field, str(exc)) from None
    if value <= 0:
        raise _bad(field, "the amount must be above zero")
    return Money(value, currency)


def _application(ctx: ApiContext, key: ApiKey, reference: str) -> credit_apply.ApplicationView:
    """The application, 404 when there is none or its policy is not the key's."""
    try:
        view = credit_apply.get_application(ctx.ledger, reference)
    except LookupError:
        raise Problem(404, f"no credit application {reference}") from None
    if not key.allows_policy(view.policy):
        raise Problem(404, f"no credit application {reference}")
    return view


def _created(view: credit_apply.ApplicationView, status: int) -> JSONResponse:
    out = credit_views.application_out(view)
    return JSONResponse(
        out.model_dump(mode="json"), status_code=status, headers={"Location": out.url}
    )


@router.post(
    "/credit/applications",
    status_code=201,
    response_model=ApplicationOut,
    responses={
        201: {
            "description": "Decided or routed: granted within the DCL, with the insurer "
            "(one cover request queued) or referred to a person",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(404, 409),
    },
    summary="Apply for a credit line: pre-screened at once",
)
def apply(
    ctx: Ctx,
    request: Request,
    key: Applying,
    body: ApplicationIn,
    idempotency_key: RequiredIdempotencyKey,
) -> Response:
    """The pre-screen of `tci credit apply`: the buyer's bureaus assessed and its payment
    behaviour measured, the scorecard computed and the discretionary credit limit's
    conditions checked. Within the DCL with every condition met, the line is granted at
    once (no insurer call); above it, or with a condition failing, one cover request is
    queued to the insurer (and a provisional line granted when configured); adverse
    information, an insurer refusal or a low score goes to a person. 404 for an unknown
    buyer; 422 for a bad amount or an unknown policy. A key restricted to policies must
    name the policy."""
    policies = ctx.settings.domain_policies()
    if body.policy is not None:
        if body.policy not in policies:
            known = ", ".join(sorted(policies)) or "none"
            raise _bad("policy", f"unknown policy {body.policy!r} (configured: {known})")
        check_policy(key, body.policy)
    elif key.policies is not None:
        raise _bad("policy", "a key restricted to policies must name the policy")
    amount = _money(body.amount, body.currency)
    credit_views.resolve_buyer(ctx, body.buyer)

    def handler() -> Response:
        options = ctx.credit_options()
        try:
            view = credit_apply.apply_for_credit(
                ctx.ledger,
                policies,
                ctx.bureaus(),
                options,
                buyer=body.buyer,
                amount=amount,
                policy=body.policy,
                requested_by=key.name,
                channel="api",
                now=ctx.now(),
            )
        except LookupError as exc:
            raise Problem(404, str(exc).strip("'\"")) from None
        audit(
            ctx,
            request,
            key,
            "credit_application.apply",
            credit_views.audit_detail(view),
            status=201,
        )
        return _created(view, 201)

    raw = body.model_dump_json().encode()
    return idempotent(ctx, request, key, idempotency_key, raw, handler)


@router.get(
    "/credit/applications",
    response_model=ApplicationPage,
    summary="Credit applications, newest first",
)
def list_applications(
    ctx: Ctx,
    key: Reading,
    state: Annotated[ApplicationStateName | None, Query(description="only this state")] = None,
    buyer: Annotated[int | None, Query(ge=1, le=MAX_ID, description="a buyer id")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="`next_cursor` of the previous page")
    ] = None,
) -> ApplicationPage:
    """Keyset-paged by id (pass `next_cursor` as `before`), filtered by state and buyer;
    a key restricted to policies sees the applications under them."""
    found = credit_apply.list_applications(
        ctx.ledger, state=state, buyer_id=buyer, limit=limit + 1, before=before
    )
    page = found[:limit]
    more = len(found) > limit
    visible = [v for v in page if key.allows_policy(v.policy)]
    return ApplicationPage(
        items=[credit_views.application_out(v) for v in visible],
        next_cursor=str(page[-1].id) if more else None,
    )


@router.get(
    "/credit/applications/{reference}",
    response_model=ApplicationOut,
    summary="One credit application with its scorecard, conditions and steps",
    responses=problem_responses(404),
)
def get_application(ctx: Ctx, key: Reading, reference: Reference) -> ApplicationOut:
    """The application as `tci credit show` prints it: the scorecard (each factor, its
    weight, value, points and contribution; missing inputs named), the DCL conditions
    with why each holds or not, the route and every step with its time."""
    return credit_views.application_out(_application(ctx, key, reference))


@router.post(
    "/credit/applications/{reference}/decision",
    response_model=ApplicationOut,
    summary="A person's decision on a referred application",
    responses=problem_responses(404, 409),
)
def decide(
    ctx: Ctx,
    request: Request,
    key: Applying,
    reference: Reference,
    body: DecisionIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Grant (the amount applied for, or less), refuse, or send to the insurer (one
    cover request queued), as `tci credit decide` does; the reason is kept in the
    application's steps. A grant is an insured DCL line when the policy's conditions held
    and the amount is within the DCL, else an internal (uninsured) line. 404 for an
    unknown application, 409 when it is not waiting for a person. Audited; a replay with
    the same `Idempotency-Key` answers the stored response."""

    def handler() -> Response:
        before = _application(ctx, key, reference)
        if before.state != "referred":
            raise Problem(
                409, f"{reference} is {before.state}: a person decides referred applications"
            )
        amount = None
        if body.amount is not None:
            if body.decision != "grant":
                raise _bad("amount", "only a grant takes an amount")
            amount = _money(body.amount, before.currency)
        try:
            view = credit_apply.decide(
                ctx.ledger,
                reference,
                decision=body.decision,
                amount=amount,
                by=key.name,
                reason=body.reason,
                now=ctx.now(),
                policies=ctx.settings.domain_policies(),
            )
        except LookupError:
            raise Problem(404, f"no credit application {reference}") from None
        audit(
            ctx,
            request,
            key,
            "credit_application.decide",
            {**credit_views.audit_detail(view), "decision": body.decision, "reason": body.reason},
        )
        return _created(view, 200)

    raw = body.model_dump_json().encode()
    return idempotent(ctx, request, key, idempotency_key, raw, handler)


@router.get(
    "/credit/stats",
    response_model=StatsOut,
    summary="Time from application to decision, per tier and route",
)
def stats(
    ctx: Ctx,
    key: Reading,
    since: Annotated[
        date | None, Query(description="only applications received on or after this date")
    ] = None,
) -> StatsOut:
    """What `tci credit stats` prints: per tier and route, the applications, how many
    are decided and pending, and the hours from received to decided (median, 90th
    percentile, mean): the guidance's 72 hours against the pre-screen's."""
    if since is not None and not EARLIEST <= since <= ctx.now().date():
        raise _bad("since", f"since must be between {EARLIEST} and today")
    if key.policies is not None:
        raise Problem(403, f"the API key {key.name!r} is restricted to policies")
    return credit_views.stats_out(credit_stats.credit_stats(ctx.ledger, since=since), since)


# -- tiers and a buyer's credit position --------------------------------------------------


@router.put(
    "/buyers/{buyer_id}/tier",
    response_model=TierOut,
    summary="Pin a buyer's tier by hand",
    responses=problem_responses(404),
)
def pin(ctx: Ctx, request: Request, key: Pinning, buyer_id: BuyerId, body: TierIn) -> TierOut:
    """Set the buyer's tier and keep it until unpinned: the nightly tier rules leave a
    pinned buyer alone. Recorded in its tier history with the reason; audited. 422 for
    a tier that is not configured, 404 for an unknown buyer."""
    known = credit_views.known_tiers(ctx)
    if body.tier not in known:
        raise _bad("tier", f"unknown tier {body.tier!r} (configured: {', '.join(sorted(known))})")
    credit_views.check_buyer(ctx, key, buyer_id)
    try:
        change = tiers.pin_tier(
            ctx.ledger,
            str(buyer_id),
            body.tier,
            by=key.name,
            reason=body.reason,
            now=ctx.now(),
            known_tiers=known,
        )
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise _bad("tier", str(exc)) from None
    out = credit_views.tier_out(ctx, buyer_id, change)
    audit(
        ctx,
        request,
        key,
        "buyer.tier_pin",
        {"buyer_id": buyer_id, "tier": body.tier, "reason": body.reason},
    )
    return out


@router.delete(
    "/buyers/{buyer_id}/tier",
    response_model=TierOut,
    summary="Unpin a buyer's tier",
    responses=problem_responses(404),
)
def unpin(ctx: Ctx, request: Request, key: Pinning, buyer_id: BuyerId) -> TierOut:
    """The tier rules decide the buyer's tier again from the next evaluation; the tier
    stays as it is until then. Unpinning a buyer that is not pinned changes nothing
    (`change` is null). Audited."""
    credit_views.check_buyer(ctx, key, buyer_id)
    try:
        change = tiers.unpin_tier(ctx.ledger, str(buyer_id), by=key.name, now=ctx.now())
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    out = credit_views.tier_out(ctx, buyer_id, change)
    detail = {"buyer_id": buyer_id, "changed": change is not None}
    audit(ctx, request, key, "buyer.tier_unpin", detail)
    return out


@router.get(
    "/buyers/{buyer_id}/credit",
    response_model=BuyerCreditOut,
    summary="A buyer's tier, credit lines, progressive plan and payment behaviour",
    responses=problem_responses(404),
)
def buyer_credit(ctx: Ctx, key: Reading, buyer_id: BuyerId) -> BuyerCreditOut:
    """The buyer's tier (pinned or not) and its history with reasons; per policy the
    credit line it may use (insured limit or DCL line, plus internal and provisional
    lines); its progressive plans with their next step and why; and its payment
    behaviour today (omitted for a key restricted to policies: it spans all of them)."""
    credit_views.check_buyer(ctx, key, buyer_id)
    return credit_views.buyer_credit(ctx, key, buyer_id)
