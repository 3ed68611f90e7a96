"""Buyers as the risk team reads them: a filtered, keyset-paged list with each buyer's
exposure against cover per policy, and one buyer's positions.

The list is ordered by buyer id (or by name, then id) and paged after the last key seen
(never OFFSET). Plain filters (tier, insurer, policy, name or identifier) are SQL
(:mod:`tci_gateway.services.buyer_narrowing`). The filters on exposure
(over limit, uncovered, limit expiring) are decided by the domain rules on the exact
figures (:func:`tci_gateway.services.exposure.buyer_exposure`: FX, the limit in force from
the cover history); SQL only narrows the candidates first with a condition every match
meets (a superset), using the stored limits in force (``limits_in_force``), so a page
costs the buyers it looks at, not the portfolio.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.exposure import Exposure
from tci_gateway.domain.identifiers import Identifier, IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger import fx as fx_repo
from tci_gateway.ledger.covers import StoredVersion, versions_of_buyers
from tci_gateway.ledger.tables import (
    BuyerIdentifierRow,
    BuyerRow,
    ErpAccountRow,
    OpenItemRow,
)
from tci_gateway.services.buyer_narrowing import (
    BuyerFilter as BuyerFilter,
)
from tci_gateway.services.buyer_narrowing import (
    Reader as Reader,
)
from tci_gateway.services.buyer_narrowing import (
    Scope,
    expiring_candidates,
    over_limit_candidates,
    pending_candidates,
    requesting_buyers,
    scope_of,
    text_match,
    uncovered_candidates,
    under_scope,
)
from tci_gateway.services.buyer_narrowing import (
    UnknownFilterError as UnknownFilterError,
)
from tci_gateway.services.exposure import buyer_exposure
from tci_gateway.services.fx import BASE, LedgerConverter, RateTable

MAX_BATCH = 2000
"""At most this many candidates are checked at a time by the exact filters."""
FX_MAX_AGE_DAYS = 7


class Sort(StrEnum):
    """The list's orders, each keyset-paged (``-``: descending)."""

    ID = "id"
    ID_DESC = "-id"
    NAME = "name"
    NAME_DESC = "-name"


@dataclass(frozen=True)
class PageKey:
    """Where a page starts: after this buyer (its name when sorted by name)."""

    id: int
    name: str = ""


def search_filter(text: str) -> tuple[str | None, Identifier | None]:
    """One search box: ``SCHEME:VALUE`` (``INSURER:NAME:VALUE``) that parses as a valid
    identifier searches that identifier; anything else is the API's ``q`` (name
    contains, or an identifier value or ERP account)."""
    text = text.strip()
    if not text:
        return None, None
    scheme, sep, rest = text.partition(":")
    if sep and scheme.upper() in {s.value for s in Scheme}:
        issuer = ""
        if scheme.upper() == Scheme.INSURER.value:
            issuer, _, rest = rest.partition(":")
        try:
            return None, parse_identifier(scheme.upper(), rest, issuer)
        except IdentifierError:
            pass
    return text, None


@dataclass(frozen=True)
class Position:
    """One buyer under one policy (``policy`` ``None``: its accounts without one) on the
    policy's business date: exposure against the limit in force, and when that limit
    next changes."""

    policy: str | None
    insurer: str | None
    business_date: date
    exposure: Exposure
    next_change: date | None
    next_amount: Money | None

    def expiring_within(self, days: int) -> bool:
        """The domain's "limit expiring" on a horizon of ``days``: a positive limit that
        drops by then."""
        limit = self.exposure.limit
        if limit is None or limit.is_zero() or self.next_change is None:
            return False
        horizon = self.business_date + timedelta(days=days)
        return (
            self.next_change <= horizon
            and self.next_amount is not None
            and self.next_amount < limit
        )


@dataclass(frozen=True)
class BuyerSummary:
    id: int
    name: str
    country: str
    tier: str
    tier_set: bool
    erp_accounts: tuple[str, ...]
    positions: tuple[Position, ...]


@dataclass
class BuyerPage:
    buyers: list[BuyerSummary]
    next_after: int | None
    """The last buyer id of this page when there are more, else ``None``."""
    next_key: PageKey | None = None
    """The last buyer of this page (id and name) when there are more."""


def _matches(summary: BuyerSummary, flt: BuyerFilter, requesting: set[int]) -> bool:
    positions = summary.positions
    pending = summary.id in requesting or any(
        AlertKind.COVER_PENDING in p.exposure.alerts for p in positions
    )
    if flt.pending_decision and not pending:
        return False
    if flt.over_limit and not any(AlertKind.OVER_LIMIT in p.exposure.alerts for p in positions):
        return False
    if flt.uncovered and not any(AlertKind.UNCOVERED in p.exposure.alerts for p in positions):
        return False
    days = flt.expiring_within_days
    return days is None or any(p.expiring_within(days) for p in positions)


def _after(sort: Sort, key: PageKey) -> ColumnElement[bool]:
    """Buyers after ``key`` in ``sort`` order."""
    if sort is Sort.ID:
        return BuyerRow.id > key.id
    if sort is Sort.ID_DESC:
        return BuyerRow.id < key.id
    if sort is Sort.NAME:
        return or_(BuyerRow.name > key.name, and_(BuyerRow.name == key.name, BuyerRow.id > key.id))
    return or_(BuyerRow.name < key.name, and_(BuyerRow.name == key.name, BuyerRow.id < key.id))


def _order(sort: Sort) -> tuple[Any, ...]:
    return {
        Sort.ID: (BuyerRow.id,),
        Sort.ID_DESC: (BuyerRow.id.desc(),),
        Sort.NAME: (BuyerRow.name, BuyerRow.id),
        Sort.NAME_DESC: (BuyerRow.name.desc(), BuyerRow.id.desc()),
    }[sort]


def list_buyers(
    session: Session,
    reader: Reader,
    flt: BuyerFilter,
    *,
    limit: int,
    after: int = 0,
    sort: Sort = Sort.ID,
    after_key: PageKey | None = None,
) -> BuyerPage:
    """One page of buyers matching ``flt``, in ``sort`` order after ``after_key`` (or,
    in id order, with ids above ``after``), each with its positions under the policies
    of the filter (and those the reader may see). Raises :class:`UnknownFilterError`
    for an unknown policy, insurer or tier."""
    scope = scope_of(session, reader, flt)
    where: list[ColumnElement[bool]] = []
    if flt.tier is not None:
        if reader.tiers and flt.tier not in reader.tiers:
            known = ", ".join(sorted(reader.tiers))
            raise UnknownFilterError("tier", f"unknown tier {flt.tier!r} (known: {known})")
        where.append(
            or_(BuyerRow.tier == flt.tier, BuyerRow.tier.is_(None))
            if flt.tier == reader.default_tier
            else BuyerRow.tier == flt.tier
        )
    if scope.wanted is not None:
        where.append(under_scope(scope))
    if flt.text:
        where.append(text_match(flt.text))
    if flt.identifier is not None:
        ident = flt.identifier
        where.append(
            BuyerRow.id.in_(
                select(BuyerIdentifierRow.buyer_id).where(
                    BuyerIdentifierRow.scheme == ident.scheme.value,
                    BuyerIdentifierRow.issuer == ident.issuer,
                    BuyerIdentifierRow.value == ident.value,
                )
            )
        )
    if flt.uncovered:
        where.append(uncovered_candidates(scope))
    if flt.over_limit:
        where.append(over_limit_candidates(scope))
    if flt.expiring_within_days is not None:
        where.append(expiring_candidates(scope, flt.expiring_within_days))
    if flt.pending_decision:
        where.append(pending_candidates(scope))
    found: list[BuyerSummary] = []
    cursor = after_key
    if cursor is None and sort is Sort.ID and after:
        cursor = PageKey(after)
    batch = limit + 1
    while len(found) <= limit:
        stmt = select(BuyerRow.id, BuyerRow.name).where(*where)
        if cursor is not None:
            stmt = stmt.where(_after(sort, cursor))
        rows = session.execute(stmt.order_by(*_order(sort)).limit(batch)).all()
        if not rows:
            break
        cursor = PageKey(rows[-1].id, rows[-1].name)
        ids = [r.id for r in rows]
        summaries = summarise(session, reader, ids, scope=scope)
        requesting = requesting_buyers(session, ids, scope) if flt.pending_decision else set()
        found.extend(s for s in summaries if not flt.exact or _matches(s, flt, requesting))
        if len(rows) < batch:
            break
        batch = min(2 * batch, MAX_BATCH)  # few candidates were matches: look further
    more = len(found) > limit
    page = found[:limit]
    last = page[-1] if more and page else None
    return BuyerPage(
        page,
        last.id if last is not None else None,
        PageKey(last.id, last.name) if last is not None else None,
    )


def summarise(
    session: Session, reader: Reader, buyer_ids: list[int], *, scope: Scope | None = None
) -> list[BuyerSummary]:
    """These buyers (in the order given, unknown ids left out) with their positions."""
    scope = scope or scope_of(session, reader, BuyerFilter())
    buyers = {
        row.id: row
        for row in session.execute(
            select(BuyerRow.id, BuyerRow.name, BuyerRow.country, BuyerRow.tier).where(
                BuyerRow.id.in_(buyer_ids)
            )
        )
    }
    accounts: dict[int, list[str]] = defaultdict(list)
    key_of = {pid: key for key, pid in scope.ids.items()}
    for account, buyer_id, pid in session.execute(
        select(ErpAccountRow.account, ErpAccountRow.buyer_id, ErpAccountRow.policy_id)
        .where(ErpAccountRow.buyer_id.in_(buyer_ids))
        .order_by(ErpAccountRow.account)
    ):
        if reader.may_see(key_of.get(pid) if pid is not None else None):
            accounts[buyer_id].append(account)
    positions = buyer_positions(session, reader, buyer_ids, scope=scope)
    return [
        BuyerSummary(
            id=b.id,
            name=b.name,
            country=b.country,
            tier=b.tier or reader.default_tier,
            tier_set=b.tier is not None,
            erp_accounts=tuple(accounts[b.id]),
            positions=tuple(positions.get(b.id, ())),
        )
        for b in (buyers[i] for i in buyer_ids if i in buyers)
    ]


def _open_item(row: Any) -> OpenItem:
    cur = row.currency
    return OpenItem(
        erp_account=row.erp_account,
        document_number=row.document_number,
        kind=ItemKind(row.kind),
        amount=Money(row.amount, cur),
        open_amount=Money(row.open_amount, cur),
        document_date=row.document_date,
        delivery_date=row.delivery_date,
        due_date=row.due_date,
        disputed=row.disputed,
        applies_to=row.applies_to,
        extended_due_date=row.extended_due_date,
    )


def converter(session: Session, items: Collection[OpenItem]) -> LedgerConverter:
    """Dated EUR reference rates from the ledger, read in this (read-only) transaction,
    only from the earliest document date needed on."""
    since = min((i.document_date for i in items), default=None)
    rates: dict[str, list[tuple[date, Any]]] = {}
    if since is not None:
        start = since - timedelta(days=FX_MAX_AGE_DAYS)
        for quote, rate_date, rate in fx_repo.iter_rates(session, BASE, since=start):
            rates.setdefault(quote, []).append((rate_date, rate))
    return LedgerConverter(RateTable(rates), max_age_days=FX_MAX_AGE_DAYS)


def buyer_positions(
    session: Session,
    reader: Reader,
    buyer_ids: list[int],
    *,
    scope: Scope | None = None,
    items: Mapping[tuple[int, int | None], list[OpenItem]] | None = None,
) -> dict[int, list[Position]]:
    """Per buyer, its positions (one per policy it has accounts or cover under, and
    one for accounts without a policy), by policy key; only the policies of ``scope``
    and those the reader may see. ``items``: every item of those buyers by (buyer id,
    the account's policy id), when the caller has read them already (else read here)."""
    scope = scope or scope_of(session, reader, BuyerFilter())
    key_of = {pid: key for key, pid in scope.ids.items()}
    configured = {
        pid: reader.policies[key] for key, pid in scope.ids.items() if key in reader.policies
    }

    def visible(pid: int | None) -> bool:
        if pid is None:
            return True
        if scope.wanted is not None and pid not in scope.wanted:
            return False
        return reader.may_see(key_of.get(pid))

    groups: dict[tuple[int, int | None], list[OpenItem]] = {}
    for buyer_id, pid in session.execute(
        select(ErpAccountRow.buyer_id, ErpAccountRow.policy_id).where(
            ErpAccountRow.buyer_id.in_(buyer_ids)
        )
    ):
        if visible(pid):
            groups.setdefault((buyer_id, pid), [])
    if items is not None:
        for group in groups:
            groups[group] = list(items.get(group, ()))
    else:
        table = cast(Table, OpenItemRow.__table__)  # Core rows: no ORM object per item
        for row in session.execute(
            select(
                table,
                ErpAccountRow.account.label("erp_account"),
                ErpAccountRow.buyer_id.label("buyer_id"),
                ErpAccountRow.policy_id.label("group_policy_id"),
            )
            .join(ErpAccountRow, ErpAccountRow.id == table.c.erp_account_id)
            .where(ErpAccountRow.buyer_id.in_(buyer_ids))
            .order_by(table.c.id)
        ):
            group = (row.buyer_id, row.group_policy_id)
            if group in groups:
                groups[group].append(_open_item(row))
    histories: dict[int, dict[int, list[StoredVersion]]] = {}
    for pid in configured:
        if visible(pid):
            histories[pid] = versions_of_buyers(session, pid, buyer_ids)
            for buyer_id in histories[pid]:
                groups.setdefault((buyer_id, pid), [])
    loaded = [i for group in groups.values() for i in group]
    currencies = {i.currency for i in loaded} | {p.terms.currency for p in configured.values()}
    convert = converter(session, loaded) if len(currencies) > 1 else None
    result: dict[int, list[Position]] = defaultdict(list)
    for (buyer_id, pid), group_items in groups.items():
        policy = configured.get(pid) if pid is not None else None
        history = histories.get(pid, {}).get(buyer_id, []) if pid is not None else []
        kwargs: dict[str, Any] = {"convert": convert} if convert is not None else {}
        day, exposure, cover = buyer_exposure(
            policy,
            history,
            group_items,
            now=reader.now,
            expiring_within_days=reader.expiring_within_days,
            inactive_days=reader.inactive_days,
            **kwargs,
        )
        result[buyer_id].append(
            Position(
                policy=policy.key if policy else (key_of.get(pid) if pid is not None else None),
                insurer=policy.insurer if policy else None,
                business_date=day,
                exposure=exposure,
                next_change=cover.next_change,
                next_amount=cover.next_amount,
            )
        )
    for positions in result.values():
        positions.sort(key=lambda p: (p.policy is None, p.policy or ""))
    return dict(result)
