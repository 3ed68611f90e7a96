"""The review queue in the workspace: proposed identity links between two ERP accounts,
with the evidence side by side, accepted or rejected by an analyst.

The pages read and decide through :mod:`tci_gateway.services.review_queue`, the service
behind ``/v1/review``: accepting merges the two accounts' buyers (refused, with the
API's words and status 409, while their identifiers contradict or when the item was
rejected already), rejecting keeps them apart for good. Deciding again the same way
changes nothing. Each decision that changes something is audited
(``web_review_accepted`` / ``web_review_rejected``) in the transaction that makes it,
then the browser goes back to the queue, which says what happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.api.routes.buyer_models import MAX_ID, decode_cursor, encode_cursor
from tci_gateway.api.routes.buyers import reader
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.identity import ReviewState, contradictions
from tci_gateway.services import review_queue
from tci_gateway.services.buyer_detail import BuyerIdentity, BuyerNotFoundError, buyer_identity
from tci_gateway.services.buyer_views import Reader
from tci_gateway.services.review_queue import (
    ReviewAccount,
    ReviewConflictError,
    ReviewItem,
    ReviewNotFoundError,
)
from tci_gateway.web import audit
from tci_gateway.web.render import page
from tci_gateway.web.session import Analyst, Viewer

router = APIRouter()

PAGE_SIZE = 20
NOTE_MAX = 500
ReviewId = Annotated[int, Path(ge=1, le=MAX_ID)]
StateFilter = Literal["PENDING", "ACCEPTED", "REJECTED", "all"]
_DONE = re.compile(r"^(already-)?(accepted|rejected)-([1-9][0-9]{0,9})$")
STATE_TABS: tuple[tuple[str, str], ...] = (
    ("PENDING", "Waiting for a decision"),
    ("ACCEPTED", "Accepted"),
    ("REJECTED", "Rejected"),
    ("all", "All"),
)


@dataclass(frozen=True)
class Side:
    """One account of a proposed link and the buyer it belongs to now (``None``: the
    account or its buyer is gone)."""

    account: ReviewAccount
    buyer: BuyerIdentity | None
    marks: dict[str, str] = field(default_factory=dict)
    """Identifier text -> ``same`` (the other side has it too) or ``clash`` (the other
    side has another value where only one can be)."""


@dataclass(frozen=True)
class Evidence:
    """A review item with both sides and what they say together."""

    item: ReviewItem
    a: Side
    b: Side
    same_buyer: bool
    shared: list[str]
    clashes: list[tuple[str, str]]
    same_country: bool | None

    @property
    def pending(self) -> bool:
        return self.item.state is ReviewState.PENDING


def identifier_text(scheme: str, issuer: str, value: str) -> str:
    """``DUNS:150483782``, ``INSURER/atradius:1000001`` (an :class:`Identifier`'s text)."""
    return f"{scheme}/{issuer}:{value}" if issuer else f"{scheme}:{value}"


def _identifiers(buyer: BuyerIdentity | None) -> set[Identifier]:
    found: set[Identifier] = set()
    for i in buyer.identifiers if buyer is not None else ():
        try:
            found.add(Identifier(Scheme(i.scheme), i.value, i.issuer))
        except ValueError:  # a scheme this version does not know: shown, not compared
            continue
    return found


Buyers = dict[int, BuyerIdentity | None]


def _buyer(
    session: Session, who: Reader, account: ReviewAccount, seen: Buyers
) -> BuyerIdentity | None:
    if account.buyer_id is None:
        return None
    if account.buyer_id not in seen:
        try:
            seen[account.buyer_id] = buyer_identity(session, who, account.buyer_id)
        except BuyerNotFoundError:
            seen[account.buyer_id] = None
    return seen[account.buyer_id]


def evidence(
    session: Session, who: Reader, item: ReviewItem, seen: Buyers | None = None
) -> Evidence:
    """Both sides of ``item`` with their buyers' identities, the identifiers they share
    and those that contradict (the rule that refuses the merge). ``seen``: buyers read
    already for this page (one buyer is often on several items)."""
    seen = {} if seen is None else seen
    buyer_a, buyer_b = _buyer(session, who, item.a, seen), _buyer(session, who, item.b, seen)
    ids_a, ids_b = _identifiers(buyer_a), _identifiers(buyer_b)
    same_buyer = buyer_a is not None and buyer_b is not None and buyer_a.id == buyer_b.id
    shared = sorted(str(i) for i in ids_a & ids_b) if not same_buyer else []
    clashes = [] if same_buyer else [(str(x), str(y)) for x, y in contradictions(ids_a, ids_b)]
    marks_a = dict.fromkeys(shared, "same") | {x: "clash" for x, _ in clashes}
    marks_b = dict.fromkeys(shared, "same") | {y: "clash" for _, y in clashes}
    same_country = (
        buyer_a.country == buyer_b.country if buyer_a is not None and buyer_b is not None else None
    )
    return Evidence(
        item=item,
        a=Side(item.a, buyer_a, marks_a),
        b=Side(item.b, buyer_b, marks_b),
        same_buyer=same_buyer,
        shared=shared,
        clashes=clashes,
        same_country=same_country,
    )


def _zones(ctx: ApiContext) -> dict[str, str]:
    return {key: p.timezone for key, p in ctx.settings.policies.items()}


def _zone(ctx: ApiContext, item: ReviewItem) -> str | None:
    """An item's times are shown in its first account's policy's zone (UTC without)."""
    return _zones(ctx).get(item.a.policy or item.b.policy or "")


def _url(**params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "/review" + ("?" + urlencode(kept) if kept else "")


def _done_message(session: Session, done: str | None) -> tuple[str, ReviewItem | None, bool] | None:
    """What the last decision did (``?done=accepted-12``): its word, the item as it is
    now, and whether it had been decided so before (nothing changed)."""
    matched = _DONE.match(done or "")
    if matched is None:
        return None
    try:
        item = review_queue.get_review(session, int(matched.group(3)))
    except ReviewNotFoundError:
        item = None
    return matched.group(2), item, matched.group(1) is not None


@router.get("/review", response_class=HTMLResponse)
def review_queue_page(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    state: StateFilter = "PENDING",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Proposed links in queue order (oldest first), pending ones by default, each with
    its evidence and the accept / reject form."""
    who = reader(ctx, None)
    with ctx.ledger.reading() as session:
        items, last = review_queue.list_reviews(
            session,
            state=None if state == "all" else ReviewState(state),
            limit=PAGE_SIZE,
            after=decode_cursor(cursor) or 0,
        )
        seen: Buyers = {}
        shown = [evidence(session, who, item, seen) for item in items]
        message = _done_message(session, done)
    zones = _zones(ctx)
    next_cursor = encode_cursor(last)
    return page(
        request,
        "review.html",
        me,
        title="Review queue",
        items=shown,
        state=state,
        tabs=[
            (label, _url(state=None if s == "PENDING" else s), s == state)
            for s, label in STATE_TABS
        ],
        next_url=_url(state=None if state == "PENDING" else state, cursor=next_cursor)
        if next_cursor
        else "",
        first_url=_url(state=None if state == "PENDING" else state) if cursor else "",
        message=message,
        zone_of=lambda e: zones.get(e.item.a.policy or e.item.b.policy or ""),
        note_max=NOTE_MAX,
    )


@router.get("/review/{review_id}", response_class=HTMLResponse)
def review_item_page(request: Request, ctx: Ctx, me: Viewer, review_id: ReviewId) -> HTMLResponse:
    """One proposed link: the evidence side by side and, while pending, the decision."""
    with ctx.ledger.reading() as session:
        try:
            item = review_queue.get_review(session, review_id)
        except ReviewNotFoundError as exc:
            raise Problem(404, str(exc).strip("'\"")) from None
        shown = evidence(session, reader(ctx, None), item)
    zone = _zone(ctx, item)
    return page(
        request,
        "review_item.html",
        me,
        title=f"Review item {review_id}",
        e=shown,
        zone_of=lambda e: zone,
        note_max=NOTE_MAX,
    )


def _decide(
    request: Request, ctx: ApiContext, me: Analyst, review_id: int, state: ReviewState, note: str
) -> Response:
    """Decide through the API's service; audit a change in its transaction; back to the
    queue, which says what happened."""
    word = state.value.lower()
    with ctx.ledger.unit_of_work() as session:
        try:
            decision = review_queue.decide(
                session,
                review_id,
                state,
                now=ctx.now(),
                policies=ctx.settings.domain_policies(),
            )
        except ReviewNotFoundError as exc:
            raise Problem(404, str(exc).strip("'\"")) from None
        except ReviewConflictError as exc:
            raise Problem(409, str(exc), title="Cannot be decided so") from None
        if decision.changed:
            audit.record(
                session,
                ctx,
                request,
                me,
                f"web_review_{word}",
                {
                    "review_id": review_id,
                    "accounts": [decision.item.a.account, decision.item.b.account],
                    "buyer_id": decision.buyer_id,
                    "merged_buyer_id": decision.merged_buyer_id,
                    "note": note.strip(),
                },
            )
    done = f"{word}-{review_id}" if decision.changed else f"already-{word}-{review_id}"
    return RedirectResponse(_url(done=done), status_code=303)


Note = Annotated[str, Form(max_length=NOTE_MAX)]


@router.post("/review/{review_id}/accept")
def accept(
    request: Request, ctx: Ctx, me: Analyst, review_id: ReviewId, note: Note = ""
) -> Response:
    """Accept the link: the two accounts' buyers become one."""
    return _decide(request, ctx, me, review_id, ReviewState.ACCEPTED, note)


@router.post("/review/{review_id}/reject")
def reject(
    request: Request, ctx: Ctx, me: Analyst, review_id: ReviewId, note: Note = ""
) -> Response:
    """Reject the link: the two accounts stay apart and are not proposed again."""
    return _decide(request, ctx, me, review_id, ReviewState.REJECTED, note)
