"""Exposure against cover per buyer and policy, and the covered-limits view for the ERP.

Open items are streamed in buyer order, so memory does not grow with the ledger; the
arithmetic is :func:`tci_gateway.domain.exposure.compute_exposure` and the limit in force
is :func:`tci_gateway.domain.cover.limit_in_force` (conservative: only a known decision
adds cover).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import LimitInForce, limit_in_force
from tci_gateway.domain.exposure import (
    Converter,
    Exposure,
    LimitWatch,
    compute_exposure,
    limit_alerts,
    same_currency_only,
)
from tci_gateway.domain.identity import ParentRelation
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.covers import StoredVersion, versions_by_buyer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.open_items import to_open_item
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import BuyerParentRow, BuyerRow, ErpAccountRow, OpenItemRow


@dataclass(frozen=True)
class ExposureRow:
    buyer_id: int
    buyer_name: str
    erp_accounts: tuple[str, ...]
    policy: str | None
    insurer: str | None
    business_date: date
    exposure: Exposure
    version: StoredVersion | None
    """The latest version on the business date (pending ones included), for display."""
    governing: StoredVersion | None = None
    """The known decision the limit in force comes from."""


@dataclass(frozen=True)
class _Group:
    buyer_id: int
    policy_id: int | None


def _items(session: Session) -> Iterator[tuple[_Group, OpenItem]]:
    stmt = (
        select(OpenItemRow, ErpAccountRow.account, ErpAccountRow.buyer_id, ErpAccountRow.policy_id)
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .order_by(ErpAccountRow.buyer_id, ErpAccountRow.policy_id, OpenItemRow.id)
        .execution_options(yield_per=5000)
    )
    for row, account, buyer_id, pid in session.execute(stmt):
        yield _Group(buyer_id, pid), to_open_item(row, account)


def buyer_exposure(
    policy: Policy | None,
    history: Sequence[StoredVersion],
    items: list[OpenItem],
    *,
    now: datetime,
    convert: Converter = same_currency_only,
    expiring_within_days: int = 30,
    inactive_days: int = 180,
) -> tuple[date, Exposure, LimitInForce[StoredVersion]]:
    """One buyer's exposure under ``policy`` (``None``: its ERP accounts without a
    policy) on the policy's business date, from its cover history there and its open
    items: with the exposure alerts and those about the limit itself."""
    if policy is not None:
        day = policy.terms.business_date(now)
        currency = policy.terms.currency
    else:
        day = now.astimezone(UTC).date()
        currency = items[0].currency if items else "EUR"
        history = []
    cover = limit_in_force(history, day)
    exposure = compute_exposure(items, currency, cover, day, convert)
    if policy is not None:
        watch = LimitWatch(expiring_within_days, policy.terms.renewal_months, inactive_days)
        sales = [i.delivery_date or i.document_date for i in items if i.kind is ItemKind.INVOICE]
        extra = limit_alerts(
            cover,
            day,
            watch,
            has_open_items=any(not i.open_amount.is_zero() for i in items),
            last_sale=max(sales, default=None),
        )
        exposure = replace(exposure, alerts=exposure.alerts + tuple(extra))
    return day, exposure, cover


def exposure_report(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    convert: Converter = same_currency_only,
    expiring_within_days: int = 30,
    inactive_days: int = 180,
) -> list[ExposureRow]:
    """One row per buyer and policy that has open items, ERP accounts or cover, with the
    exposure alerts and the alerts about the limit itself (expiring, renewal due,
    inactive insured buyer). Reads only (no write lock)."""
    with ledger.reading() as session:
        ids = policy_ids(session)
        by_id = {ids[k]: p for k, p in policies.items() if k in ids}
        names = {bid: name for bid, name in session.execute(select(BuyerRow.id, BuyerRow.name))}
        accounts: dict[_Group, list[str]] = {}
        for account, buyer_id, pid in session.execute(
            select(ErpAccountRow.account, ErpAccountRow.buyer_id, ErpAccountRow.policy_id)
        ):
            accounts.setdefault(_Group(buyer_id, pid), []).append(account)
        versions = {pid: versions_by_buyer(session, pid) for pid in by_id}

        def row(group: _Group, items: list[OpenItem]) -> ExposureRow:
            policy = by_id.get(group.policy_id) if group.policy_id is not None else None
            history = versions[policy_id(group)].get(group.buyer_id, []) if policy else []
            day, exposure, cover = buyer_exposure(
                policy,
                history,
                items,
                now=now,
                convert=convert,
                expiring_within_days=expiring_within_days,
                inactive_days=inactive_days,
            )
            return ExposureRow(
                buyer_id=group.buyer_id,
                buyer_name=names.get(group.buyer_id, "?"),
                erp_accounts=tuple(sorted(accounts.get(group, []))),
                policy=policy.key if policy else None,
                insurer=policy.insurer if policy else None,
                business_date=day,
                exposure=exposure,
                version=cover.latest,
                governing=cover.governing,
            )

        def policy_id(group: _Group) -> int:
            assert group.policy_id is not None
            return group.policy_id

        rows: dict[_Group, ExposureRow] = {}
        for group, pairs in groupby(_items(session), key=lambda pair: pair[0]):
            rows[group] = row(group, [item for _, item in pairs])
        for group in accounts:
            if group not in rows:
                rows[group] = row(group, [])
        for pid, per_buyer in versions.items():
            for buyer_id in per_buyer:
                group = _Group(buyer_id, pid)
                if group not in rows:
                    rows[group] = row(group, [])
    return sorted(rows.values(), key=lambda r: (r.policy or "", r.buyer_name, r.buyer_id))


def record_exposure_alerts(ledger: Ledger, rows: list[ExposureRow], *, now: datetime) -> int:
    """Store each row's exposure alerts once per business date; returns how many are new."""
    exposure_kinds = {
        AlertKind.OVER_LIMIT,
        AlertKind.UNCOVERED,
        AlertKind.FX_RATE_MISSING,
        AlertKind.LIMIT_EXPIRING,
        AlertKind.RENEWAL_DUE,
        AlertKind.INACTIVE_BUYER,
    }
    new = 0
    with ledger.unit_of_work() as session:
        ids = policy_ids(session)
        for r in rows:
            for kind in r.exposure.alerts:
                if kind not in exposure_kinds:
                    continue  # status alerts are raised by the sync, once per change
                e = r.exposure
                message = (
                    f"{r.buyer_name}: exposure {e.exposure} against a limit of "
                    f"{e.limit if e.limit is not None else 'none'} ({kind.value})"
                )
                new += add_alert(
                    session,
                    kind=kind,
                    message=message,
                    business_date=r.business_date,
                    dedupe_key=f"{kind.value}:{r.policy}:{r.buyer_id}:{r.business_date}",
                    now=now,
                    buyer_id=r.buyer_id,
                    policy_id=ids.get(r.policy) if r.policy else None,
                    details={
                        "exposure": str(e.exposure.amount),
                        "uncovered": str(e.uncovered.amount),
                        "limit_in_force": str(e.limit.amount) if e.limit is not None else None,
                        "raw_codes": e.raw_codes,
                    },
                )
    return new


def limit_on(row: ExposureRow) -> Money | None:
    """The limit in force of the row on its business date (``None``: no cover history)."""
    return row.exposure.limit


@dataclass(frozen=True)
class GroupExposure:
    """Exposure of buyers sharing an ultimate parent, per policy and currency."""

    parent: str
    policy: str | None
    currency: str
    buyers: tuple[str, ...]
    exposure: Money
    limit: Money
    uncovered: Money


def group_exposure(ledger: Ledger, rows: list[ExposureRow]) -> list[GroupExposure]:
    """Sum the rows of buyers with a common ultimate parent (as a bureau reported it):
    insurers cover the legal entity, the risk team also watches the group."""
    with ledger.unit_of_work() as session:
        parent_of = {
            buyer_id: f"{scheme}:{value}"
            for buyer_id, scheme, value in session.execute(
                select(BuyerParentRow.buyer_id, BuyerParentRow.scheme, BuyerParentRow.value).where(
                    BuyerParentRow.relation == ParentRelation.ULTIMATE
                )
            )
        }
    groups: dict[tuple[str, str | None, str], list[ExposureRow]] = {}
    for r in rows:
        parent = parent_of.get(r.buyer_id)
        if parent is not None:
            groups.setdefault((parent, r.policy, r.exposure.currency), []).append(r)
    result = []
    for (parent, policy, currency), members in sorted(groups.items(), key=lambda g: str(g[0])):
        if len(members) < 2:
            continue
        zero = Money.zero(currency)
        exposure = sum((m.exposure.exposure for m in members), zero)
        limit = sum((m.exposure.limit or zero for m in members), zero)
        uncovered = sum((m.exposure.uncovered for m in members), zero)
        names = tuple(sorted(m.buyer_name for m in members))
        result.append(GroupExposure(parent, policy, currency, names, exposure, limit, uncovered))
    return result
