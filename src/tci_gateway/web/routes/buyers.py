"""The buyers list (``/buyers``): one search box (name, identifier value, ERP account, or
``SCHEME:VALUE``), filters (over limit, uncovered, limit expiring within N days, pending
decision, tier, insurer), sorted by name or id, keyset-paged; each row links to the
buyer's page.

It reads what ``GET /v1/buyers`` reads (:func:`tci_gateway.services.buyer_views.list_buyers`)
for every policy: SQL narrows the candidates, the domain rules decide the exposure
filters exactly, and a page costs the buyers it looks at, never the whole book. Sorting
by exposure is not offered: it would need every buyer's exposure (the portfolio's top
lists give the largest uncovered and over-limit buyers).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import FieldError, Problem
from tci_gateway.api.routes.buyers import reader
from tci_gateway.services.buyer_views import (
    BuyerFilter,
    PageKey,
    Sort,
    UnknownFilterError,
    list_buyers,
    search_filter,
)
from tci_gateway.web.render import page
from tci_gateway.web.session import Viewer

router = APIRouter()

PAGE_SIZE = 50
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
SORTS: tuple[tuple[Sort, str], ...] = (
    (Sort.ID, "Id, oldest first"),
    (Sort.ID_DESC, "Id, newest first"),
    (Sort.NAME, "Name, A to Z"),
    (Sort.NAME_DESC, "Name, Z to A"),
)
"""Id order is the default: the buyers' primary key walks lazily, so a filtered page
costs the buyers it looks at. By name there is no index on ``buyers.name`` yet: each
page sorts the matching buyers (every one, for the exposure filters)."""


def _bad(field: str, reason: str) -> Problem:
    return Problem(422, reason, errors=[FieldError(field=field, reason=reason)])


def encode_key(key: PageKey) -> str:
    raw = json.dumps([key.id, key.name], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(text: str) -> PageKey:
    """The page key of a ``cursor`` this page gave (422 for anything else)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        buyer_id, name = json.loads(raw)
        if isinstance(buyer_id, int) and isinstance(name, str) and 0 <= buyer_id < 2**31:
            return PageKey(buyer_id, name)
    except (binascii.Error, ValueError, TypeError):
        pass
    raise _bad("cursor", "not a page link this list gave: start again from the first page")


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 3650:
        raise _bad("expiring", "expiring within: a number of days from 0 to 3650")
    return int(text)


def _choices(ctx: ApiContext) -> tuple[list[str], list[str]]:
    settings = ctx.settings
    tiers = sorted(settings.escalation_paths()) or [settings.escalation.default_tier]
    insurers = sorted({p.insurer for p in settings.domain_policies().values()})
    return tiers, insurers


@router.get("/buyers", response_class=HTMLResponse)
def buyers(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    q: Annotated[str, Query(max_length=300, pattern=_PRINTABLE)] = "",
    over_limit: bool = False,
    uncovered: bool = False,
    pending: bool = False,
    expiring: Annotated[str, Query(max_length=8)] = "",
    tier: Annotated[str, Query(max_length=16, pattern=_PRINTABLE)] = "",
    insurer: Annotated[str, Query(max_length=64, pattern=_PRINTABLE)] = "",
    sort: Sort = Sort.ID,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Buyers matching the search and filters, a page at a time."""
    text, identifier = search_filter(q)
    days = _days(expiring)
    flt = BuyerFilter(
        over_limit=over_limit,
        uncovered=uncovered,
        expiring_within_days=days,
        tier=tier or None,
        insurer=insurer or None,
        text=text,
        identifier=identifier,
        pending_decision=pending,
    )
    after = decode_key(cursor) if cursor else None
    with ctx.ledger.reading() as session:
        try:
            found = list_buyers(
                session, reader(ctx, None), flt, limit=PAGE_SIZE, sort=sort, after_key=after
            )
        except UnknownFilterError as exc:
            raise _bad(exc.field, str(exc)) from None
    params = {
        "q": q.strip(),
        "over_limit": "1" if over_limit else "",
        "uncovered": "1" if uncovered else "",
        "pending": "1" if pending else "",
        "expiring": "" if days is None else str(days),
        "tier": tier,
        "insurer": insurer,
    }
    kept = {k: v for k, v in params.items() if v}

    def url(**extra: str) -> str:
        query = urlencode({**kept, **extra})
        return "/buyers" + ("?" + query if query else "")

    next_url = (
        url(sort=sort.value, cursor=encode_key(found.next_key))
        if found.next_key is not None
        else ""
    )
    tiers, insurers = _choices(ctx)
    zones = {key: p.timezone for key, p in ctx.settings.policies.items()}
    return page(
        request,
        "buyers.html",
        me,
        title="Buyers",
        buyers=found.buyers,
        filters=params,
        filtered=bool(kept),
        sort=sort,
        sorts=SORTS,
        sort_urls={s.value: url(sort=s.value) for s, _ in SORTS},
        next_url=next_url,
        first_url=url(sort=sort.value) if cursor else "",
        identifier=identifier,
        tiers=tiers,
        insurers=insurers,
        zones=zones,
    )
