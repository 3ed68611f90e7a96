"""Payment behaviour per buyer, tier, policy and the whole portfolio on a business date:
DSO (countback and simple), best possible DSO, average days delinquent, days beyond terms
(average and weighted), the share paid on time, ageing buckets and disputes
(docs/credit.md explains each figure with a worked example).

Set-based: one SQL statement per scope sums the open items per (scope key, currency)
(:mod:`tci_gateway.services.behaviour_sql`); each currency's sums are converted to the
reporting currency at the business date and added, and the domain formulas
(:mod:`tci_gateway.domain.behaviour`) turn the sums into figures. A tier's, a policy's or
the portfolio's DSO therefore comes from its summed receivables and sales, never from an
average of its buyers' DSOs. Nothing is loaded per item and nothing is queried per buyer.

Scopes: a buyer's items are those of its ERP accounts; a policy's those of the ERP
accounts under it (accounts without a policy count in the portfolio only); a tier's
those of its buyers (``buyers.tier``, unset: ``default_tier``).

Snapshots (:func:`take_snapshots`) keep the figures of each scope on a business date;
month ends and the latest date are kept, so :func:`trend` can draw them.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tci_gateway.domain.behaviour import (
    INVOICE,
    ZERO,
    Rates,
    Sums,
    add_months,
    behaviour_from,
    convert_sums,
    rounded_days,
    weighted_dbt,
)
from tci_gateway.domain.credit import Behaviour, Buckets, MonthSales
from tci_gateway.domain.exposure import Converter, same_currency_only
from tci_gateway.domain.months import whole_months
from tci_gateway.ledger import behaviour as snapshots_repo
from tci_gateway.ledger.credit_tables import BehaviourSnapshotRow, TierChangeRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    BuyerRow,
    ErpAccountRow,
    ImportRow,
    OpenItemRow,
    PolicyRow,
)
from tci_gateway.services.behaviour_sql import IN_LIMIT, SCOPES, Query, iter_rollup, iter_sums

PORTFOLIO_KEY = "all"
PORTFOLIO_LABEL = "Portfolio"


@dataclass(frozen=True)
class BehaviourOptions:
    """How behaviour is measured (``[credit]`` and ``[credit.behaviour]``, built by the
    wiring): the reporting currency and its converter, the simple DSO's months, the
    countback's limit, the days-beyond-terms window, the tier of a buyer without one and
    the scopes snapshotted."""

    reporting_currency: str = "EUR"
    convert: Converter = same_currency_only
    dso_months: int = 3
    countback_max_months: int = 12
    dbt_window_months: int = 12
    default_tier: str = "growth"
    scopes: tuple[str, ...] = ("buyer", "tier", "policy", "portfolio")


@dataclass(frozen=True)
class ScopedBehaviour:
    """The behaviour of one scope: ``scope`` "buyer" | "tier" | "policy" | "portfolio";
    ``key`` the buyer id (as text), tier name, policy key or "all"; ``label`` what a
    person reads (buyer name, tier, policy key, "Portfolio")."""

    scope: str
    key: str
    label: str
    behaviour: Behaviour


def _query(day: date, options: BehaviourOptions, scope: str, **kw: Any) -> Query:
    return Query(
        day=day,
        months=options.countback_max_months,
        dbt_window_months=options.dbt_window_months,
        scope=scope,
        default_tier=options.default_tier,
        **kw,
    )


def _grouped(session: Session, q: Query, options: BehaviourOptions) -> dict[Any, Sums]:
    """Each key's sums in the reporting currency (its currencies converted and added)."""
    raw: dict[Any, dict[str, Sums]] = {}
    rates: Rates = {}
    for key, currency, sums in iter_sums(session, q):
        raw.setdefault(key, {})[currency] = sums
    return {key: _converted(per, q.day, options, rates) for key, per in raw.items()}


def _converted(
    per_currency: dict[str, Sums], day: date, options: BehaviourOptions, rates: Rates
) -> Sums:
    """One key's sums per currency, converted to the reporting currency at ``day`` and
    added (in currency order, so the result does not depend on the rows' order)."""
    target = options.reporting_currency
    if len(per_currency) == 1 and target in per_currency:
        return per_currency[target]
    total = _empty(options)
    for currency in sorted(per_currency):
        sums = per_currency[currency]
        total = total + convert_sums(sums, currency, target, options.convert, day, rates=rates)
    return total


def _empty(options: BehaviourOptions) -> Sums:
    return Sums(sales=(ZERO,) * options.countback_max_months)


def _figures(sums: Sums, day: date, options: BehaviourOptions) -> Behaviour:
    return behaviour_from(sums, day, options.reporting_currency, dso_months=options.dso_months)


# -- one statement for every scope, and its cache ------------------------------------------

Raw = dict[str, dict[Any, dict[str, Sums]]]
"""scope -> key -> currency -> sums, before conversion."""
ROLLUP_SCOPES = ("tier", "policy", "portfolio")
MAX_AGE_SECONDS = 300.0
"""The tier, policy and portfolio sums of the last statement answer reports for this
long while the ledger seems unchanged (see :func:`fingerprint`)."""


@dataclass
class _Cached:
    key: tuple[Any, ...]
    at: float
    raw: Raw


_CACHE: weakref.WeakKeyDictionary[Ledger, _Cached] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def clear_cache(ledger: Ledger | None = None) -> None:
    """Forget the cached scope sums (of ``ledger``, or of every ledger): for writers
    that change items without an import (tests, repairs)."""
    with _CACHE_LOCK:
        if ledger is None:
            _CACHE.clear()
        else:
            _CACHE.pop(ledger, None)


def fingerprint(session: Session) -> tuple[Any, ...]:
    """Cheap figures that change when the sums may: an import, items added or removed,
    a tier change or pin, a buyer or ERP account changed (a merge, a new tier)."""
    row = session.execute(
        select(
            select(func.max(ImportRow.id)).scalar_subquery(),
            select(func.max(OpenItemRow.id)).scalar_subquery(),
            select(func.count()).select_from(OpenItemRow).scalar_subquery(),
            select(func.max(TierChangeRow.id)).scalar_subquery(),
            select(func.max(BuyerRow.updated_at)).scalar_subquery(),
            select(func.count()).select_from(BuyerRow).scalar_subquery(),
            select(func.max(ErpAccountRow.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def _cache_key(session: Session, day: date, options: BehaviourOptions) -> tuple[Any, ...]:
    periods = (options.countback_max_months, options.dbt_window_months, options.default_tier)
    return (day, *periods, *fingerprint(session))


def _rollup(
    ledger: Ledger, session: Session, day: date, options: BehaviourOptions, scopes: Sequence[str]
) -> Raw:
    """The raw sums of ``scopes`` in one statement; the tier, policy and portfolio ones
    are kept for the reports that follow."""
    key = _cache_key(session, day, options)
    raw: Raw = {scope: {} for scope in scopes}
    for scope, k, currency, sums in iter_rollup(session, _query(day, options, "all"), scopes):
        per = raw[scope].setdefault(k, {})
        found = per.get(currency)  # a tier both unset (the default) and set by name
        per[currency] = sums if found is None else found + sums
    if set(ROLLUP_SCOPES) <= set(scopes):
        kept = {scope: raw[scope] for scope in ROLLUP_SCOPES}
        with _CACHE_LOCK:
            _CACHE[ledger] = _Cached(key, time.monotonic(), kept)
    return raw


def _scope_sums(ledger: Ledger, session: Session, day: date, options: BehaviourOptions) -> Raw:
    """The raw tier, policy and portfolio sums: cached while the ledger seems unchanged,
    else from one statement."""
    key = _cache_key(session, day, options)
    with _CACHE_LOCK:
        found = _CACHE.get(ledger)
    if found is not None and found.key == key and time.monotonic() - found.at < MAX_AGE_SECONDS:
        return found.raw
    return _rollup(ledger, session, day, options, ROLLUP_SCOPES)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a hundred thousand acyclic results are
    built (it would otherwise walk the growing heap again and again: a third of the
    time); restored after, if it was on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def buyer_behaviour(
    ledger: Ledger,
    day: date,
    options: BehaviourOptions,
    buyer_ids: Collection[int] | None = None,
) -> dict[int, Behaviour]:
    """The behaviour of every buyer with items (or of ``buyer_ids``; a buyer asked for
    without items gets empty figures) on ``day``, in one statement (which also sums the
    tiers, policies and portfolio for the reports that follow)."""
    result: dict[int, Behaviour] = {}
    with ledger.reading() as session, _no_gc():
        if buyer_ids is not None and len(buyer_ids) <= IN_LIMIT:
            q = _query(day, options, "buyer", buyer_ids=buyer_ids)
            for k, sums in _grouped(session, q, options).items():
                result[int(k)] = _figures(sums, day, options)
        else:
            buyers = _rollup(ledger, session, day, options, ("buyer", *ROLLUP_SCOPES))["buyer"]
            rates: Rates = {}
            wanted = set(buyer_ids) if buyer_ids is not None else None
            while buyers:  # each buyer's sums dropped as its figures are made: a flat peak
                k, per = buyers.popitem()
                if wanted is None or k in wanted:
                    result[int(k)] = _figures(_converted(per, day, options, rates), day, options)
    for buyer_id in buyer_ids or ():
        if buyer_id not in result:
            result[buyer_id] = _figures(_empty(options), day, options)
    return result


def buyer_dbt(ledger: Ledger, day: date, options: BehaviourOptions) -> dict[int, Decimal | None]:
    """Every buyer's weighted days beyond terms on ``day`` (as
    :attr:`Behaviour.dbt_weighted`, rounded alike), from the same statement as
    :func:`buyer_behaviour` but without building every other figure: what the nightly
    tier rules need of 100k buyers."""
    result: dict[int, Decimal | None] = {}
    with ledger.reading() as session, _no_gc():
        buyers = _rollup(ledger, session, day, options, ("buyer", *ROLLUP_SCOPES))["buyer"]
        rates: Rates = {}
        while buyers:
            k, per = buyers.popitem()
            result[int(k)] = rounded_days(weighted_dbt(_converted(per, day, options, rates)))
    return result


def _labels(session: Session, scope: str, keys: Collection[Any]) -> dict[Any, tuple[str, str]]:
    """(key text, label) of each raw key of ``scope``."""
    if scope == "buyer":
        stmt = select(BuyerRow.id, BuyerRow.name)
        if len(keys) <= IN_LIMIT:
            stmt = stmt.where(BuyerRow.id.in_(keys))
        names: dict[Any, str] = {i: n for i, n in session.execute(stmt)}
        return {k: (str(k), names.get(k, str(k))) for k in keys}
    if scope == "policy":
        policies: dict[Any, str] = {
            i: k for i, k in session.execute(select(PolicyRow.id, PolicyRow.key))
        }
        return {k: (policies.get(k, str(k)), policies.get(k, str(k))) for k in keys}
    if scope == "tier":
        return {k: (str(k), str(k)) for k in keys}
    return {k: (PORTFOLIO_KEY, PORTFOLIO_LABEL) for k in keys}


def _resolve_key(session: Session, scope: str, key: str) -> Any:
    """The raw key of ``key`` (a buyer id, a policy key, a tier); LookupError if unknown."""
    if scope == "buyer":
        try:
            buyer_id = int(key)
        except ValueError:
            raise LookupError(f"unknown buyer {key!r}") from None
        if session.get(BuyerRow, buyer_id) is None:
            raise LookupError(f"unknown buyer {key!r}")
        return buyer_id
    if scope == "policy":
        policy_id = session.scalar(select(PolicyRow.id).where(PolicyRow.key == key))
        if policy_id is None:
            raise LookupError(f"unknown policy {key!r}")
        return policy_id
    return key


def _entries(
    session: Session,
    scope: str,
    grouped: dict[Any, Sums],
    day: date,
    options: BehaviourOptions,
) -> list[ScopedBehaviour]:
    labels = _labels(session, scope, list(grouped))
    found = [
        ScopedBehaviour(scope, labels[k][0], labels[k][1], _figures(s, day, options))
        for k, s in grouped.items()
    ]
    return sorted(found, key=lambda s: (s.label.casefold(), s.key))


def _scoped(
    ledger: Ledger,
    session: Session,
    day: date,
    options: BehaviourOptions,
    scope: str,
    key: str | None,
) -> list[ScopedBehaviour]:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
    raw_key = None
    if key is not None and scope != "portfolio":
        raw_key = _resolve_key(session, scope, key)
    if scope == "buyer":
        grouped = _grouped(session, _query(day, options, scope, key=raw_key), options)
    else:
        per_key = _scope_sums(ledger, session, day, options)[scope]
        rates: Rates = {}
        if scope == "portfolio":
            raw_key = PORTFOLIO_KEY
        if raw_key is not None:
            per_key = {raw_key: per_key.get(raw_key, {})}
        grouped = {k: _converted(per, day, options, rates) for k, per in per_key.items()}
    if raw_key is not None:
        grouped = {raw_key: grouped.get(raw_key, _empty(options))}
    return _entries(session, scope, grouped, day, options)


def behaviour_report(
    ledger: Ledger,
    day: date,
    options: BehaviourOptions,
    *,
    scope: str = "portfolio",
    key: str | None = None,
) -> list[ScopedBehaviour]:
    """The behaviour of ``scope`` on ``day``: of its one ``key`` (a buyer id, a tier, a
    policy key; LookupError for an unknown buyer or policy; a tier without buyers has
    empty figures), else of every key with items, sorted by label. The portfolio is one
    entry. Tier, policy and portfolio figures come from one statement summing all three,
    kept while the ledger seems unchanged (:data:`MAX_AGE_SECONDS`)."""
    with ledger.reading() as session:
        return _scoped(ledger, session, day, options, scope, key)


# -- snapshots --------------------------------------------------------------------------


def _snapshot_row(s: ScopedBehaviour, options: BehaviourOptions, now: datetime) -> dict[str, Any]:
    b = s.behaviour
    return {
        "scope": s.scope,
        "scope_key": s.key,
        "business_date": b.day,
        "currency": b.currency,
        "receivables": b.receivables,
        "sales_3m": sum((m.sales for m in b.sales[: options.dso_months]), ZERO),
        "dso_countback": b.dso_countback,
        "dso_simple": b.dso_simple,
        "best_possible_dso": b.best_possible_dso,
        "dbt_average": b.dbt_average,
        "dbt_weighted": b.dbt_weighted,
        "paid_on_time_share": b.paid_on_time_share,
        "current": b.buckets.current,
        "days_1_30": b.buckets.days_1_30,
        "days_31_60": b.buckets.days_31_60,
        "days_61_90": b.buckets.days_61_90,
        "days_over_90": b.buckets.days_over_90,
        "disputed_amount": b.disputed_amount,
        "disputed_oldest_days": b.disputed_oldest_days,
        "details": {
            "label": s.label,
            "sales": [[m.month.isoformat(), m.days, str(m.sales)] for m in b.sales],
            "dso_countback_exhausted": b.dso_countback_exhausted,
            "average_days_delinquent": _text(b.average_days_delinquent),
            "invoices_settled": b.invoices_settled,
            "invoices_overdue": b.invoices_overdue,
            "disputed_count": b.disputed_count,
            "unapplied_credits": str(b.unapplied_credits),
            "notes": list(b.notes),
        },
        "computed_at": now,
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def take_snapshots(ledger: Ledger, day: date, options: BehaviourOptions, *, now: datetime) -> int:
    """Store the behaviour of every key of ``options.scopes`` on ``day`` (a rerun of the
    same date replaces its rows), then drop the rows of earlier dates that are not month
    ends (month ends and the latest date are kept). Returns the rows written."""
    rows: list[dict[str, Any]] = []
    scopes = tuple(s for s in SCOPES if s in options.scopes)
    with ledger.reading() as session, _no_gc():
        raw = _rollup(ledger, session, day, options, scopes)
        rates: Rates = {}
        for scope in scopes:
            grouped = {k: _converted(per, day, options, rates) for k, per in raw[scope].items()}
            if scope == "portfolio" and not grouped:
                grouped = {PORTFOLIO_KEY: _empty(options)}
            for scoped in _entries(session, scope, grouped, day, options):
                rows.append(_snapshot_row(scoped, options, now))
    with ledger.unit_of_work() as session:
        snapshots_repo.upsert_snapshots(session, rows)
        snapshots_repo.prune_snapshots(session, keep=day)
    return len(rows)


def _from_row(row: BehaviourSnapshotRow) -> ScopedBehaviour:
    d = row.details or {}
    sales = tuple(
        MonthSales(date.fromisoformat(m), int(days), Decimal(amount))
        for m, days, amount in d.get("sales", [])
    )
    behaviour = Behaviour(
        day=row.business_date,
        currency=row.currency,
        receivables=row.receivables,
        buckets=Buckets(
            row.current, row.days_1_30, row.days_31_60, row.days_61_90, row.days_over_90
        ),
        sales=sales,
        dso_countback=row.dso_countback,
        dso_countback_exhausted=bool(d.get("dso_countback_exhausted", True)),
        dso_simple=row.dso_simple,
        best_possible_dso=row.best_possible_dso,
        average_days_delinquent=_decimal(d.get("average_days_delinquent")),
        dbt_average=row.dbt_average,
        dbt_weighted=row.dbt_weighted,
        paid_on_time_share=row.paid_on_time_share,
        invoices_settled=int(d.get("invoices_settled", 0)),
        invoices_overdue=int(d.get("invoices_overdue", 0)),
        disputed_amount=row.disputed_amount,
        disputed_count=int(d.get("disputed_count", 0)),
        disputed_oldest_days=row.disputed_oldest_days,
        unapplied_credits=Decimal(str(d.get("unapplied_credits", "0"))),
        notes=tuple(d.get("notes", ())),
    )
    return ScopedBehaviour(row.scope, row.scope_key, str(d.get("label", row.scope_key)), behaviour)


def trend(ledger: Ledger, scope: str, key: str, *, months: int = 24) -> list[ScopedBehaviour]:
    """The stored snapshots of one scope (the portfolio's key is "all"; a buyer's its id
    as text; a policy's its key) over the last ``months`` months before its latest,
    oldest first."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
    with ledger.reading() as session:
        latest = snapshots_repo.latest_date(session, scope, key)
        if latest is None:
            return []
        since = add_months(latest, -months)
        rows = snapshots_repo.snapshot_rows(session, scope, key, since=since)
        return [_from_row(r) for r in rows if r.business_date > since]


# -- trading facts ----------------------------------------------------------------------


@dataclass(frozen=True)
class TradingFacts:
    """A buyer's trading record, the evidence of "satisfactory trading" a DCL accepts:
    its first invoice, the whole months since, the invoices settled by their due date in
    the last ``experience_months``, and the highest month-end receivables of its
    snapshots in the last 12 months (reporting currency; ``None`` without snapshots)."""

    first_invoice_on: date | None
    months_trading: int
    paid_within_terms: int
    highest_month_end_balance: Decimal | None


def trading_facts(
    ledger: Ledger,
    buyer_id: int,
    day: date,
    options: BehaviourOptions,
    *,
    experience_months: int = 12,
) -> TradingFacts:
    """The trading facts of ``buyer_id`` on ``day`` (three small queries)."""
    item, account = OpenItemRow, ErpAccountRow
    mine = (
        select(item.id)
        .join(account, account.id == item.erp_account_id)
        .where(account.buyer_id == buyer_id, item.kind == INVOICE, item.document_date <= day)
    )
    due = func.coalesce(item.due_date, item.document_date)
    since = add_months(day, -experience_months)
    with ledger.reading() as session:
        first: date | None = session.scalar(
            select(func.min(item.document_date)).where(item.id.in_(mine.scalar_subquery()))
        )
        paid = session.scalar(
            select(func.count()).where(
                item.id.in_(mine.scalar_subquery()),
                item.settled_on.is_not(None),
                item.settled_on > since,
                item.settled_on <= day,
                item.settled_on <= due,
            )
        )
        balances = snapshots_repo.month_end_receivables(
            session,
            "buyer",
            str(buyer_id),
            options.reporting_currency,
            after=add_months(day, -12),
            until=day,
        )
    return TradingFacts(
        first_invoice_on=first,
        months_trading=whole_months(first, day) if first is not None else 0,
        paid_within_terms=int(paid or 0),
        highest_month_end_balance=max((r for _, r in balances), default=None),
    )
