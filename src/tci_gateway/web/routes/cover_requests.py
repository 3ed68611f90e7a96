"""Cover requests in the workspace: every request sent to an insurer, newest first, and
one request with the insurer's decision.

The pages read what ``GET /v1/cover-requests`` reads (:mod:`tci_gateway.services.cover_views`),
for every policy (a person in the workspace sees them all). The relay of the serving
process (:func:`tci_gateway.api.routes.cover.background_tasks`) sends and polls the
requests; the page of a request still waiting reloads itself (``data-refresh``) until the
decision is in, then shows it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.domain.cover import OPEN_REQUEST_STATES, CoverAction, CoverRequestState
from tci_gateway.domain.cover import CoverStatus as S
from tci_gateway.services import cover_views
from tci_gateway.web.render import page
from tci_gateway.web.session import Viewer

router = APIRouter()

PAGE_SIZE = 50
REFRESH_SECONDS = 3
"""How often the page of a request still waiting for the insurer reloads."""
_MAX_ID = 2**31 - 1
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

# (state, the tab's label) for the filter; ``None``: every state
STATE_TABS: tuple[tuple[CoverRequestState | None, str], ...] = (
    (None, "All"),
    (CoverRequestState.QUEUED, "Queued"),
    (CoverRequestState.AMBIGUOUS, "Sent, outcome unknown"),
    (CoverRequestState.PENDING, "Waiting for the insurer"),
    (CoverRequestState.DECIDED, "Decided"),
    (CoverRequestState.REJECTED, "Refused by the insurer"),
)
STATE_TEXT = {
    CoverRequestState.QUEUED: "queued, not sent yet",
    CoverRequestState.AMBIGUOUS: "sent, outcome unknown (looked up before any resend)",
    CoverRequestState.PENDING: "with the insurer, waiting for the decision",
    CoverRequestState.DECIDED: "decided",
    CoverRequestState.REJECTED: "refused by the insurer (the request itself)",
}
ACTION_TEXT = {
    CoverAction.NEW: "request",
    CoverAction.INCREASE: "increase",
    CoverAction.REDUCE: "reduce",
    CoverAction.CANCEL: "cancel",
    CoverAction.RENEW: "renew",
}
_GOOD = {S.APPROVED}
_WARN = {S.PARTIALLY_APPROVED, S.REDUCED, S.INDICATION_ONLY, S.PENDING, S.SUPERSEDED}


def status_kind(status: S | None) -> str:
    """The badge colour of a decision's status (the status itself is always the text)."""
    if status is None:
        return ""
    if status in _GOOD:
        return "good"
    return "warn" if status in _WARN else "bad"


def state_kind(state: CoverRequestState) -> str:
    if state is CoverRequestState.REJECTED:
        return "bad"
    return "" if state in OPEN_REQUEST_STATES else "good"


def _currencies(ctx: ApiContext) -> dict[str, str]:
    return {key: p.terms.currency for key, p in ctx.settings.domain_policies().items()}


def _zones(ctx: ApiContext) -> dict[str, str]:
    """The time zone of each configured policy (a request's times are shown in it)."""
    return {key: p.timezone for key, p in ctx.settings.policies.items()}


def _common(ctx: ApiContext) -> dict[str, Any]:
    return {
        "zones": _zones(ctx),
        "state_text": STATE_TEXT,
        "action_text": ACTION_TEXT,
        "status_kind": status_kind,
        "state_kind": state_kind,
        "open_states": OPEN_REQUEST_STATES,
        "States": CoverRequestState,
    }


def _url(**params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "/cover-requests" + ("?" + urlencode(kept) if kept else "")


@router.get("/cover-requests", response_class=HTMLResponse)
def cover_requests(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    state: CoverRequestState | None = None,
    policy: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
    buyer_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,9}$")] = None,
) -> HTMLResponse:
    """Cover requests newest first, filtered by state (policy, buyer), keyset-paged."""
    items, next_id = cover_views.page(
        ctx.ledger,
        currencies=_currencies(ctx),
        limit=PAGE_SIZE,
        before=int(cursor) if cursor is not None else None,
        state=state,
        policy=policy or None,
        buyer_id=buyer_id,
    )
    filters = {"policy": policy, "buyer_id": buyer_id}
    tabs = [
        (label, _url(state=s.value if s else None, **filters), s == state)
        for s, label in STATE_TABS
    ]
    state_value = state.value if state else None
    next_url = _url(state=state_value, cursor=next_id, **filters) if next_id is not None else ""
    first_url = _url(state=state_value, **filters) if cursor is not None else ""
    return page(
        request,
        "cover_requests.html",
        me,
        title="Cover requests",
        items=items,
        tabs=tabs,
        state=state,
        policy=policy or "",
        buyer_id=buyer_id,
        filtered=bool(state or policy or buyer_id),
        policies=sorted(ctx.settings.policies),
        next_url=next_url,
        first_url=first_url,
        **_common(ctx),
    )


@router.get("/cover-requests/{request_id}", response_class=HTMLResponse)
def cover_request(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    request_id: Annotated[int, Path(ge=1, le=_MAX_ID)],
) -> HTMLResponse:
    """One request: what was asked, where it stands, the insurer's decision and raw
    codes. While the insurer has not decided, the page reloads itself."""
    found = cover_views.get(ctx.ledger, request_id, currencies=_currencies(ctx))
    if found is None:
        raise Problem(404, f"no cover request {request_id}")
    waiting = found.state in OPEN_REQUEST_STATES
    return page(
        request,
        "cover_request.html",
        me,
        title=f"Cover request {request_id}",
        r=found,
        waiting=waiting,
        refresh_seconds=REFRESH_SECONDS,
        zone=_zones(ctx).get(found.policy),
        **_common(ctx),
    )
