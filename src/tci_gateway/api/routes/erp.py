"""For the ERP: covered limits, buyers and open items batches, exposure, alerts.

* ``GET /v1/limits``: the covered limits in force, as ``tci export limits`` gives them
  (rolled to today first), a page at a time, full or ``changed_since`` the cursor the last
  read handed back; JSON or CSV (``Accept: text/csv``, escaped as the export's file);
  ``ETag`` and ``If-None-Match`` (304).
* ``POST /v1/buyers``, ``POST /v1/open-items``: a batch in the canonical JSON or CSV, read
  and validated by the file import's own code, all or nothing; ``complete`` with its
  scope closes what a complete open-items batch no longer lists (behind the mass-close
  guard); ``Idempotency-Key``.
* ``GET /v1/exposure``, ``GET /v1/alerts``.

A key restricted to policies sees only their limits, exposure and alerts, and writes
only their buyers and items.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from tci_gateway.api.audit import record
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import IdempotencyKey, RawBody, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, Problem, problem_responses, record_errors
from tci_gateway.api.routes.erp_models import (
    Alert,
    AlertsPage,
    CoveredLimit,
    ExposureItem,
    ExposurePage,
    ImportResult,
    LimitsPage,
    batch_body,
)
from tci_gateway.api.security import require
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.canonical import BUYER_COLUMNS, OPEN_ITEM_COLUMNS, check_source
from tci_gateway.erp.export import write_csv
from tci_gateway.erp.reader import read_body
from tci_gateway.errors import InputError
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.runs import alerts_after
from tci_gateway.services.complete_import import MassCloseError, import_business_date
from tci_gateway.services.export import LIMIT_COLUMNS, RollGate, limits_page
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.importing import (
    ImportReport,
    import_buyer_records,
    import_open_item_records,
)

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["erp"])

CSV = "text/csv"
_CSV_RESPONSE = {"text/csv": {"schema": {"type": "string"}}}
_PAGE_HEADERS = {
    "ETag": {"description": "the page's entity tag", "schema": {"type": "string"}},
    "X-Next-Cursor": {
        "description": "the next page's cursor (absent on the last page)",
        "schema": {"type": "string"},
    },
    "X-Changed-Since-Cursor": {
        "description": "give it as `changed_since` next time",
        "schema": {"type": "string"},
    },
}

LimitsKey = Annotated[ApiKey, Depends(require("limits:read"))]
MAX_ID = 2**63 - 1
"""The largest id or cursor a query is given (a bigger one is a 422, never a SQL error)."""


# -- helpers --------------------------------------------------------------------------


def _encode(value: Mapping[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Problem(400, f"cursor {text[:80]!r} is not a cursor this service gave")
    return value


def _int(value: object, cursor: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise Problem(400, f"cursor {cursor[:80]!r} is not a cursor this service gave")
    return value


def _allowed(ctx: ApiContext, key: ApiKey) -> dict[str, Policy]:
    return {k: p for k, p in ctx.settings.domain_policies().items() if key.allows_policy(k)}


def _wants_csv(accept: str | None) -> bool:
    """Content negotiation between JSON (the default) and CSV; 406 for neither."""
    if not accept:
        return False
    best: tuple[float, int, bool] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if q <= 0 or media not in ("application/json", CSV, "text/*", "application/*", "*/*"):
            continue
        is_csv = media in (CSV, "text/*")
        rank = (q, -position, is_csv)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise Problem(406, "this resource is available as application/json or text/csv")
    return best[2]


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _gate(request: Request) -> RollGate:
    gate = getattr(request.app.state, "limits_roll_gate", None)
    if not isinstance(gate, RollGate):
        gate = RollGate()
        request.app.state.limits_roll_gate = gate
    return gate


# -- GET /v1/limits -------------------------------------------------------------------


@router.get(
    "/limits",
    response_model=LimitsPage,
    responses={
        200: {"content": _CSV_RESPONSE, "headers": _PAGE_HEADERS},
        304: {"description": "Not modified: the page is the one the ETag names"},
        **problem_responses(406),
    },
)
def get_limits(
    request: Request,
    ctx: Ctx,
    key: LimitsKey,
    limit: Annotated[int, Query(ge=1, le=10_000, description="rows per page")] = 1000,
    cursor: Annotated[str | None, Query(max_length=512, description="a `next_cursor`")] = None,
    changed_since: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="only limits changed after this cursor"),
    ] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The covered limits in force, as ``tci export limits`` (rolled to today first): a
    page at a time, full or only those changed after ``changed_since`` for any reason
    (a new decision, an announced reduction or withdrawal taking effect, a tranche
    expiring). Read every page, then keep ``changed_since_cursor`` for next time."""
    csv = _wants_csv(accept)
    after: tuple[str, int] | None = None
    upto: int | None = None
    if cursor is not None:
        state = _decode(cursor)
        upto = _int(state.get("u"), cursor)
        since = state.get("s")
        if since is not None:
            since = _int(since, cursor)
        if changed_since is not None and changed_since != since:
            raise Problem(400, "changed_since differs from the one the cursor was given for")
        changed_since = since
        policy, buyer = state.get("p"), state.get("b")
        if policy is not None:
            if not isinstance(policy, str):
                raise Problem(400, f"cursor {cursor[:80]!r} is not a cursor this service gave")
            after = (policy, _int(buyer, cursor))
    else:
        _gate(request).roll(ctx.ledger, ctx.settings.domain_policies(), ctx.now())
    page = limits_page(
        ctx.ledger,
        _allowed(ctx, key),
        limit=limit,
        changed_since=changed_since,
        after=after,
        cursor=upto,
        raw_codes=not csv,
    )
    next_cursor = None
    if page.after is not None:
        next_cursor = _encode(
            {"u": page.cursor, "s": changed_since, "p": page.after[0], "b": page.after[1]}
        )
    headers = {"Vary": "Accept", "X-Changed-Since-Cursor": str(page.cursor)}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
    if csv:
        text = io.StringIO()
        write_csv((r.as_dict() for r in page.rows), LIMIT_COLUMNS, text)
        body, media = text.getvalue().encode(), f"{CSV}; charset=utf-8"
    else:
        document = LimitsPage(
            covered_limits=[CoveredLimit.of(r) for r in page.rows],
            next_cursor=next_cursor,
            changed_since_cursor=page.cursor,
        )
        body, media = document.model_dump_json().encode(), "application/json"
    headers["ETag"] = _etag(body)
    if _matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


# -- POST /v1/buyers and /v1/open-items ------------------------------------------------


def _body_format(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media == CSV:
        return "csv"
    raise Problem(415, "a batch is application/json (the canonical JSON) or text/csv")


def _source(request: Request, key: ApiKey) -> str:
    rid = getattr(request.state, "request_id", "") or "-"
    return f"{request.method} {request.url.path} by key {key.name} (request {rid})"


def _refused(exc: InputError, fmt: str) -> Problem:
    if isinstance(exc, MassCloseError):
        return Problem(422, exc.errors[0].reason, errors=record_errors(exc.errors, fmt=fmt))
    count = len(exc.errors)
    detail = f"{count} bad record{'s' if count != 1 else ''}; nothing was written"
    return Problem(422, detail, errors=record_errors(exc.errors, fmt=fmt))


def _audited(ctx: ApiContext, request: Request, key: ApiKey, action: str, fmt: str) -> Any:
    def write(session: Session, report: ImportReport) -> None:
        detail: dict[str, Any] = {
            "format": fmt,
            "rows": report.rows,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "sha256": report.sha256,
        }
        if report.kind == "open_items":
            detail |= {
                "closed": report.closed,
                "complete": report.complete,
                "source": report.item_source,
                "company_codes": report.company_codes,
            }
        record(session, ctx, request, key, action, detail)

    return write


_WRITE_PROBLEMS = problem_responses(409, 415)


@router.post(
    "/buyers",
    response_model=ImportResult,
    responses=_WRITE_PROBLEMS,
    openapi_extra=batch_body(
        BUYER_COLUMNS,
        "buyers",
        "Buyers and their ERP accounts in the canonical format (README: ERP files).",
    ),
)
def post_buyers(
    request: Request,
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("buyers:write"))],
    body: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Import a batch of buyers and ERP accounts, validated as ``tci import buyers``
    validates a file: every bad record is listed (422) and nothing is written."""
    fmt = _body_format(request)

    def handler() -> Response:
        source = _source(request, key)
        records = read_body(body, BUYER_COLUMNS, fmt=fmt, json_key="buyers", source=source)
        try:
            report = import_buyer_records(
                ctx.ledger,
                records,
                source=source,
                sha256=hashlib.sha256(body).hexdigest(),
                policies=_allowed(ctx, key),
                now=ctx.now(),
                in_transaction=_audited(ctx, request, key, "buyers.import", fmt),
                restricted=key.policies is not None,
            )
        except InputError as exc:
            raise _refused(exc, fmt) from None
        return JSONResponse(ImportResult.of(report).model_dump(mode="json", exclude_none=True))

    return idempotent(ctx, request, key, idempotency_key, body, handler)


@router.post(
    "/open-items",
    response_model=ImportResult,
    responses=_WRITE_PROBLEMS,
    openapi_extra=batch_body(
        OPEN_ITEM_COLUMNS,
        "open_items",
        "Open items (invoices, credit notes, payments) in the canonical format.",
    ),
)
def post_open_items(
    request: Request,
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("items:write"))],
    body: RawBody,
    complete: Annotated[
        bool,
        Query(description="the batch lists EVERY open item of its scope: the others close"),
    ] = False,
    source: Annotated[
        str | None, Query(max_length=64, description="the import source (default 'default')")
    ] = None,
    company_code: Annotated[
        list[str] | None,
        Query(max_length=100, description="the company codes a complete batch is for"),
    ] = None,
    allow_mass_close: Annotated[
        bool, Query(description="accept a complete batch that closes a large share")
    ] = False,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Import a batch of open items, validated as ``tci import receivables`` validates a
    file (all or nothing). With ``complete``, the open items of the scope (``source``,
    and ``company_code`` when given, else the codes the records carry) that the batch
    does not list are closed, unless the batch lists nothing or would close more than
    ``[import] max_close_share`` of them (then 422, unless ``allow_mass_close``)."""
    fmt = _body_format(request)
    if source is not None:
        try:
            check_source(source)
        except ValueError as exc:
            raise Problem(422, str(exc)) from None
    for code in company_code or ():
        if not 0 < len(code) <= 32 or not code.isprintable() or code != code.strip():
            raise Problem(422, f"company code {code[:40]!r} must be 1 to 32 printable characters")
    if complete and key.policies is not None:
        raise Problem(
            403,
            f"the API key {key.name!r} is restricted to policies: a complete batch closes "
            "items across policies",
        )
    settings = ctx.settings

    def handler() -> Response:
        now = ctx.now()
        name = _source(request, key)
        records = read_body(body, OPEN_ITEM_COLUMNS, fmt=fmt, json_key="open_items", source=name)
        today = import_business_date(
            (p.timezone for p in settings.policies.values()), now, settings.scheduler.timezone
        )
        try:
            report = import_open_item_records(
                ctx.ledger,
                records,
                file=name,
                sha256=hashlib.sha256(body).hexdigest(),
                now=now,
                source=source,
                complete=complete,
                allow_mass_close=allow_mass_close,
                max_close_share=settings.import_.max_close_share,
                today=today,
                company_codes=company_code,
                mass_close_flag="allow_mass_close=true",
                in_transaction=_audited(ctx, request, key, "open_items.import", fmt),
                allowed_policies=None if key.policies is None else sorted(key.policies),
            )
        except InputError as exc:
            raise _refused(exc, fmt) from None
        return JSONResponse(ImportResult.of(report).model_dump(mode="json", exclude_none=True))

    return idempotent(ctx, request, key, idempotency_key, body, handler)


# -- GET /v1/exposure and /v1/alerts ----------------------------------------------------


@router.get("/exposure", response_model=ExposurePage)
def get_exposure(
    ctx: Ctx,
    key: LimitsKey,
    buyer: Annotated[
        str | None, Query(max_length=300, description="name or ERP account contains this")
    ] = None,
    over_limit: Annotated[bool, Query(description="only buyers over their limit")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ExposurePage:
    """Exposure against cover per buyer and policy, the figures of ``tci exposure
    --json``, in policy and buyer order."""
    after: tuple[str, int] | None = None
    if cursor is not None:
        state = _decode(cursor)
        policy = state.get("p")
        if not isinstance(policy, str):
            raise Problem(400, f"cursor {cursor[:80]!r} is not a cursor this service gave")
        after = (policy, _int(state.get("b"), cursor))
    options = ctx.wiring.exposure_options(ctx.ledger)
    rows = exposure_report(
        ctx.ledger,
        ctx.settings.domain_policies(),
        now=ctx.now(),
        convert=options.convert,
        expiring_within_days=options.expiring_within_days,
        inactive_days=options.inactive_days,
    )
    if key.policies is not None:
        rows = [r for r in rows if r.policy is not None and key.allows_policy(r.policy)]
    if buyer:
        needle = buyer.casefold()
        rows = [
            r
            for r in rows
            if needle in r.buyer_name.casefold()
            or any(needle in a.casefold() for a in r.erp_accounts)
        ]
    if over_limit:
        rows = [r for r in rows if r.exposure.uncovered.amount > 0]
    ordered = sorted(rows, key=lambda r: (r.policy or "", r.buyer_id))
    if after is not None:
        ordered = [r for r in ordered if (r.policy or "", r.buyer_id) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    last = page[-1] if page else None
    return ExposurePage(
        exposure=[ExposureItem.of(r) for r in page],
        next_cursor=_encode({"p": last.policy or "", "b": last.buyer_id})
        if more and last is not None
        else None,
    )


@router.get("/alerts", response_model=AlertsPage)
def get_alerts(
    ctx: Ctx,
    key: LimitsKey,
    since: Annotated[
        int,
        Query(ge=0, le=2**31 - 1, description="alerts after this one (the last `since` answered)"),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AlertsPage:
    """Alerts raised after the alert ``since``, oldest first."""
    with ctx.ledger.reading() as session:
        found = alerts_after(session, since, limit=limit + 1, policies=key.policies)
    page = found[:limit]
    last = page[-1].id if page else since
    return AlertsPage(
        alerts=[Alert.of(a) for a in page],
        next_cursor=str(last) if len(found) > limit else None,
        since=last,
    )
