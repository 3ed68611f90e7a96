"""The SQL of :mod:`tci_gateway.services.behaviour`: one ``GROUP BY`` (scope key,
currency) over the open items joined to their ERP accounts, whose ``CASE`` sums are the
:class:`~tci_gateway.domain.behaviour.Sums` of every group, exactly as
:func:`~tci_gateway.domain.behaviour.item_sums` defines them item by item.

Date differences are the only dialect-specific part (PostgreSQL subtracts dates,
SQLite through ``julianday``); the ageing buckets compare due dates with bounds computed
here, so only days beyond terms need a difference.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.behaviour import (
    COUNT_FIELDS,
    CREDIT_NOTE,
    INVOICE,
    MONEY_FIELDS,
    ZERO,
    Sums,
    add_months,
    months_back,
)
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, OpenItemRow

_ITEMS = cast(Table, OpenItemRow.__table__)
N_MONEY = len(MONEY_FIELDS)
SCALE = 4
"""Amounts' places: SQLite stores them as integers of 1/10,000 (ledger/types.py)."""
_ACCOUNTS = cast(Table, ErpAccountRow.__table__)
_BUYERS = cast(Table, BuyerRow.__table__)
SCOPES = ("buyer", "tier", "policy", "portfolio")
YIELD = 5000
IN_LIMIT = 900
"""A ``buyer_ids`` filter larger than this reads every buyer and keeps the ones asked."""


@dataclass(frozen=True)
class Query:
    """What to sum: the scope grouped by, an optional key of it (a buyer or policy id, a
    tier name), buyer ids to keep, and the periods."""

    day: date
    months: int
    dbt_window_months: int
    scope: str = "buyer"
    key: int | str | None = None
    buyer_ids: Collection[int] | None = None
    default_tier: str = "growth"


def _days_between(dialect: str, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in whole days."""
    if dialect == "postgresql":
        return type_coerce(later - earlier, Integer)
    return sql_cast(func.julianday(later) - func.julianday(earlier), Integer)


def _sum_columns(dialect: str, q: Query) -> dict[str, Any]:
    """The aggregate columns, in :class:`Sums` order: the money fields, the months'
    sales (newest first), the counts and the oldest dispute date."""
    it = _ITEMS.c
    day = literal(q.day, Date)
    zero = literal(0)
    invoice = it.kind == INVOICE
    known = it.settled_on.is_not(None)
    open_on_day = or_(it.settled_on > q.day, and_(it.settled_on.is_(None), it.open_amount > 0))
    open_invoice = and_(invoice, open_on_day)
    ar = case((known, it.amount), else_=it.open_amount)
    due = func.coalesce(it.due_date, it.document_date)
    overdue = and_(open_invoice, due < q.day)
    window_start = add_months(q.day, -q.dbt_window_months)
    settled = and_(invoice, known, it.settled_on > window_start, it.settled_on <= q.day)
    late_open = _days_between(dialect, day, due)
    late_paid = case((it.settled_on > due, _days_between(dialect, it.settled_on, due)), else_=zero)
    in_dbt = or_(overdue, settled)
    disputed = and_(
        open_invoice,
        it.disputed.is_(True),
        or_(it.disputed_since.is_(None), it.disputed_since <= q.day),
    )

    raw: Any = BigInteger() if dialect == "sqlite" else Numeric()

    def money(*whens: tuple[Any, Any]) -> Any:  # read raw: see _decimals
        return type_coerce(func.sum(case(*whens, else_=zero)), raw)

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    b30, b60, b90 = (q.day - timedelta(days=n) for n in (30, 60, 90))
    columns: dict[str, Any] = {
        "receivables": money((open_invoice, ar), (open_on_day, -ar)),
        "unapplied": money((and_(open_on_day, ~invoice), ar)),
        "current": money((and_(open_invoice, due >= q.day), ar)),
        "days_1_30": money((and_(open_invoice, due < q.day, due >= b30), ar)),
        "days_31_60": money((and_(open_invoice, due < b30, due >= b60), ar)),
        "days_61_90": money((and_(open_invoice, due < b60, due >= b90), ar)),
        "days_over_90": money((and_(open_invoice, due < b90), ar)),
        "settled_amount": money((settled, it.amount)),
        "on_time_amount": money((and_(settled, it.settled_on <= due), it.amount)),
        "dbt_amount": money((in_dbt, it.amount)),
        "dbt_amount_days": money(
            (overdue, it.amount * late_open), (settled, it.amount * late_paid)
        ),
        "disputed_amount": money((disputed, ar)),
    }
    assert tuple(columns) == MONEY_FIELDS
    for i, (first, last, _) in enumerate(months_back(q.day, q.months)):
        signed = case((invoice, it.amount), (it.kind == CREDIT_NOTE, -it.amount), else_=zero)
        columns[f"sales_{i}"] = money((it.document_date.between(first, last), signed))
    columns.update(
        {
            "invoices_settled": count(settled),
            "invoices_overdue": count(overdue),
            "dbt_count": count(in_dbt),
            "dbt_days": func.sum(case((overdue, late_open), (settled, late_paid), else_=0)),
            "disputed_count": count(disputed),
            "disputed_unknown": count(and_(disputed, it.disputed_since.is_(None))),
            "settled_unknown": count(and_(invoice, ~known, it.open_amount == 0)),
            "items": func.count(),
        }
    )
    assert tuple(columns)[-len(COUNT_FIELDS) :] == COUNT_FIELDS
    columns["disputed_since"] = type_coerce(
        func.min(case((disputed, it.disputed_since), else_=None)), Date
    )
    return columns


def sums_select(dialect: str, q: Query) -> Select[Any]:
    """One row per (key, currency): ``key``, ``currency``, then the sums
    (:func:`_sum_columns`)."""
    it, acc = _ITEMS.c, _ACCOUNTS.c
    columns = _sum_columns(dialect, q)
    source: Any = _ITEMS.join(_ACCOUNTS, _ACCOUNTS.c.id == it.erp_account_id)
    where = [it.document_date <= q.day]
    key: Any
    if q.scope == "buyer":
        key = acc.buyer_id
    elif q.scope == "policy":
        key = acc.policy_id
        where.append(acc.policy_id.is_not(None))
    elif q.scope == "tier":
        source = source.join(_BUYERS, _BUYERS.c.id == acc.buyer_id)
        key = func.coalesce(_BUYERS.c.tier, q.default_tier)
    elif q.scope == "portfolio":
        key = literal("all")
    else:
        raise ValueError(f"unknown scope {q.scope!r} (one of {', '.join(SCOPES)})")
    if q.key is not None and q.scope != "portfolio":
        where.append(key == q.key)
    if q.buyer_ids is not None and len(q.buyer_ids) <= IN_LIMIT:
        where.append(acc.buyer_id.in_(sorted(q.buyer_ids)))
    group = [it.currency] if q.scope == "portfolio" else [key, it.currency]
    return (
        select(
            key.label("key"),
            it.currency.label("currency"),
            *(expr.label(name) for name, expr in columns.items()),
        )
        .select_from(source)
        .where(*where)
        .group_by(*group)
    )


def _decimals(dialect: str) -> Any:
    """A row value of a money sum as a Decimal: SQLite keeps amounts as integers of
    1/10,000 (read raw here: most sums are 0, and the column type's conversion of each
    value costs more than the whole statement's Python)."""
    if dialect == "sqlite":
        return lambda v: Decimal(v).scaleb(-SCALE) if v else ZERO
    return lambda v: v if v is not None else ZERO


def _sums(values: Sequence[Any], months: int, money: Any) -> Sums:
    """The :class:`Sums` of one row's aggregate columns (``money`` reads an amount)."""
    n = N_MONEY + months
    c = values[n : n + len(COUNT_FIELDS)]
    args: list[Any] = [money(v) for v in values[:N_MONEY]]
    args.append(tuple([money(v) for v in values[N_MONEY:n]]))
    args += [int(c[0]), int(c[1]), int(c[2]), int(c[3]), int(c[4]), values[-1]]
    args += [int(c[5]), int(c[6]), int(c[7])]
    return Sums(*args)


def iter_sums(session: Session, q: Query) -> Iterator[tuple[Any, str, Sums]]:
    """(key, currency, sums) of every group of ``q.scope``, streamed."""
    dialect = session.get_bind().dialect.name
    stmt = sums_select(dialect, q)
    wanted = set(q.buyer_ids) if q.buyer_ids is not None else None
    result = session.execute(stmt, execution_options={"yield_per": YIELD})
    money = _decimals(dialect)
    for row in result:
        key, currency = row[0], row[1]
        if wanted is not None and q.scope == "buyer" and key not in wanted:
            continue
        yield key, currency, _sums(row[2:], q.months, money)


def grouping_sets_select(q: Query, scopes: Sequence[str]) -> tuple[Any, dict[int, str]]:
    """PostgreSQL: every scope of ``scopes`` in one pass over the items, by ``GROUPING
    SETS``, and which scope each ``GROUPING`` mask means. Columns: the mask, ``buyer_id``,
    ``policy_id``, ``tier`` (as stored: NULL is the default tier), ``currency``, the
    sums (a key column no set groups by is NULL)."""
    it, acc, buyers = _ITEMS.c, _ACCOUNTS.c, _BUYERS.c
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r} (one of {', '.join(SCOPES)})")
    columns = _sum_columns("postgresql", q)
    keyed = {"buyer": acc.buyer_id, "policy": acc.policy_id, "tier": buyers.tier}
    grouped = [scope for scope in keyed if scope in scopes]  # the mask's bits, in order
    masks = {
        sum(1 << (len(grouped) - 1 - i) for i, other in enumerate(grouped) if other != scope): (
            scope
        )
        for scope in scopes
    }
    keys = [
        keyed[scope] if scope in grouped else literal(None, String if scope == "tier" else Integer)
        for scope in keyed
    ]
    mask: Any = func.grouping(*(keyed[s] for s in grouped)) if grouped else literal(0)
    sets = [
        tuple_(keyed[scope], it.currency) if scope in keyed else tuple_(it.currency)
        for scope in scopes
    ]
    source = _ITEMS.join(_ACCOUNTS, _ACCOUNTS.c.id == it.erp_account_id)
    if "tier" in scopes:
        source = source.join(_BUYERS, _BUYERS.c.id == acc.buyer_id)
    stmt = (
        select(
            mask.label("g"),
            *(k.label(f"k_{scope}") for k, scope in zip(keys, keyed, strict=True)),
            it.currency,
            *(expr.label(name) for name, expr in columns.items()),
        )
        .select_from(source)
        .where(it.document_date <= q.day)
        .group_by(func.grouping_sets(*sets))
    )
    return stmt, masks


def rollup_select(dialect: str, q: Query, scopes: Sequence[str]) -> Any:
    """Every scope of ``scopes`` in one statement: the items are summed once per (buyer,
    policy, currency) in a materialised CTE, and each scope's rows are sums of those
    (a few hundred thousand rows at most, summed by the database). Columns: ``scope``,
    ``ikey`` (buyer or policy id), ``tkey`` (tier, "all"), ``currency``, the sums."""
    it, acc = _ITEMS.c, _ACCOUNTS.c
    columns = _sum_columns(dialect, q)
    base = (
        select(
            acc.buyer_id.label("buyer_id"),
            acc.policy_id.label("policy_id"),
            it.currency.label("currency"),
            *(expr.label(name) for name, expr in columns.items()),
        )
        .select_from(_ITEMS.join(_ACCOUNTS, _ACCOUNTS.c.id == it.erp_account_id))
        .where(it.document_date <= q.day)
        .group_by(acc.buyer_id, acc.policy_id, it.currency)
        .cte("base")
        .prefix_with("MATERIALIZED")
    )

    def outer(name: str) -> Any:
        if name == "disputed_since":
            return type_coerce(func.min(base.c[name]), Date).label(name)
        return func.sum(base.c[name]).label(name)

    sums = [outer(name) for name in columns]
    no_int, no_text = literal(None, Integer), literal(None, String)
    branches = []
    for scope in scopes:
        source: Any = base
        where: list[Any] = []
        keys: tuple[Any, Any]
        group: list[Any]
        if scope == "buyer":
            keys, group = (base.c.buyer_id, no_text), [base.c.buyer_id]
        elif scope == "policy":
            keys, group = (base.c.policy_id, no_text), [base.c.policy_id]
            where.append(base.c.policy_id.is_not(None))
        elif scope == "tier":
            source = base.join(_BUYERS, _BUYERS.c.id == base.c.buyer_id)
            tier = func.coalesce(_BUYERS.c.tier, q.default_tier)
            keys, group = (no_int, tier), [tier]
        elif scope == "portfolio":
            keys, group = (no_int, literal("all")), []
        else:
            raise ValueError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
        branches.append(
            select(
                literal(scope).label("scope"),
                keys[0].label("ikey"),
                keys[1].label("tkey"),
                base.c.currency,
                *sums,
            )
            .select_from(source)
            .where(*where)
            .group_by(*group, base.c.currency)
        )
    return union_all(*branches)


def iter_rollup(
    session: Session, q: Query, scopes: Sequence[str]
) -> Iterator[tuple[str, Any, str, Sums]]:
    """(scope, key, currency, sums) of every group of every scope, streamed."""
    if not scopes:
        return
    dialect = session.get_bind().dialect.name
    money = _decimals(dialect)
    if dialect == "postgresql":
        stmt, masks = grouping_sets_select(q, scopes)
        for row in session.execute(stmt, execution_options={"yield_per": YIELD}):
            scope = masks[row[0]]
            if scope == "buyer":
                key: Any = row[1]
            elif scope == "policy":
                if row[2] is None:  # accounts under no policy: the portfolio's only
                    continue
                key = row[2]
            elif scope == "tier":
                key = row[3] if row[3] is not None else q.default_tier
            else:
                key = "all"
            yield scope, key, row[4], _sums(row[5:], q.months, money)
        return
    stmt = rollup_select(dialect, q, scopes)
    for row in session.execute(stmt, execution_options={"yield_per": YIELD}):
        key = row[1] if row[1] is not None else row[2]
        yield row[0], key, row[3], _sums(row[4:], q.months, money)
