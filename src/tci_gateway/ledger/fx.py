"""FX reference rates in the ledger (``fx_rates``): 1 ``base`` = ``rate`` ``quote`` on a
date, one row per (date, base, quote)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from tci_gateway.ledger.tables import FxRateRow


@dataclass(frozen=True, slots=True)
class StoredRate:
    """One stored reference rate: 1 ``base`` = ``rate`` ``quote`` on ``rate_date``."""

    rate_date: date
    base: str
    quote: str
    rate: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class NewRate:
    """A rate to write."""

    rate_date: date
    quote: str
    rate: Decimal


def rates_on_dates(
    session: Session, base: str, dates: Collection[date]
) -> dict[tuple[date, str], tuple[int, Decimal]]:
    """The stored rates of ``base`` on ``dates``: ``(date, quote) -> (row id, rate)``."""
    if not dates:
        return {}
    stmt = select(FxRateRow.id, FxRateRow.rate_date, FxRateRow.quote, FxRateRow.rate).where(
        FxRateRow.base == base, FxRateRow.rate_date.in_(dates)
    )
    return {(d, q): (i, r) for i, d, q, r in session.execute(stmt)}


def upsert_rates(
    session: Session, base: str, rates: list[NewRate], *, source: str, now: datetime
) -> tuple[int, int, int]:
    """Insert new rates, update changed ones, leave equal ones untouched.
    Returns ``(inserted, updated, unchanged)``."""
    existing = rates_on_dates(session, base, {r.rate_date for r in rates})
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for r in rates:
        found = existing.get((r.rate_date, r.quote))
        if found is None:
            inserts.append(
                {
                    "rate_date": r.rate_date,
                    "base": base,
                    "quote": r.quote,
                    "rate": r.rate,
                    "source": source,
                    "imported_at": now,
                }
            )
        elif found[1] != r.rate:
            updates.append({"id": found[0], "rate": r.rate, "source": source, "imported_at": now})
    if inserts:
        session.execute(insert(FxRateRow), inserts)
    if updates:
        session.execute(update(FxRateRow), updates)
    return len(inserts), len(updates), len(rates) - len(inserts) - len(updates)


def iter_rates(
    session: Session, base: str = "EUR", *, since: date | None = None
) -> Iterator[tuple[str, date, Decimal]]:
    """Every rate of ``base`` as ``(quote, date, rate)``, by quote then date."""
    stmt = select(FxRateRow.quote, FxRateRow.rate_date, FxRateRow.rate).where(
        FxRateRow.base == base
    )
    if since is not None:
        stmt = stmt.where(FxRateRow.rate_date >= since)
    stmt = stmt.order_by(FxRateRow.quote, FxRateRow.rate_date).execution_options(yield_per=5000)
    yield from ((quote, day, rate) for quote, day, rate in session.execute(stmt))


def rates_in_force(
    session: Session,
    on: date,
    *,
    base: str = "EUR",
    quote: str | None = None,
    max_age_days: int | None = None,
) -> list[StoredRate]:
    """Per quote currency, the latest rate on or before ``on`` (no older than
    ``max_age_days`` when given), by quote."""
    latest = (
        select(FxRateRow.quote, func.max(FxRateRow.rate_date).label("rate_date"))
        .where(FxRateRow.base == base, FxRateRow.rate_date <= on)
        .group_by(FxRateRow.quote)
    )
    if quote is not None:
        latest = latest.where(FxRateRow.quote == quote)
    if max_age_days is not None:
        latest = latest.where(FxRateRow.rate_date >= on - timedelta(days=max_age_days))
    sub = latest.subquery()
    stmt = (
        select(FxRateRow)
        .join(sub, (FxRateRow.quote == sub.c.quote) & (FxRateRow.rate_date == sub.c.rate_date))
        .where(FxRateRow.base == base)
        .order_by(FxRateRow.quote)
    )
    return [
        StoredRate(row.rate_date, row.base, row.quote, row.rate, row.source)
        for row in session.scalars(stmt)
    ]
