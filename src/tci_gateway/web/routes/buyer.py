"""The buyer page: ``GET /buyers/{id}`` (identity, covers against exposure, open items
with their ageing, alerts, cases) and ``POST /buyers/{id}/cover`` (request, increase,
reduce or cancel cover; analysts and managers).

The cover form is queued through the service behind ``POST /v1/cover-requests``
(:func:`tci_gateway.services.cover_views.queue`). It carries a one-time token, drawn
when the page is rendered: the audit row ``web_cover_requested`` records it in the same
transaction as the request, behind a lock on the person's row, so a second submit of the
same form (a double click, a reload) queues nothing and is sent to the first request.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.api.routes.buyer_models import MAX_ID
from tci_gateway.api.routes.buyers import not_found, reader
from tci_gateway.domain.ageing import BUCKETS
from tci_gateway.domain.cover import CoverAction
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import ErpAccountRow
from tci_gateway.ledger.users import SignedIn
from tci_gateway.ledger.web_tables import Role, UserRow
from tci_gateway.services import buyer_detail, cover_views
from tci_gateway.web import audit
from tci_gateway.web.buyer_view import ITEM_CAP, cases_of, gather
from tci_gateway.web.credit_view import buyer_credit, helpers
from tci_gateway.web.render import page
from tci_gateway.web.session import Analyst, Viewer

router = APIRouter()

AUDIT_ACTION = "web_cover_requested"
ITEMS_SHOWN = 50
ITEMS_ALL = 5_000
"""The open-items list: a first page, or (``?items=all``) up to this many."""
FORM_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
TOKEN_KEPT_HOURS = 24
"""A form's token is looked up among the person's requests of the last day."""
ACTIONS = (
    (CoverAction.NEW, "Request new cover"),
    (CoverAction.INCREASE, "Increase cover"),
    (CoverAction.REDUCE, "Reduce cover"),
    (CoverAction.CANCEL, "Cancel cover"),
)
BuyerId = Annotated[int, Path(ge=1, le=MAX_ID)]


class AlreadySubmitted(Exception):
    """This form's token was used: the request it queued."""

    def __init__(self, request_id: int) -> None:
        super().__init__(request_id)
        self.request_id = request_id


@router.get("/buyers/{buyer_id}", response_class=HTMLResponse)
def buyer_page(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    buyer_id: BuyerId,
    items: Annotated[str | None, Query(pattern="^all$")] = None,
) -> Response:
    """The buyer: identity, covers per policy against exposure, open items with their
    ageing, alerts, cases, and the cover form (disabled for a viewer)."""
    view = reader(ctx, None)
    with ctx.ledger.reading() as session:
        try:
            data = gather(session, view, buyer_id, items_shown=ITEMS_ALL if items else ITEMS_SHOWN)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
        session.expunge_all()  # the rows stay readable once the transaction ends
    data.cases, data.cases_more = cases_of(ctx.ledger, buyer_id)
    policies = ctx.settings.domain_policies()
    under = [p.policy for p in data.panels if p.policy in policies]
    choices = [*under, *sorted(k for k in policies if k not in under)]
    return page(
        request,
        "buyer.html",
        me,
        title=data.identity.name,
        b=data,
        buckets=[b.value for b in BUCKETS],
        show_all=bool(items),
        may_act=me.user.may(Role.ANALYST),
        policy_choices=[(k, policies[k].insurer, policies[k].terms.currency) for k in choices],
        currencies=sorted({policies[k].terms.currency for k in choices}),
        actions=[(a.value.lower(), label) for a, label in ACTIONS],
        form_token=secrets.token_urlsafe(24),
        item_cap=ITEM_CAP,
        credit=buyer_credit(
            ctx, buyer_id, tier=data.identity.tier, tier_set=data.identity.tier_set
        ),
        may_manage=me.user.may(Role.MANAGER),
        **helpers(),
    )


def _reference(session: Session, buyer_id: int, policy: str) -> str:
    """What the cover service is given to find the buyer: one of its ERP accounts
    (under ``policy`` first); its id only when it has none and no account is named so."""
    rows = session.execute(
        select(ErpAccountRow.account, ErpAccountRow.policy_id)
        .where(ErpAccountRow.buyer_id == buyer_id)
        .order_by(ErpAccountRow.account)
        .limit(50)
    ).all()
    pid = policy_ids(session).get(policy)
    for account, account_pid in rows:
        if account_pid == pid:
            return str(account)
    if rows:
        return str(rows[0][0])
    clash = session.scalar(
        select(ErpAccountRow.buyer_id).where(ErpAccountRow.account == str(buyer_id))
    )
    if clash is not None:
        raise Problem(
            422,
            f"buyer {buyer_id} has no ERP account, and ERP account {buyer_id!s} is another "
            "buyer's: request its cover with `tci cover request` by account",
        )
    return str(buyer_id)


def _used(session: Session, me: SignedIn, token: str, since: datetime) -> int | None:
    """The request queued with this form token (its audit row), if any."""
    detail = session.scalars(
        select(AuditRow.detail)
        .where(
            AuditRow.action == AUDIT_ACTION,
            AuditRow.user_id == me.user.id,
            AuditRow.at >= since,
            AuditRow.detail["form_token"].as_string() == token,
        )
        .limit(1)
    ).first()
    if detail is None:
        return None
    return int(detail["cover_request_id"])


@router.post("/buyers/{buyer_id}/cover")
def request_cover(
    request: Request,
    ctx: Ctx,
    me: Analyst,
    buyer_id: BuyerId,
    policy: Annotated[str, Form(min_length=1, max_length=64)],
    action: Annotated[str, Form(pattern="^(new|increase|reduce|cancel)$")],
    form_token: Annotated[str, Form(pattern=FORM_ID_PATTERN)],
    amount: Annotated[str, Form(max_length=32)] = "",
    currency: Annotated[str, Form(max_length=3)] = "",
    urgent: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Queue the request as ``POST /v1/cover-requests`` does, audited, once per form;
    then to the request's page, which follows the insurer's answer."""
    view = reader(ctx, None)
    with ctx.ledger.reading() as session:
        try:
            buyer_detail.check_visible(session, view, buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
        reference = _reference(session, buyer_id, policy)
    now = ctx.now()
    since = now - timedelta(hours=TOKEN_KEPT_HOURS)
    given = amount.strip() or None

    def before(session: Session) -> None:
        # One submit of a form at a time per person (PostgreSQL; SQLite's write
        # transactions are serial anyway): the second sees the first's audit row.
        session.execute(select(UserRow.id).where(UserRow.id == me.user.id).with_for_update())
        found = _used(session, me, form_token, since)
        if found is not None:
            raise AlreadySubmitted(found)

    def after(session: Session, request_id: int) -> None:
        audit.record(
            session,
            ctx,
            request,
            me,
            AUDIT_ACTION,
            {
                "cover_request_id": request_id,
                "form_token": form_token,
                "buyer_id": buyer_id,
                "policy": policy,
                "action": action,
                "amount": given,
                "currency": (currency or None) if given else None,
                "urgent": bool(urgent),
            },
            status=303,
        )

    try:
        request_id = cover_views.queue(
            ctx.ledger,
            ctx.settings.domain_policies(),
            policy=policy,
            buyer=reference,
            action=CoverAction(action.upper()),
            amount=given,
            currency=(currency or None) if given else None,
            urgent=bool(urgent),
            now=now,
            before=before,
            after=after,
        )
    except AlreadySubmitted as done:
        request_id = done.request_id
    return RedirectResponse(f"/cover-requests/{request_id}", status_code=303)
