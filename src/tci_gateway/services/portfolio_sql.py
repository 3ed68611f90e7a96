"""The SQL of :mod:`tci_gateway.services.portfolio`: exposure against cover for the whole
book in one statement (per buyer and policy, then totals, top lists and the positions
left to the domain rules)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.tables import (
    CoverDecisionRow,
    ErpAccountRow,
    LimitInForceRow,
    OpenItemRow,
)

_ITEMS = cast(Table, OpenItemRow.__table__)
_ACCOUNTS = cast(Table, ErpAccountRow.__table__)
_LIMITS = cast(Table, LimitInForceRow.__table__)
_DECISIONS = cast(Table, CoverDecisionRow.__table__)


def positions_sql(currency: dict[int, str], day: dict[int, date], visible: set[int]) -> Any:
    """Per buyer and policy: net open items, their currencies, the stored limit and
    whether cover history or a pending version exists (one row per pair)."""
    zero = literal(0)
    signed = case(
        (_ITEMS.c.kind == ItemKind.INVOICE.value, _ITEMS.c.open_amount),
        else_=-_ITEMS.c.open_amount,
    )
    items = (
        select(
            _ACCOUNTS.c.buyer_id,
            _ACCOUNTS.c.policy_id,
            func.sum(signed).label("net"),
            func.min(_ITEMS.c.currency).label("cmin"),
            func.max(_ITEMS.c.currency).label("cmax"),
            null().label("lim"),
            null().label("lcur"),
            null().label("lday"),
            null().label("lto"),
            zero.label("has_limit"),
            zero.label("has_history"),
            zero.label("pending"),
        )
        .select_from(_ITEMS.join(_ACCOUNTS, _ACCOUNTS.c.id == _ITEMS.c.erp_account_id))
        .group_by(_ACCOUNTS.c.buyer_id, _ACCOUNTS.c.policy_id)
    )
    limits = select(
        _LIMITS.c.buyer_id,
        _LIMITS.c.policy_id,
        zero,
        null(),
        null(),
        _LIMITS.c.amount,
        _LIMITS.c.currency,
        _LIMITS.c.business_date,
        _LIMITS.c.valid_to,
        literal(1),
        zero,
        zero,
    )
    history = select(
        _DECISIONS.c.buyer_id,
        _DECISIONS.c.policy_id,
        zero,
        null(),
        null(),
        null(),
        null(),
        null(),
        null(),
        zero,
        literal(1),
        case((_DECISIONS.c.status == CoverStatus.PENDING.value, 1), else_=0),
    )
    u = union_all(items, limits, history).subquery("u")
    g = (
        select(
            u.c.buyer_id,
            u.c.policy_id,
            func.sum(u.c.net).label("net"),
            func.min(u.c.cmin).label("cmin"),
            func.max(u.c.cmax).label("cmax"),
            func.max(u.c.lim).label("lim"),
            func.max(u.c.lcur).label("lcur"),
            func.max(u.c.lday).label("lday"),
            func.max(u.c.lto).label("lto"),
            func.max(u.c.has_limit).label("has_limit"),
            func.max(u.c.has_history).label("has_history"),
            func.max(u.c.pending).label("pending"),
        )
        .group_by(u.c.buyer_id, u.c.policy_id)
        .subquery("g")
    )
    configured: ColumnElement[bool] = g.c.policy_id.in_(sorted(currency)) if currency else false()
    pcur: Any = case(currency, value=g.c.policy_id, else_=g.c.cmin) if currency else g.c.cmin
    pday: Any = case(day, value=g.c.policy_id, else_=null()) if day else literal(None, Date)
    net = func.coalesce(g.c.net, 0)
    special = or_(
        and_(
            configured,
            or_(
                func.coalesce(g.c.cmin, pcur) != pcur,
                func.coalesce(g.c.cmax, pcur) != pcur,
                and_(
                    g.c.has_limit == 1,
                    or_(
                        g.c.lcur != pcur,
                        g.c.lday > pday,
                        and_(g.c.lto.is_not(None), g.c.lto <= pday),
                    ),
                ),
                and_(g.c.has_history == 1, g.c.has_limit == 0),
                g.c.pending == 1,
            ),
        ),
        and_(~configured, g.c.cmin != g.c.cmax),
    )
    limit = case((configured, g.c.lim), else_=null())
    positive = case((net > 0, net), else_=0)
    covered = case((limit.is_(None), 0), (positive < limit, positive), else_=limit)
    return (
        select(
            g.c.buyer_id,
            case((configured, g.c.policy_id), else_=null()).label("policy_id"),
            g.c.policy_id.label("raw_pid"),
            pcur.label("currency"),
            net.label("exposure"),
            limit.label("lim"),
            covered.label("covered"),
            (positive - covered).label("uncovered"),
            case((and_(limit > 0, positive > limit), positive - limit), else_=0).label("over"),
            case((and_(positive > 0, or_(limit.is_(None), limit == 0)), 1), else_=0).label("bare"),
            case((special, 1), else_=0).label("special"),
        )
        .where(
            or_(g.c.policy_id.is_(None), ~configured, g.c.policy_id.in_(sorted(visible))),
            # rows of an unconfigured policy without items: cover it has no rule for
            or_(configured, g.c.cmin.is_not(None)),
        )
        .cte("positions")
    )


def answer_sql(p: Any, top: int, over_top: int) -> Any:
    """Totals per policy and currency, the top uncovered and over-limit positions, and the
    positions left to the domain rules, in one statement over ``p``."""
    plain = p.c.special == 0
    n = null().label("n")
    totals = (
        select(
            literal("T").label("part"),
            p.c.policy_id,
            p.c.currency,
            null().label("buyer_id"),
            func.count().label("n"),
            func.sum(p.c.exposure).label("exposure"),
            func.sum(func.coalesce(p.c.lim, 0)).label("lim"),
            func.sum(p.c.covered).label("covered"),
            func.sum(p.c.uncovered).label("uncovered"),
            func.sum(case((p.c.over > 0, 1), else_=0)).label("over"),
            func.sum(p.c.bare).label("bare"),
        )
        .where(plain)
        .group_by(p.c.policy_id, p.c.currency)
    )

    def ranked(order: Any, where: ColumnElement[bool], part: str, limit: int) -> Any:
        rank = func.row_number().over(
            partition_by=p.c.currency, order_by=(order.desc(), p.c.buyer_id)
        )
        inner = (
            select(
                p.c.policy_id,
                p.c.currency,
                p.c.buyer_id,
                p.c.exposure,
                p.c.lim,
                p.c.covered,
                p.c.uncovered,
                p.c.over,
                rank.label("rk"),
            )
            .where(plain, where)
            .subquery()
        )
        return select(
            literal(part),
            inner.c.policy_id,
            inner.c.currency,
            inner.c.buyer_id,
            n,
            inner.c.exposure,
            inner.c.lim,
            inner.c.covered,
            inner.c.uncovered,
            inner.c.over,
            null(),
        ).where(inner.c.rk <= limit)

    special = select(
        literal("S"), p.c.raw_pid, p.c.currency, p.c.buyer_id, n, *([null()] * 6)
    ).where(p.c.special == 1)
    return union_all(
        totals,
        ranked(p.c.uncovered, p.c.uncovered > 0, "U", top),
        ranked(p.c.over, p.c.over > 0, "O", over_top),
        special,
    ).subquery("answer")
