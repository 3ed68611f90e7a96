"""Claim cases (``/cases``, ``/cases/{id}``): the list, newest first; a case with its
deadlines, its actions towards the insurer, the itemised indemnity, the filing pack to
download (the renderer of ``tci claims pack`` and ``GET /v1/cases/{id}/filing-pack``) and,
for an action waiting for a person (a manual or rejected filing), the form confirming
that it was filed in the insurer's portal (``tci claims confirm``; analysts and
managers; audited as ``web_filing_confirmed``).

The figures are those of ``GET /v1/cases/{id}`` (:mod:`tci_gateway.services.case_views`);
refusals are the CLI's words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import FieldError, Problem
from tci_gateway.api.routes.case_models import FilingPackOut, IndemnityOut
from tci_gateway.domain.cases import AWAITING_PERSON, ActionState, CaseState
from tci_gateway.domain.escalation import StepAction
from tci_gateway.logs import redact_text
from tci_gateway.services import case_views
from tci_gateway.services.case_views import CaseInputError, CaseView
from tci_gateway.services.pack_render import render_pack
from tci_gateway.web import audit
from tci_gateway.web.render import page
from tci_gateway.web.session import Analyst, Viewer

router = APIRouter()

MAX_ID = 2**31 - 1
PAGE = 50
SOON = 7
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422}
_STATES = {"all": None, "open": CaseState.OPEN, "closed": CaseState.CLOSED}
_ACTS = ("notify_by", "claim_by")
"""Deadlines for an act (late once past); the others are events (passed)."""


def refused(exc: CaseInputError) -> Problem:
    """A service's refusal as the API answers it (404, 409 or 422, the CLI's words)."""
    status = _STATUS[exc.kind]
    field = exc.column.lstrip("-").lower()
    errors = [FieldError(field=field, reason=exc.reason)] if status == 422 else None
    return Problem(status, exc.reason, errors=errors)


def get_case(ctx: ApiContext, case_id: int) -> CaseView:
    """The case, or a 404 in the CLI's words."""
    try:
        return case_views.get_case(ctx.ledger, case_id)
    except CaseInputError as exc:
        raise refused(exc) from None


def action_label(action: StepAction | str) -> str:
    """``OVERDUE_NOTIFICATION`` -> ``Overdue notification``."""
    return str(action).replace("_", " ").capitalize()


def decimal(value: str | None) -> Decimal | None:
    """An amount of the stored indemnity (a string) as a Decimal, ``None`` when absent."""
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class DeadlineLine:
    name: str
    label: str
    on: date
    days_left: int | None
    """From the policy's business date; ``None`` for a closed case."""

    @property
    def act(self) -> bool:
        return self.name in _ACTS

    @property
    def status(self) -> str:
        """``late``, ``passed``, ``today``, ``in N days`` or empty (closed case)."""
        n = self.days_left
        if n is None:
            return ""
        if n < 0:
            return f"late by {-n} day{'s' if n != -1 else ''}" if self.act else "passed"
        if n == 0:
            return "today"
        return f"in {n} day{'s' if n != 1 else ''}"

    @property
    def late(self) -> bool:
        return self.act and self.days_left is not None and self.days_left < 0

    @property
    def soon(self) -> bool:
        return self.days_left is not None and 0 <= self.days_left <= SOON


def deadline_lines(ctx: ApiContext, case: CaseView) -> tuple[date | None, list[DeadlineLine]]:
    """The case's deadlines with the days left from its policy's business date."""
    policy = ctx.settings.domain_policies().get(case.policy)
    today = policy.terms.business_date(ctx.now()) if policy is not None else None
    live = today if case.state == CaseState.OPEN else None
    named = (
        ("cover_stop", "Cover stop (stop deliveries)", case.cover_stop),
        ("notify_by", "Notify by", case.notify_by),
        ("date_of_loss", "Date of loss", case.date_of_loss),
        ("claim_by", "Claim by", case.claim_by),
    )
    return today, [
        DeadlineLine(name, label, on, (on - live).days if live is not None else None)
        for name, label, on in named
    ]


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    state: Literal["all", "open", "closed"] = "all",
    policy: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Cases, newest first, ``PAGE`` at a time; filtered by state and policy."""
    policy = policy or None
    if policy is not None and policy not in ctx.settings.policies:
        known = ", ".join(sorted(ctx.settings.policies)) or "none"
        raise Problem(422, f"unknown policy {policy!r} (configured: {known})")
    found = case_views.list_cases(
        ctx.ledger, state=_STATES[state], policy=policy, before=before, limit=PAGE + 1
    )
    shown = found[:PAGE]
    next_url = ""
    if len(found) > PAGE:
        next_url = f"/cases?state={state}&before={shown[-1].id}"
        if policy:
            next_url += f"&policy={policy}"
    return page(
        request,
        "cases.html",
        me,
        title="Cases",
        cases=shown,
        state=state,
        states=list(_STATES),
        policy=policy or "",
        policies=sorted(ctx.settings.policies),
        paged=before is not None,
        next_url=next_url,
        awaiting=AWAITING_PERSON,
        action_label=action_label,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    case_id: CaseId,
    confirmed: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A case: figures, deadlines, actions, itemised indemnity, filing pack."""
    found = get_case(ctx, case_id)
    today, deadlines = deadline_lines(ctx, found)
    done = next(
        (
            a
            for a in found.actions
            if confirmed
            and a.action.value.lower() == confirmed.lower()
            and a.state == ActionState.FILED_MANUALLY
        ),
        None,
    )
    policy = ctx.settings.domain_policies().get(found.policy)
    return page(
        request,
        "case.html",
        me,
        title=f"Case {found.id}",
        case=found,
        today=today,
        timezone=policy.terms.timezone if policy is not None else None,
        deadlines=deadlines,
        indemnity=IndemnityOut.of(found.details.get("indemnity")),
        as_of=found.details.get("as_of"),
        awaiting=AWAITING_PERSON,
        confirmed=done,
        action_label=action_label,
        decimal=decimal,
        redact=redact_text,
    )


@router.get("/cases/{case_id}/pack")
def pack(ctx: Ctx, me: Viewer, case_id: CaseId, format: Literal["md", "json"] = "md") -> Response:
    """The filing pack to download: the Markdown document of ``tci claims pack``, or
    with ``?format=json`` the API's JSON."""
    try:
        found = case_views.filing_pack(ctx.ledger, case_id)
    except CaseInputError as exc:
        raise refused(exc) from None
    if format == "json":
        body = json.dumps(FilingPackOut.of(found).model_dump(mode="json"), indent=2) + "\n"
        media = "application/json"
    else:
        body, media = render_pack(found), "text/markdown; charset=utf-8"
    name = f"case-{case_id}-filing-pack.{format}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/cases/{case_id}/actions/{action}/confirm")
def confirm(
    request: Request,
    ctx: Ctx,
    me: Analyst,
    case_id: CaseId,
    action: Annotated[str, Path(max_length=64)],
    reference: Annotated[str, Form(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")],
) -> Response:
    """Record that a manual (or rejected) filing was made in the insurer's portal, with
    the portal's reference: the action becomes FILED_MANUALLY. Audited; 303 back to the
    case, which says so."""
    before = get_case(ctx, case_id)
    try:
        view = case_views.confirm_manual(ctx.ledger, case_id, action, reference, now=ctx.now())
    except CaseInputError as exc:
        raise refused(exc) from None
    was = next((a.state for a in before.actions if a.id == view.id), None)
    audit.audit(
        ctx,
        request,
        me,
        "web_filing_confirmed",
        {
            "case": case_id,
            "policy": before.policy,
            "action": view.action.value,
            "from": was.value if was is not None else None,
            "to": view.state.value,
            "insurer_reference": view.insurer_reference,
        },
    )
    return RedirectResponse(
        f"/cases/{case_id}?confirmed={view.action.value.lower()}#actions", status_code=303
    )
