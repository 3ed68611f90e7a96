"""For the risk team: buyers, their covers, open items, exposure, alerts, cases; buyer search.

Read-only (scope ``buyers:read``). A key restricted to some policies sees the buyers
under them (an ERP account or cover history there) and, of each, what concerns those
policies or none.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from tci_gateway.adapters.contract import BuyerQuery
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import COMMON_PROBLEMS, FieldError, Problem, problem_responses
from tci_gateway.api.routes.buyer_models import (
    MAX_ID,
    BuyerAccount,
    BuyerCovers,
    BuyerDetail,
    BuyerIdentifier,
    BuyerList,
    BuyerListItem,
    BuyerParent,
    BuyerPosition,
    BuyerSearchResult,
    CoverCondition,
    CoverLimitChange,
    CoverLimitInForce,
    CoverTranche,
    CoverVersion,
    FoundIdentifier,
    PolicyCovers,
    SearchCandidate,
    SearchSource,
    amount,
    decode_cursor,
    encode_cursor,
    money,
)
from tci_gateway.api.security import check_policy, require
from tci_gateway.domain.identifiers import Identifier, IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.money import amount_text
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.covers import StoredVersion
from tci_gateway.services import buyer_detail
from tci_gateway.services.buyer_search import BureauSearch, search_buyers
from tci_gateway.services.buyer_views import (
    BuyerFilter,
    Reader,
    UnknownFilterError,
    list_buyers,
)

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["buyers"])

Reading = Annotated[ApiKey, Depends(require("buyers:read"))]
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
"""A text parameter: printable (a NUL never reaches PostgreSQL or an insurer)."""
BuyerId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ledger's buyer id")]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page")
]


def reader(ctx: ApiContext, key: ApiKey | None) -> Reader:
    """What the buyer views need from the configuration, the clock and the key (``None``:
    a person in the workspace, who sees every policy)."""
    settings = ctx.settings
    return Reader(
        policies=settings.domain_policies(),
        now=ctx.now(),
        default_tier=settings.escalation.default_tier,
        tiers=frozenset(settings.escalation_paths()),
        expiring_within_days=settings.alerts.expiring_within_days,
        inactive_days=settings.alerts.inactive_days,
        allowed=key.policies if key is not None else None,
    )


def _bad(field: str, reason: str) -> Problem:
    return Problem(422, reason, errors=[FieldError(field=field, reason=reason)])


def _identifier(text: str, field: str) -> Identifier:
    """``SCHEME:VALUE`` (``INSURER:NAME:VALUE`` for an insurer's own buyer id)."""
    scheme, _, rest = text.partition(":")
    issuer = ""
    if scheme.upper() == Scheme.INSURER.value:
        issuer, _, rest = rest.partition(":")
    try:
        return parse_identifier(scheme.upper(), rest, issuer)
    except IdentifierError as exc:
        raise _bad(field, str(exc)) from None


def not_found(exc: LookupError) -> Problem:
    """404 for a buyer the key may not see or that does not exist."""
    return Problem(404, str(exc).strip("'\""))


@router.get(
    "/buyers",
    response_model=BuyerList,
    summary="List and filter buyers, with exposure against cover per policy",
    responses=problem_responses(403, 422),
)
def get_buyers(
    ctx: Ctx,
    key: Reading,
    over_limit: Annotated[bool, Query(description="exposure above a positive limit")] = False,
    uncovered: Annotated[bool, Query(description="exposure with no cover in force")] = False,
    pending_decision: Annotated[
        bool,
        Query(description="a cover request not decided yet, or a decision pending at the insurer"),
    ] = False,
    expiring_within_days: Annotated[
        int | None, Query(ge=0, le=3650, description="a limit in force that drops by then")
    ] = None,
    tier: Annotated[str | None, Query(max_length=16, pattern=PRINTABLE)] = None,
    insurer: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    policy: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=300,
            pattern=PRINTABLE,
            description="name contains (any case), or an identifier value or ERP account",
        ),
    ] = None,
    identifier: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=PRINTABLE,
            description="SCHEME:VALUE (INSURER:NAME:VALUE), e.g. VAT:FR40303265045",
        ),
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BuyerList:
    """Buyers in id order, keyset-paged, each with its positions (exposure, limit in
    force, alerts) under the policies filtered on."""
    if policy is not None:
        check_policy(key, policy)
    flt = BuyerFilter(
        over_limit=over_limit,
        uncovered=uncovered,
        pending_decision=pending_decision,
        expiring_within_days=expiring_within_days,
        tier=tier,
        insurer=insurer,
        policy=policy,
        text=q,
        identifier=_identifier(identifier, "identifier") if identifier else None,
    )
    view = reader(ctx, key)
    with ctx.ledger.reading() as session:
        try:
            page = list_buyers(session, view, flt, limit=limit, after=decode_cursor(cursor) or 0)
        except UnknownFilterError as exc:
            raise _bad(exc.field, str(exc)) from None
    return BuyerList(
        buyers=[
            BuyerListItem(
                id=b.id,
                name=b.name,
                country=b.country,
                tier=b.tier,
                tier_set=b.tier_set,
                erp_accounts=list(b.erp_accounts),
                positions=[BuyerPosition.of(p) for p in b.positions],
            )
            for b in page.buyers
        ],
        next_cursor=encode_cursor(page.next_after),
    )


@router.get(
    "/buyers/search",
    response_model=BuyerSearchResult,
    summary="Search every configured insurer and bureau for a buyer",
    responses=problem_responses(422),
)
def search(
    ctx: Ctx,
    key: Reading,
    country: Annotated[str, Query(pattern="^[A-Za-z]{2}$", description="ISO alpha-2")],
    id: Annotated[
        str | None,
        Query(
            max_length=100, pattern=PRINTABLE, description="SCHEME:VALUE, e.g. FR_SIREN:552100554"
        ),
    ] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, pattern=PRINTABLE)] = None,
    insurer: Annotated[
        list[str] | None, Query(description="only these insurers (then no bureaus)")
    ] = None,
    timeout: Annotated[int, Query(ge=1, le=60, description="seconds for the slowest")] = 30,
) -> BuyerSearchResult:
    """The same fan-out as `tci buyers search`: every insurer (and, unless insurers are
    named, every bureau) asked at once; one ranked list of legal entities with each
    source's id, and how each source answered. Nothing is written."""
    ident = _identifier(id, "id") if id else None
    if ident is not None and ident.scheme is Scheme.INSURER:
        raise _bad("id", "an insurer's own buyer id is not searched for")
    if ident is None and not name:
        raise _bad("id", "give id or name")
    settings = ctx.settings
    names = sorted(set(insurer)) if insurer else sorted(settings.insurers)
    unknown = [n for n in names if n not in settings.insurers]
    if unknown:
        known = ", ".join(sorted(settings.insurers)) or "none"
        raise _bad("insurer", f"insurer {unknown[0]!r} is not configured (configured: {known})")
    with ctx.locked():  # adapters are built once and shared by the serving threads
        adapters: dict[str, Any] = {n: ctx.wiring.insurer(n).adapter for n in names}
        bureaus = [] if insurer else sorted(settings.bureaus)
        for b in bureaus:
            adapters[b] = BureauSearch(ctx.wiring.bureau(b).adapter)
    result = search_buyers(adapters, BuyerQuery(country.upper(), ident, name), timeout=timeout)
    return BuyerSearchResult(
        ok=result.ok,
        candidates=[
            SearchCandidate(
                name=c.name,
                country=c.country,
                identifiers=[
                    FoundIdentifier(scheme=i.scheme.value, issuer=i.issuer or None, value=i.value)
                    for i in sorted(c.identifiers)
                ],
                insurer_ids=c.insurer_ids,
                names=c.names,
                ratings=c.ratings,
            )
            for c in result.candidates
        ],
        sources=[
            SearchSource(
                source=o.insurer,
                kind="bureau" if o.insurer in bureaus else "insurer",
                status=o.status.value,
                matches=o.matches,
                duration_ms=round(o.seconds * 1000),
                error=o.error,
            )
            for o in result.outcomes
        ],
    )


@router.get(
    "/buyers/{buyer_id}",
    response_model=BuyerDetail,
    summary="One buyer: identifiers with their provenance, ERP accounts, parents",
    responses=problem_responses(404),
)
def get_buyer(ctx: Ctx, key: Reading, buyer_id: BuyerId) -> BuyerDetail:
    """The buyer (a legal entity) with every identifier and where it came from (an ERP
    import's account, a bureau, an insurer, a sync, a search link), the ERP accounts that
    map to it and its parents as the bureaus reported them."""
    with ctx.ledger.reading() as session:
        try:
            b = buyer_detail.buyer_identity(session, reader(ctx, key), buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
    return BuyerDetail(
        id=b.id,
        name=b.name,
        country=b.country,
        tier=b.tier,
        tier_set=b.tier_set,
        created_at=b.created_at,
        updated_at=b.updated_at,
        identifiers=[
            BuyerIdentifier(
                scheme=i.scheme,
                issuer=i.issuer or None,
                value=i.value,
                source=i.source,
                added_at=i.added_at,
            )
            for i in b.identifiers
        ],
        erp_accounts=[
            BuyerAccount(
                account=a.account,
                name=a.name,
                policy=a.policy,
                created_at=a.created_at,
                updated_at=a.updated_at,
            )
            for a in b.erp_accounts
        ],
        parents=[
            BuyerParent(
                relation=p.relation.value,
                scheme=p.scheme,
                value=p.value,
                source=p.source,
                updated_at=p.updated_at,
            )
            for p in b.parents
        ],
    )


def _version(v: StoredVersion) -> CoverVersion:
    d, cur = v.decision, v.decision.currency
    return CoverVersion(
        id=v.id,
        insurer_cover_ref=d.insurer_cover_ref,
        status=d.status.value,
        raw_codes=dict(d.raw_codes),
        unknown_codes=list(d.unknown_codes),
        preliminary=d.is_preliminary,
        currency=cur,
        granted_amount=amount_text(d.granted_amount.amount, cur),
        requested_amount=money(d.requested_amount),
        effective_from=d.effective_from,
        effective_to=d.effective_to,
        pending_action=d.pending_action.value if d.pending_action else None,
        conditions=[CoverCondition(code=c.code, text=c.text, type=c.type) for c in d.conditions],
        tranches=[
            CoverTranche(
                amount=amount_text(t.amount.amount, cur),
                valid_from=t.valid_from,
                expires_on=t.expires_on,
            )
            for t in d.tranches
        ],
        decided_at=d.decided_at,
        changed_at=d.last_changed_at,
        recorded_at=v.recorded_at,
    )


@router.get(
    "/buyers/{buyer_id}/covers",
    response_model=BuyerCovers,
    summary="Covers per policy: the limit in force and the effective-dated history",
    responses=problem_responses(404),
)
def get_covers(ctx: Ctx, key: Reading, buyer_id: BuyerId) -> BuyerCovers:
    """Per policy the buyer has cover history under: the limit in force on the policy's
    business date (as sent to the ERP, with the date it next changes), every version of
    the insurer's decision in recording order (raw codes, tranches, effective dates) and
    every change of the limit in force (by sync, by date, by merge)."""
    with ctx.ledger.reading() as session:
        try:
            covers = buyer_detail.buyer_covers(session, reader(ctx, key), buyer_id)
        except buyer_detail.BuyerNotFoundError as exc:
            raise not_found(exc) from None
    out = []
    for c in covers:
        s = c.in_force
        out.append(
            PolicyCovers(
                policy=c.policy,
                insurer=c.insurer,
                currency=c.currency,
                business_date=c.business_date,
                in_force=None
                if s is None
                else CoverLimitInForce(
                    status=s.status,
                    amount=amount_text(s.amount, s.currency),
                    currency=s.currency,
                    decision_id=s.decision_id,
                    valid_from=s.valid_from,
                    valid_to=s.valid_to,
                    next_amount=amount(c.next_amount, s.currency),
                ),
                versions=[_version(v) for v in c.versions],
                limit_changes=[
                    CoverLimitChange(
                        id=ch.id,
                        business_date=ch.business_date,
                        amount=amount_text(ch.amount, ch.currency),
                        currency=ch.currency,
                        reason=str(ch.reason),
                        created_at=ch.created_at,
                    )
                    for ch in c.changes
                ],
            )
        )
    return BuyerCovers(buyer_id=buyer_id, covers=out)
