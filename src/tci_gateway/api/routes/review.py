"""The review queue of proposed identity links: list (``buyers:read``), accept or reject
(``review:decide``).

A decision is idempotent by nature: deciding an item again the same way answers the
same result and changes nothing; the opposite decision is a 409. An ``Idempotency-Key``
is honoured as on every POST. Each decision that changes something is audited in the
transaction that makes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tci_gateway.api.audit import record
from tci_gateway.api.context import Ctx
from tci_gateway.api.idempotency import IdempotencyKey, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, Problem, problem_responses
from tci_gateway.api.routes.buyer_models import (
    MAX_ID,
    ReviewAccount,
    ReviewDecision,
    ReviewItem,
    ReviewList,
    decode_cursor,
    encode_cursor,
)
from tci_gateway.api.security import require
from tci_gateway.domain.identity import ReviewState
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.services import review_queue
from tci_gateway.services.review_queue import ReviewConflictError, ReviewNotFoundError

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["review"])

ReviewId = Annotated[int, Path(ge=1, le=MAX_ID, description="the review item's id")]
Deciding = Annotated[ApiKey, Depends(require("review:decide"))]


def _account(a: review_queue.ReviewAccount) -> ReviewAccount:
    return ReviewAccount(account=a.account, name=a.name, buyer_id=a.buyer_id, policy=a.policy)


def _item(item: review_queue.ReviewItem) -> ReviewItem:
    return ReviewItem(
        id=item.id,
        account_a=_account(item.a),
        account_b=_account(item.b),
        score=f"{item.score:.2f}",
        reason=item.reason,
        state=item.state.value,
        created_at=item.created_at,
        decided_at=item.decided_at,
    )


@router.get(
    "/review",
    response_model=ReviewList,
    summary="Proposed identity links, in id order, keyset-paged",
)
def list_review(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("buyers:read"))],
    state: Annotated[
        ReviewState | None, Query(description="PENDING (default), ACCEPTED or REJECTED")
    ] = ReviewState.PENDING,
    all_states: Annotated[bool, Query(alias="all", description="decided ones too")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> ReviewList:
    """Proposed links between two ERP accounts that a person must accept or reject,
    with the buyer each account belongs to now and why the link was proposed."""
    with ctx.ledger.reading() as session:
        items, last = review_queue.list_reviews(
            session,
            state=None if all_states else state,
            limit=limit,
            after=decode_cursor(cursor) or 0,
            allowed=key.policies,
        )
        return ReviewList(items=[_item(i) for i in items], next_cursor=encode_cursor(last))


@router.get(
    "/review/{review_id}",
    response_model=ReviewItem,
    summary="One proposed identity link",
    responses=problem_responses(404),
)
def get_review(
    ctx: Ctx, key: Annotated[ApiKey, Depends(require("buyers:read"))], review_id: ReviewId
) -> ReviewItem:
    """One proposed link and its decision, if any."""
    with ctx.ledger.reading() as session:
        try:
            return _item(review_queue.get_review(session, review_id, allowed=key.policies))
        except ReviewNotFoundError as exc:
            raise Problem(404, str(exc).strip("'\"")) from None


def _decide(
    ctx: Ctx,
    request: Request,
    key: ApiKey,
    review_id: int,
    state: ReviewState,
    idem_key: str | None,
) -> Response:
    def handler() -> Response:
        with ctx.ledger.unit_of_work() as session:
            try:
                decision = review_queue.decide(
                    session,
                    review_id,
                    state,
                    now=ctx.now(),
                    policies=ctx.settings.domain_policies(),
                    allowed=key.policies,
                )
            except ReviewNotFoundError as exc:
                raise Problem(404, str(exc).strip("'\"")) from None
            except ReviewConflictError as exc:
                raise Problem(409, str(exc)) from None
            if decision.changed:
                record(
                    session,
                    ctx,
                    request,
                    key,
                    f"review.{state.value.lower()}",
                    {
                        "review_id": review_id,
                        "accounts": [decision.item.a.account, decision.item.b.account],
                        "buyer_id": decision.buyer_id,
                        "merged_buyer_id": decision.merged_buyer_id,
                    },
                )
            body = ReviewDecision(item=_item(decision.item), buyer_id=decision.buyer_id)
        return JSONResponse(body.model_dump(mode="json"))

    return idempotent(ctx, request, key, idem_key, b"", handler)


@router.post(
    "/review/{review_id}/accept",
    response_model=ReviewDecision,
    summary="Accept a proposed link: the two accounts become one buyer",
    responses=problem_responses(404, 409),
)
def accept(
    ctx: Ctx,
    request: Request,
    key: Deciding,
    review_id: ReviewId,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Merges the buyers of the two accounts (their limits in force are computed again
    at once). 409 when the item was rejected, or while the two buyers' identifiers
    contradict or their open cases or covers would clash: correct them first."""
    return _decide(ctx, request, key, review_id, ReviewState.ACCEPTED, idempotency_key)


@router.post(
    "/review/{review_id}/reject",
    response_model=ReviewDecision,
    summary="Reject a proposed link: it is not proposed again",
    responses=problem_responses(404, 409),
)
def reject(
    ctx: Ctx,
    request: Request,
    key: Deciding,
    review_id: ReviewId,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """409 when the item was accepted already."""
    return _decide(ctx, request, key, review_id, ReviewState.REJECTED, idempotency_key)
