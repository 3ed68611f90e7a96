"""The SQL side of the buyers list: the reader and the filters, and the conditions that
narrow a page's candidates before the domain rules decide (each a superset of the exact
answer, from the stored limits in force; see :mod:`tci_gateway.services.buyer_views`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import OPEN_REQUEST_STATES, CoverStatus
from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.tables import (
    BuyerIdentifierRow,
    BuyerRow,
    CoverDecisionRow,
    CoverRequestRow,
    ErpAccountRow,
    LimitInForceRow,
    OpenItemRow,
    PolicyRow,
)


class UnknownFilterError(ValueError):
    """A filter names a policy, insurer or tier the gateway does not know."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name


@dataclass(frozen=True)
class Reader:
    """What reading buyers needs from the configuration and the request: the configured
    policies, tiers, alert horizons, the clock, and the policies the reader may see
    (``None``: all)."""

    policies: Mapping[str, Policy]
    now: datetime
    default_tier: str = "growth"
    tiers: frozenset[str] = frozenset()
    expiring_within_days: int = 30
    inactive_days: int = 180
    allowed: frozenset[str] | None = None

    def may_see(self, policy: str | None) -> bool:
        return policy is None or self.allowed is None or policy in self.allowed


@dataclass(frozen=True)
class BuyerFilter:
    over_limit: bool = False
    uncovered: bool = False
    expiring_within_days: int | None = None
    tier: str | None = None
    insurer: str | None = None
    policy: str | None = None
    text: str | None = None
    identifier: Identifier | None = None
    pending_decision: bool = False
    """A cover request not decided yet, or a decision pending at the insurer (the
    position's latest version is PENDING: no cover counted for it)."""

    @property
    def exact(self) -> bool:
        """True when a filter needs the exact exposure figures."""
        return (
            self.over_limit
            or self.uncovered
            or self.expiring_within_days is not None
            or self.pending_decision
        )


@dataclass
class Scope:
    """Policy ids by key in the ledger, which of them a query is about."""

    ids: dict[str, int]
    wanted: set[int] | None  # None: every policy
    days: list[date] = field(default_factory=list)


def scope_of(session: Session, reader: Reader, flt: BuyerFilter) -> Scope:
    rows = session.execute(select(PolicyRow.key, PolicyRow.id, PolicyRow.insurer)).all()
    ids = {key: pid for key, pid, _ in rows}
    known_insurers = {insurer for _, _, insurer in rows} | {
        p.insurer for p in reader.policies.values()
    }
    wanted: set[int] | None = None
    if flt.policy is not None:
        if flt.policy not in ids and flt.policy not in reader.policies:
            raise UnknownFilterError("policy", f"unknown policy {flt.policy!r}")
        wanted = {ids[flt.policy]} if flt.policy in ids else set()
    if flt.insurer is not None:
        if flt.insurer not in known_insurers:
            raise UnknownFilterError("insurer", f"unknown insurer {flt.insurer!r}")
        of_insurer = {pid for _, pid, insurer in rows if insurer == flt.insurer}
        wanted = of_insurer if wanted is None else wanted & of_insurer
    if reader.allowed is not None:
        allowed = {pid for key, pid in ids.items() if key in reader.allowed}
        wanted = allowed if wanted is None else wanted & allowed
    keys = [k for k, pid in ids.items() if wanted is None or pid in wanted]
    days = [
        reader.policies[k].terms.business_date(reader.now) for k in keys if k in reader.policies
    ]
    return Scope(ids, wanted, days or [reader.now.date()])


def in_scope(column: Any, scope: Scope) -> ColumnElement[bool]:
    if scope.wanted is None:
        return true()
    return column.in_(sorted(scope.wanted)) if scope.wanted else false()


def under_scope(scope: Scope) -> ColumnElement[bool]:
    """The buyer has an ERP account or cover history under a policy of the scope."""
    account = exists().where(
        ErpAccountRow.buyer_id == BuyerRow.id, in_scope(ErpAccountRow.policy_id, scope)
    )
    cover = exists().where(
        CoverDecisionRow.buyer_id == BuyerRow.id, in_scope(CoverDecisionRow.policy_id, scope)
    )
    return or_(account, cover)


def like_escaped(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_match(text: str) -> ColumnElement[bool]:
    """Name contains ``text`` (any case), or an identifier value or ERP account is it."""
    compact = "".join(text.split()).upper()
    return or_(
        func.lower(BuyerRow.name).like(like_escaped(text.strip()), escape="\\"),
        BuyerRow.id.in_(
            select(BuyerIdentifierRow.buyer_id).where(BuyerIdentifierRow.value == compact)
        ),
        BuyerRow.id.in_(
            select(ErpAccountRow.buyer_id).where(ErpAccountRow.account == text.strip())
        ),
    )


def uncovered_candidates(scope: Scope) -> ColumnElement[bool]:
    # Uncovered needs an open invoice under a group with no positive limit surely in force.
    latest, earliest = max(scope.days), min(scope.days)
    covered = exists().where(
        LimitInForceRow.policy_id == ErpAccountRow.policy_id,
        LimitInForceRow.buyer_id == ErpAccountRow.buyer_id,
        LimitInForceRow.amount > 0,
        or_(LimitInForceRow.valid_to.is_(None), LimitInForceRow.valid_to > latest),
        LimitInForceRow.business_date <= earliest,
    )
    scoped = (
        true()
        if scope.wanted is None
        else or_(in_scope(ErpAccountRow.policy_id, scope), ErpAccountRow.policy_id.is_(None))
    )
    return exists().where(
        ErpAccountRow.buyer_id == BuyerRow.id,
        scoped,
        OpenItemRow.erp_account_id == ErpAccountRow.id,
        OpenItemRow.kind == ItemKind.INVOICE.value,
        OpenItemRow.open_amount > 0,
        ~covered,
    )


def over_limit_candidates(scope: Scope) -> ColumnElement[bool]:
    # Over limit needs a positive limit and invoices above it: in the limit's currency
    # their sum exceeds it, or some are in another currency (converted exactly later:
    # each counts as more than the limit here). A limit due for its date roll, or
    # computed after the request's date, may be anything: a candidate too.
    latest, earliest = max(scope.days), min(scope.days)
    same = OpenItemRow.currency == LimitInForceRow.currency
    weight = case(
        (same, OpenItemRow.open_amount),
        (OpenItemRow.open_amount > 0, LimitInForceRow.amount + 1),
        else_=0,
    )
    invoices = (
        select(func.coalesce(func.sum(weight), 0))
        .where(
            ErpAccountRow.buyer_id == LimitInForceRow.buyer_id,
            # an expression, not the column: SQLite (no statistics) would otherwise walk
            # every account of the policy through its index instead of the buyer's
            func.coalesce(ErpAccountRow.policy_id, 0) == LimitInForceRow.policy_id,
            OpenItemRow.erp_account_id == ErpAccountRow.id,
            OpenItemRow.kind == ItemKind.INVOICE.value,
        )
        .scalar_subquery()
    )
    return exists().where(
        LimitInForceRow.buyer_id == BuyerRow.id,
        in_scope(LimitInForceRow.policy_id, scope),
        or_(
            LimitInForceRow.valid_to <= latest,
            LimitInForceRow.business_date > earliest,
            and_(LimitInForceRow.amount > 0, invoices > LimitInForceRow.amount),
        ),
    )


def expiring_candidates(scope: Scope, days: int) -> ColumnElement[bool]:
    horizon = max(scope.days) + timedelta(days=days)
    return BuyerRow.id.in_(
        select(LimitInForceRow.buyer_id).where(
            in_scope(LimitInForceRow.policy_id, scope),
            LimitInForceRow.valid_to.is_not(None),
            LimitInForceRow.valid_to <= horizon,
        )
    )


def pending_candidates(scope: Scope) -> ColumnElement[bool]:
    # the (few) buyers with an open request or a pending version, found once: a page
    # then costs the buyers it walks, not two lookups each
    requests = select(CoverRequestRow.buyer_id).where(
        CoverRequestRow.state.in_(OPEN_REQUEST_STATES),
        in_scope(CoverRequestRow.policy_id, scope),
    )
    pending = select(CoverDecisionRow.buyer_id).where(
        CoverDecisionRow.status == CoverStatus.PENDING,
        in_scope(CoverDecisionRow.policy_id, scope),
    )
    return BuyerRow.id.in_(union(requests, pending))


def requesting_buyers(session: Session, buyer_ids: list[int], scope: Scope) -> set[int]:
    """Those of the buyers with a cover request not decided yet (under the scope)."""
    return set(
        session.scalars(
            select(CoverRequestRow.buyer_id).where(
                CoverRequestRow.buyer_id.in_(buyer_ids),
                CoverRequestRow.state.in_(OPEN_REQUEST_STATES),
                in_scope(CoverRequestRow.policy_id, scope),
            )
        )
    )
