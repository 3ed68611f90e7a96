"""Deadlines, claim cases, filing packs and manual filing confirmations (the risk team).

The same services as ``tci deadlines``, ``tci claims list|show|pack|confirm``: the
deadlines come from the deadline scan on each policy's business date, a case's figures
and itemised indemnity are those ``tci claims show --json`` prints, the filing pack is
rendered by the CLI's renderer (:mod:`tci_gateway.services.pack_render`), and a
confirmation is refused with the CLI's words. A key restricted to policies sees only
theirs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tci_gateway.api.audit import audit
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import IdempotencyKey, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, FieldError, Problem, problem_responses
from tci_gateway.api.routes.case_models import (
    ActionOut,
    CaseDetailOut,
    CaseOut,
    CasesPage,
    ConfirmIn,
    DeadlineOut,
    DeadlinesPage,
    FilingPackOut,
    decode_position,
    encode_position,
)
from tci_gateway.api.security import check_policy, require
from tci_gateway.domain.cases import CaseState
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.services import case_views
from tci_gateway.services.case_views import CaseInputError, CaseView
from tci_gateway.services.deadline_views import upcoming_deadlines
from tci_gateway.services.pack_render import render_pack

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["cases"])

MAX_ID = 2**31 - 1
MARKDOWN = "text/markdown"
Reading = Annotated[ApiKey, Depends(require("buyers:read"))]
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="the case id")]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page"),
]
PolicyFilter = Annotated[
    str | None, Query(max_length=64, description="only this policy (its configured key)")
]
_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422}


def _policy_filter(ctx: ApiContext, key: ApiKey, policy: str | None) -> None:
    if policy is None:
        return
    if policy not in ctx.settings.policies:
        known = ", ".join(sorted(ctx.settings.policies)) or "none"
        raise Problem(
            422,
            f"unknown policy {policy!r} (configured: {known})",
            errors=[FieldError(field="policy", reason="not a configured policy")],
        )
    check_policy(key, policy)


def _refused(exc: CaseInputError) -> Problem:
    status = _STATUS[exc.kind]
    field = exc.column.lstrip("-").lower()
    errors = [FieldError(field=field, reason=exc.reason)] if status == 422 else None
    return Problem(status, exc.reason, errors=errors)


def _case(ctx: ApiContext, key: ApiKey, case_id: int) -> CaseView:
    """The case, 404 when there is none, 403 when the key may not see its policy."""
    try:
        case = case_views.get_case(ctx.ledger, case_id)
    except CaseInputError as exc:
        raise _refused(exc) from None
    check_policy(key, case.policy)
    return case


@router.get(
    "/deadlines",
    response_model=DeadlinesPage,
    summary="Overdue buyers with a deadline within the next days",
)
def deadlines(
    ctx: Ctx,
    key: Reading,
    days: Annotated[
        int, Query(ge=0, le=3660, description="the horizon in calendar days (0: today)")
    ] = 90,
    policy: PolicyFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DeadlinesPage:
    """Each overdue buyer (as `tci deadlines --within DAYS` lists them) whose clock has a
    deadline (cover stop, notify by, date of loss, claim by) from the policy's business
    date to `days` ahead: the clock of its oldest overdue invoice, or of its case once
    the insurer was notified; with the escalation steps due. Ordered by policy and
    buyer."""
    _policy_filter(ctx, key, policy)
    after = decode_position(cursor, str, int) if cursor is not None else None
    settings = ctx.settings
    page = upcoming_deadlines(
        ctx.ledger,
        settings.domain_policies(),
        settings.escalation_paths(),
        default_tier=settings.escalation.default_tier,
        now=ctx.now(),
        within=days,
        lead_days=tuple(settings.alerts.deadline_lead_days),
        allowed=key.policies,
        policy=policy,
        after=(after[0], after[1]) if after is not None else None,
        limit=limit,
    )
    return DeadlinesPage(
        days=days,
        items=[DeadlineOut.of(row) for row in page.rows],
        next_cursor=encode_position(*page.next_after) if page.next_after else None,
    )


@router.get("/cases", response_model=CasesPage, summary="Overdue cases, newest first")
def cases(
    ctx: Ctx,
    key: Reading,
    state: Annotated[
        CaseState | None, Query(description="OPEN or CLOSED; all when not given")
    ] = None,
    policy: PolicyFilter = None,
    buyer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CasesPage:
    """Cases with their deadlines, amounts and actions (what awaits a person is
    `awaiting_person`), as `tci claims list` shows them; the itemised indemnity is in
    `GET /v1/cases/{id}`."""
    _policy_filter(ctx, key, policy)
    before = decode_position(cursor, int)[0] if cursor is not None else None
    found = case_views.list_cases(
        ctx.ledger,
        state=state,
        policies=key.policies,
        policy=policy,
        buyer_id=buyer_id,
        before=before,
        limit=limit + 1,
    )
    page = found[:limit]
    more = len(found) > limit
    return CasesPage(
        items=[CaseOut.of(c) for c in page],
        next_cursor=encode_position(page[-1].id) if more else None,
    )


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetailOut,
    summary="One case with its itemised indemnity",
    responses=problem_responses(404),
)
def case(ctx: Ctx, key: Reading, case_id: CaseId) -> CaseDetailOut:
    """A case: deadlines, actions with their references, and the itemised indemnity
    (the figures of `tci claims show --json`)."""
    return CaseDetailOut.of(_case(ctx, key, case_id))


def _refused_by_q(params: str) -> bool:
    """``q=0`` (or ``0.000``) among a media range's parameters: not acceptable."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q" and value.strip().rstrip("0").rstrip(".") in ("", "0"):
            return True
    return False


def _wants_markdown(request: Request) -> bool:
    """Markdown or JSON by ``Accept`` (the first of the two it names; JSON for ``*/*``
    or none); 406 for an ``Accept`` that allows neither."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if _refused_by_q(params):
            continue
        if media in (MARKDOWN, "text/*"):
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    raise Problem(406, "the filing pack is application/json or text/markdown")


@router.get(
    "/cases/{case_id}/filing-pack",
    response_model=FilingPackOut,
    summary="The manual filing pack of a case (JSON or Markdown)",
    responses={
        200: {"content": {MARKDOWN: {"schema": {"type": "string"}}}},
        **problem_responses(404, 406),
    },
)
def filing_pack(ctx: Ctx, key: Reading, request: Request, case_id: CaseId) -> Response:
    """Everything an insurer's portal asks for (buyer and identifiers, policy, dates,
    amounts, the itemised indemnity, the actions and their invoices): JSON, or with
    `Accept: text/markdown` the document `tci claims pack` writes."""
    markdown = _wants_markdown(request)
    _case(ctx, key, case_id)
    pack = case_views.filing_pack(ctx.ledger, case_id)
    if markdown:
        return Response(render_pack(pack), media_type=f"{MARKDOWN}; charset=utf-8")
    return JSONResponse(FilingPackOut.of(pack).model_dump(mode="json"))


@router.post(
    "/cases/{case_id}/actions/{action}/confirm",
    response_model=ActionOut,
    summary="Confirm a manual filing made in the insurer's portal",
    responses=problem_responses(404, 409),
)
def confirm(
    ctx: Ctx,
    request: Request,
    key: Annotated[ApiKey, Depends(require("claims:confirm"))],
    case_id: CaseId,
    action: Annotated[str, Path(max_length=64, description="e.g. overdue_notification, claim")],
    body: ConfirmIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record that a manual (or rejected) filing of `action` was made in the insurer's
    portal, with the portal's reference, as `tci claims confirm` does: the action becomes
    FILED_MANUALLY. 404 for an unknown case or action, 409 when the action is not
    awaiting a person. Audited; a replay with the same `Idempotency-Key` answers the
    stored response."""

    def handler() -> Response:
        case = _case(ctx, key, case_id)
        try:
            view = case_views.confirm_manual(
                ctx.ledger, case_id, action, body.reference, now=ctx.now()
            )
        except CaseInputError as exc:
            raise _refused(exc) from None
        before = next((a.state for a in case.actions if a.id == view.id), None)
        audit(
            ctx,
            request,
            key,
            "case.confirm_manual_filing",
            {
                "case": case_id,
                "policy": case.policy,
                "action": view.action.value,
                "from": before.value if before is not None else None,
                "to": view.state.value,
                "insurer_reference": view.insurer_reference,
            },
        )
        return JSONResponse(ActionOut.of(case_id, view).model_dump(mode="json"))

    return idempotent(ctx, request, key, idempotency_key, body.model_dump_json().encode(), handler)
