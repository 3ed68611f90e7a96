"""Payment behaviour: DSO (countback and simple), best possible DSO, days beyond terms,
the share paid on time, ageing and disputes, per buyer, tier, policy or the portfolio;
and the trend drawn from the nightly snapshots.

The same services as ``tci behaviour`` (:mod:`tci_gateway.services.behaviour`); read-only
(scope ``buyers:read``). The figures of a tier, a buyer or the portfolio span every
policy, so a key restricted to some policies may read only ``scope=policy`` for those.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import COMMON_PROBLEMS, FieldError, Problem, problem_responses
from tci_gateway.api.routes.buyer_models import MAX_ID
from tci_gateway.api.routes.credit_models import (
    PRINTABLE,
    BehaviourOut,
    BehaviourReportOut,
    BehaviourTrendOut,
)
from tci_gateway.api.security import check_policy, require
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.services.behaviour import ScopedBehaviour, behaviour_report, trend
from tci_gateway.services.credit_options import CreditOptions

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["credit"])

Reading = Annotated[ApiKey, Depends(require("buyers:read"))]
ScopeName = Literal["buyer", "tier", "policy", "portfolio"]
EARLIEST = date(2000, 1, 1)
"""The earliest business date asked about (a countback of 36 months stays in range)."""


def bad(field: str, reason: str) -> Problem:
    return Problem(422, reason, errors=[FieldError(field=field, reason=reason)])


def business_date(ctx: ApiContext, as_of: date | None) -> date:
    """``as_of`` (default: today), never in the future: a figure of a day not yet
    imported would show the book of today as if it were then."""
    today = ctx.now().date()
    if as_of is None:
        return today
    if not EARLIEST <= as_of <= today:
        raise bad("as_of", f"as_of must be between {EARLIEST} and today ({today})")
    return as_of


def check_scope(ctx: ApiContext, api_key: ApiKey, scope: str, key: str | None) -> None:
    """403 when a key restricted to policies asks for figures beyond them; 422 for an
    unknown policy."""
    if scope == "policy" and key is not None:
        if key not in ctx.settings.policies:
            known = ", ".join(sorted(ctx.settings.policies)) or "none"
            raise bad("key", f"unknown policy {key!r} (configured: {known})")
        check_policy(api_key, key)
        return
    if api_key.policies is not None:
        raise Problem(
            403,
            f"the API key {api_key.name!r} is restricted to policies: it may read the "
            "behaviour of its policies only (scope=policy&key=...)",
        )


def check_key(options: CreditOptions, scope: str, key: str | None) -> None:
    """A buyer is named by its ledger id (404 beyond the ids the ledger can hold); a tier
    must be a configured one (422)."""
    if key is None:
        return
    if scope == "buyer":
        if not (key.isascii() and key.isdigit()):
            raise bad("key", "a buyer is named by its ledger id")
        if int(key) > MAX_ID:
            raise Problem(404, f"no buyer {key} in the ledger")
    elif scope == "tier" and options.tiers is not None:
        known = options.tiers.known_tiers
        if known and key not in known:
            raise bad("key", f"unknown tier {key!r} (configured: {', '.join(sorted(known))})")


def _out(found: ScopedBehaviour) -> BehaviourOut:
    return BehaviourOut.of(found.scope, found.key, found.label, found.behaviour)


ScopeQuery = Annotated[
    ScopeName, Query(description="buyer, tier, policy or portfolio (the whole book)")
]
KeyQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=PRINTABLE,
        description="the buyer id, tier name or policy key; none: every one of the scope",
    ),
]


@router.get(
    "/behaviour",
    response_model=BehaviourReportOut,
    summary="Payment behaviour (DSO, days beyond terms, ageing) on a business date",
    responses=problem_responses(404),
)
def get_behaviour(
    ctx: Ctx,
    api_key: Reading,
    scope: ScopeQuery = "portfolio",
    key: KeyQuery = None,
    as_of: Annotated[
        date | None, Query(description="the business date (default today; not later)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=64, pattern=PRINTABLE, description="`next_cursor` of the last page"),
    ] = None,
) -> BehaviourReportOut:
    """The figures of `tci behaviour`: for `scope` and `key` (one buyer, tier or policy;
    without `key` every one of the scope, sorted by label and paged with `cursor`), in the
    reporting currency. A tier's or policy's DSO comes from its summed receivables and
    sales, not from an average of DSOs. 404 for an unknown buyer; 422 for an unknown tier
    or policy."""
    day = business_date(ctx, as_of)
    check_scope(ctx, api_key, scope, key)
    options = ctx.credit_options()
    check_key(options, scope, key)
    try:
        found = behaviour_report(ctx.ledger, day, options.behaviour, scope=scope, key=key)
    except LookupError as exc:
        raise Problem(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise bad("key", str(exc)) from None
    start = 0
    if cursor is not None:
        keys = [f.key for f in found]
        if cursor not in keys:
            raise bad("cursor", "the cursor names no entry of this scope on this date")
        start = keys.index(cursor) + 1
    page = found[start : start + limit]
    more = start + limit < len(found)
    return BehaviourReportOut(
        as_of=day,
        scope=scope,
        key=key,
        items=[_out(f) for f in page],
        next_cursor=page[-1].key if more and page else None,
    )


@router.get(
    "/behaviour/trend",
    response_model=BehaviourTrendOut,
    summary="Payment behaviour over time, from the nightly snapshots",
)
def get_behaviour_trend(
    ctx: Ctx,
    api_key: Reading,
    scope: ScopeQuery = "portfolio",
    key: KeyQuery = None,
    months: Annotated[int, Query(ge=1, le=120, description="how far back")] = 24,
) -> BehaviourTrendOut:
    """The snapshots the nightly credit review keeps (each month-end and the latest) of
    one buyer, tier, policy or the portfolio (`key` may be left out for it), oldest
    first: the figures as they were computed then, never recomputed. Empty until the
    review has run."""
    if key is None:
        if scope != "portfolio":
            raise bad("key", f"scope {scope} needs a key")
        key = "all"
    check_scope(ctx, api_key, scope, key)
    check_key(ctx.credit_options(), scope, key)
    try:
        points = trend(ctx.ledger, scope, key, months=months)
    except ValueError as exc:
        raise bad("key", str(exc)) from None
    return BehaviourTrendOut(scope=scope, key=key, months=months, points=[_out(p) for p in points])
