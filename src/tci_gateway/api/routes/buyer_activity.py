"""For the risk team: what one buyer owes and what it raised: open items, exposure,
alerts and cases (read-only, scope ``buyers:read``; the buyer itself, its covers and the
list are in :mod:`tci_gateway.api.routes.buyers`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import COMMON_PROBLEMS, problem_responses
from tci_gateway.api.routes.buyer_models import (
    BuyerAlert,
    BuyerAlerts,
    BuyerCase,
    BuyerCases,
    BuyerExposure,
    BuyerOpenItem,
    BuyerOpenItems,
    BuyerPosition,
    decode_cursor,
    encode_cursor,
)
from tci_gateway.api.routes.buyers import (
    PRINTABLE,
    BuyerId,
    Cursor,
    Limit,
    Reading,
    not_found,
    reader,
)
from tci_gateway.domain.cases import CaseState
from tci_gateway.domain.money import amount_text
from tci_gateway.services import buyer_detail
from tci_gateway.services.buyer_views import buyer_positions
from tci_gateway.services.case_views import list_cases

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["buyers"])


@router.get(
    "/buyers/{buyer_id}/open-items",
    response_model=BuyerOpenItems,
    summary="The buyer's open items, keyset-paged",
    responses=problem_responses(404),
)
def get_open_items(
    ctx: Ctx,
    key: Reading,
    buyer_id: BuyerId,
    include_closed: Annotated[bool, Query(description="items open for nothing too")] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BuyerOpenItems:
    """The open items of the buyer's ERP accounts in id order; closed ones (open for
    nothing) only with `include_closed`."""
    with ctx.ledger.reading() as session:
        try:
            items, last = buyer_detail.open_items(
                session,
                reader(ctx, key),
                buyer_id,
                limit=limit,
                after=decode_cursor(cursor) or 0,
                include_closed=include_closed,
            )
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
        out = [
            BuyerOpenItem(
                id=i.id,
                erp_account=i.erp_account,
                policy=i.policy,
                document_number=i.row.document_number,
                kind=i.row.kind,
                currency=i.row.currency,
                amount=amount_text(i.row.amount, i.row.currency),
                open_amount=amount_text(i.row.open_amount, i.row.currency),
                document_date=i.row.document_date,
                delivery_date=i.row.delivery_date,
                due_date=i.row.due_date,
                extended_due_date=i.row.extended_due_date,
                disputed=i.row.disputed,
                applies_to=i.row.applies_to,
                source=i.row.source,
                company_code=i.row.company_code,
                closed_on=i.row.closed_on,
                updated_at=i.row.updated_at,
            )
            for i in items
        ]
    return BuyerOpenItems(buyer_id=buyer_id, items=out, next_cursor=encode_cursor(last))


@router.get(
    "/buyers/{buyer_id}/exposure",
    response_model=BuyerExposure,
    summary="Exposure against the limit in force, per policy",
    responses=problem_responses(404),
)
def get_exposure(ctx: Ctx, key: Reading, buyer_id: BuyerId) -> BuyerExposure:
    """Per policy: open receivables converted to the policy currency against the limit
    in force, covered and uncovered parts, and the alerts they raise (as `tci exposure`)."""
    view = reader(ctx, key)
    with ctx.ledger.reading() as session:
        try:
            buyer_detail.check_visible(session, view, buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
        positions = buyer_positions(session, view, [buyer_id]).get(buyer_id, [])
    return BuyerExposure(buyer_id=buyer_id, positions=[BuyerPosition.of(p) for p in positions])


@router.get(
    "/buyers/{buyer_id}/alerts",
    response_model=BuyerAlerts,
    summary="The buyer's alerts, newest first, keyset-paged",
    responses=problem_responses(404),
)
def get_alerts(
    ctx: Ctx,
    key: Reading,
    buyer_id: BuyerId,
    kind: Annotated[
        str | None, Query(max_length=32, pattern=PRINTABLE, description="e.g. over_limit")
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BuyerAlerts:
    """The alerts raised about the buyer (syncs, exposure, deadlines, claims), newest
    first."""
    with ctx.ledger.reading() as session:
        try:
            rows, last = buyer_detail.alerts(
                session,
                reader(ctx, key),
                buyer_id,
                limit=limit,
                before=decode_cursor(cursor),
                kind=kind,
            )
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
        out = [
            BuyerAlert(
                id=a.row.id,
                kind=a.row.kind,
                severity=a.row.severity,
                policy=a.policy,
                business_date=a.row.business_date,
                message=a.row.message,
                details=dict(a.row.details or {}),
                created_at=a.row.created_at,
            )
            for a in rows
        ]
    return BuyerAlerts(buyer_id=buyer_id, alerts=out, next_cursor=encode_cursor(last))


@router.get(
    "/buyers/{buyer_id}/cases",
    response_model=BuyerCases,
    summary="The buyer's overdue cases, newest first",
    responses=problem_responses(404),
)
def get_cases(
    ctx: Ctx,
    key: Reading,
    buyer_id: BuyerId,
    state: Annotated[
        CaseState | None, Query(description="OPEN or CLOSED; all when not given")
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BuyerCases:
    """The buyer's overdue cases with their deadlines and indemnity (as `tci claims
    list`), newest first, keyset-paged."""
    with ctx.ledger.reading() as session:
        try:
            buyer_detail.check_visible(session, reader(ctx, key), buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
    cases = list_cases(
        ctx.ledger,
        state=state,
        buyer_id=buyer_id,
        policies=key.policies,
        before=decode_cursor(cursor),
        limit=limit + 1,
    )
    more = len(cases) > limit
    cases = cases[:limit]
    return BuyerCases(
        buyer_id=buyer_id,
        next_cursor=encode_cursor(cases[-1].id if more and cases else None),
        cases=[
            BuyerCase(
                id=c.id,
                policy=c.policy,
                insurer=c.insurer,
                state=c.state.value,
                insurer_status=c.insurer_status.value if c.insurer_status else None,
                tier=c.tier,
                currency=c.currency,
                overdue_total=amount_text(c.overdue_total, c.currency),
                insured_total=amount_text(c.insured_total, c.currency),
                indemnity=amount_text(c.indemnity, c.currency),
                indemnity_lower_bound=c.indemnity_lower_bound,
                due_date=c.due_date,
                cover_stop=c.cover_stop,
                notify_by=c.notify_by,
                date_of_loss=c.date_of_loss,
                claim_by=c.claim_by,
                opened_on=c.opened_on,
                closed_on=c.closed_on,
            )
            for c in cases
        ],
    )
