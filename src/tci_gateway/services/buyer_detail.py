"""One buyer as the risk team reads it: identity (identifiers with their provenance, ERP
accounts, parents), covers per policy with their effective-dated history, open items,
alerts. Read-only; every function takes the session of a read transaction and the
:class:`~tci_gateway.services.buyer_views.Reader` (the policies it may see)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, or_, select, true
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import limit_in_force
from tci_gateway.domain.identity import ParentRelation
from tci_gateway.ledger.covers import StoredVersion, versions_of_buyer
from tci_gateway.ledger.limits import LimitState
from tci_gateway.ledger.tables import (
    AlertRow,
    BuyerIdentifierRow,
    BuyerParentRow,
    BuyerRow,
    CoverDecisionRow,
    ErpAccountRow,
    LimitChangeRow,
    OpenItemRow,
    PolicyRow,
)
from tci_gateway.services.buyer_views import Reader
from tci_gateway.services.limits import limit_state


class BuyerNotFoundError(LookupError):
    """No such buyer, or none the reader may see."""


@dataclass(frozen=True)
class IdentifierView:
    scheme: str
    issuer: str
    value: str
    source: str | None
    added_at: datetime | None


@dataclass(frozen=True)
class AccountView:
    account: str
    name: str
    policy: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ParentView:
    relation: ParentRelation
    scheme: str
    value: str
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class BuyerIdentity:
    id: int
    name: str
    country: str
    tier: str
    tier_set: bool
    created_at: datetime
    updated_at: datetime
    identifiers: list[IdentifierView]
    erp_accounts: list[AccountView]
    parents: list[ParentView]


@dataclass(frozen=True)
class LimitChangeView:
    id: int
    business_date: date
    amount: Decimal
    currency: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class PolicyCover:
    """A buyer's cover under one policy: the limit in force on the policy's business
    date (``None`` for a policy no longer configured), every decision version in
    recording order, and every change of the limit in force."""

    policy: str
    insurer: str
    currency: str
    business_date: date | None
    in_force: LimitState | None
    next_amount: Decimal | None
    versions: list[StoredVersion]
    changes: list[LimitChangeView]


def _policies(session: Session) -> dict[int, tuple[str, str, str]]:
    return {
        pid: (key, insurer, currency)
        for pid, key, insurer, currency in session.execute(
            select(PolicyRow.id, PolicyRow.key, PolicyRow.insurer, PolicyRow.currency)
        )
    }


def _visible_pids(session: Session, reader: Reader) -> set[int] | None:
    if reader.allowed is None:
        return None
    return {pid for pid, (key, _, _) in _policies(session).items() if key in reader.allowed}


def _policy_visible(column: Any, pids: set[int] | None) -> ColumnElement[bool]:
    if pids is None:
        return true()
    return or_(column.is_(None), column.in_(sorted(pids)))


def check_visible(session: Session, reader: Reader, buyer_id: int) -> BuyerRow:
    """The buyer, when it exists and the reader may see it: a reader restricted to some
    policies sees the buyers with an ERP account or cover history under one of them."""
    buyer = session.get(BuyerRow, buyer_id)
    if buyer is None:
        raise BuyerNotFoundError(f"no buyer {buyer_id} in the ledger")
    pids = _visible_pids(session, reader)
    if pids is not None:
        under = [
            *session.scalars(
                select(ErpAccountRow.policy_id).where(
                    ErpAccountRow.buyer_id == buyer_id, ErpAccountRow.policy_id.in_(sorted(pids))
                )
            ),
            *session.scalars(
                select(CoverDecisionRow.policy_id)
                .where(
                    CoverDecisionRow.buyer_id == buyer_id,
                    CoverDecisionRow.policy_id.in_(sorted(pids)),
                )
                .limit(1)
            ),
        ]
        if not under:
            raise BuyerNotFoundError(f"no buyer {buyer_id} under the policies of this key")
    return buyer


def buyer_identity(session: Session, reader: Reader, buyer_id: int) -> BuyerIdentity:
    """The buyer with its identifiers (and where each came from), the ERP accounts it
    may be seen through, and its parents as the bureaus reported them."""
    buyer = check_visible(session, reader, buyer_id)
    policies = _policies(session)
    pids = _visible_pids(session, reader)
    identifiers = [
        IdentifierView(r.scheme, r.issuer, r.value, r.source, r.added_at)
        for r in session.scalars(
            select(BuyerIdentifierRow)
            .where(BuyerIdentifierRow.buyer_id == buyer_id)
            .order_by(
                BuyerIdentifierRow.scheme, BuyerIdentifierRow.issuer, BuyerIdentifierRow.value
            )
        )
    ]
    accounts = [
        AccountView(
            r.account,
            r.name,
            policies[r.policy_id][0] if r.policy_id is not None else None,
            r.created_at,
            r.updated_at,
        )
        for r in session.scalars(
            select(ErpAccountRow)
            .where(
                ErpAccountRow.buyer_id == buyer_id, _policy_visible(ErpAccountRow.policy_id, pids)
            )
            .order_by(ErpAccountRow.account)
        )
    ]
    parents = [
        ParentView(r.relation, r.scheme, r.value, r.source, r.updated_at)
        for r in session.scalars(
            select(BuyerParentRow)
            .where(BuyerParentRow.buyer_id == buyer_id)
            .order_by(BuyerParentRow.relation, BuyerParentRow.source)
        )
    ]
    return BuyerIdentity(
        id=buyer.id,
        name=buyer.name,
        country=buyer.country,
        tier=buyer.tier or reader.default_tier,
        tier_set=buyer.tier is not None,
        created_at=buyer.created_at,
        updated_at=buyer.updated_at,
        identifiers=identifiers,
        erp_accounts=accounts,
        parents=parents,
    )


def buyer_covers(session: Session, reader: Reader, buyer_id: int) -> list[PolicyCover]:
    """Per policy the buyer has cover history under (and the reader may see), by policy
    key: the limit in force today (the domain rule over the history, as it is stored
    and sent to the ERP), the decision versions and the changes of the limit."""
    check_visible(session, reader, buyer_id)
    policies = _policies(session)
    pids = sorted(
        set(
            session.scalars(
                select(CoverDecisionRow.policy_id).where(CoverDecisionRow.buyer_id == buyer_id)
            )
        )
    )
    covers = []
    for pid in pids:
        key, insurer, currency = policies[pid]
        if not reader.may_see(key):
            continue
        versions = versions_of_buyer(session, pid, buyer_id)
        changes = [
            LimitChangeView(r.id, r.business_date, r.amount, r.currency, r.reason, r.created_at)
            for r in session.scalars(
                select(LimitChangeRow)
                .where(LimitChangeRow.policy_id == pid, LimitChangeRow.buyer_id == buyer_id)
                .order_by(LimitChangeRow.id)
            )
        ]
        policy = reader.policies.get(key)
        day = state = next_amount = None
        if policy is not None:
            day = policy.terms.business_date(reader.now)
            cover = limit_in_force(versions, day)
            state = limit_state(cover, policy.terms.currency)
            next_amount = cover.next_amount.amount if cover.next_amount is not None else None
        covers.append(
            PolicyCover(key, insurer, currency, day, state, next_amount, versions, changes)
        )
    return sorted(covers, key=lambda c: c.policy)


@dataclass(frozen=True)
class OpenItemView:
    id: int
    erp_account: str
    policy: str | None
    row: Row[Any]
    """The item's columns (``open_items``), read as a Core row: attributes as on
    :class:`~tci_gateway.ledger.tables.OpenItemRow`, without an ORM object per item."""
    policy_id: int | None = None
    """The ledger's id of ``policy`` (the item's account's policy)."""


def open_items(
    session: Session,
    reader: Reader,
    buyer_id: int,
    *,
    limit: int,
    after: int = 0,
    include_closed: bool = False,
) -> tuple[list[OpenItemView], int | None]:
    """A page of the buyer's open items (by id, above ``after``) on the ERP accounts the
    reader may see, and the last id when there are more."""
    check_visible(session, reader, buyer_id)
    policies = _policies(session)
    pids = _visible_pids(session, reader)
    table = cast(Table, OpenItemRow.__table__)  # Core rows: no ORM object per item
    stmt = (
        select(
            table,
            ErpAccountRow.account.label("account_of_item"),
            ErpAccountRow.policy_id.label("policy_id_of_account"),
        )
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .where(
            ErpAccountRow.buyer_id == buyer_id,
            _policy_visible(ErpAccountRow.policy_id, pids),
            OpenItemRow.id > after,
        )
        .order_by(OpenItemRow.id)
        .limit(limit + 1)
    )
    if not include_closed:
        stmt = stmt.where(OpenItemRow.open_amount > 0)
    rows = [
        OpenItemView(
            row.id,
            row.account_of_item,
            policies[pid][0] if (pid := row.policy_id_of_account) is not None else None,
            row,
            pid,
        )
        for row in session.execute(stmt)
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


@dataclass(frozen=True)
class AlertView:
    row: AlertRow
    policy: str | None


def alerts(
    session: Session,
    reader: Reader,
    buyer_id: int,
    *,
    limit: int,
    before: int | None = None,
    kind: str | None = None,
) -> tuple[list[AlertView], int | None]:
    """A page of the buyer's alerts, newest first (ids below ``before``), those about a
    policy the reader may see or about none; and the last id when there are more."""
    check_visible(session, reader, buyer_id)
    policies = _policies(session)
    pids = _visible_pids(session, reader)
    stmt = (
        select(AlertRow)
        .where(AlertRow.buyer_id == buyer_id, _policy_visible(AlertRow.policy_id, pids))
        .order_by(AlertRow.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stmt = stmt.where(AlertRow.id < before)
    if kind is not None:
        stmt = stmt.where(AlertRow.kind == kind)
    rows = [
        AlertView(r, policies[r.policy_id][0] if r.policy_id is not None else None)
        for r in session.scalars(stmt)
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].row.id if more and rows else None
