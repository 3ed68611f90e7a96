"""The whole book as the risk team reads it: exposure against cover per policy and
insurer, totals per currency, the largest uncovered buyers and the buyers over their limit.

Set-based: one SQL statement sums the open items per buyer and policy, joins the stored
limits in force (``limits_in_force``, kept by the sync and the date roll) and the cover
history, applies the exposure rule (covered = min(exposure, limit), the rest uncovered)
and answers the totals per policy, the top positions and the positions SQL cannot decide
exactly: items in another currency than the policy's (FX at each document's date), a
stored limit computed for another date or due to change, cover history without a stored
limit, a pending decision. Those are computed by the domain rules, buyer by buyer
(:func:`tci_gateway.services.buyer_views.buyer_positions`), and merged in. The figures
equal :func:`tci_gateway.services.exposure.exposure_report`'s (a test compares them).

The statement reads the whole book (about 1 s at 1M open items), so
:func:`cached_portfolio` keeps the last answer per ledger until the ledger changes (a
fingerprint of cheap maxima: imports, limit changes, cover versions, FX rates, buyers) or
ages out.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    func,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money
from tci_gateway.ledger.base import Amount
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    BuyerRow,
    CoverDecisionRow,
    FxRateRow,
    ImportRow,
    LimitChangeRow,
    PolicyRow,
)
from tci_gateway.services.buyer_views import Reader, buyer_positions
from tci_gateway.services.portfolio_sql import answer_sql, positions_sql

TOP = 10
"""The largest uncovered positions shown, per currency."""
OVER_TOP = 20
"""The positions furthest over their limit shown, per currency."""
EXACT_BATCH = 1000
MAX_AGE_SECONDS = 300.0
"""A cached answer is computed again after this long even if nothing seems changed."""


@dataclass
class PolicyFigures:
    """Exposure against cover under one policy (``policy`` ``None``: ERP accounts under no
    configured policy, per currency of their items: not insured)."""

    policy: str | None
    insurer: str | None
    currency: str
    positions: int = 0
    exposure: Decimal = Decimal(0)
    limit: Decimal = Decimal(0)
    covered: Decimal = Decimal(0)
    uncovered: Decimal = Decimal(0)
    over_limit: int = 0
    uncovered_buyers: int = 0
    pending: int = 0
    unconverted_items: int = 0
    unconverted_buyers: int = 0

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.currency)


@dataclass(frozen=True)
class BuyerFigure:
    """One buyer under one policy, for the top lists."""

    buyer_id: int
    name: str
    policy: str | None
    currency: str
    exposure: Decimal
    limit: Decimal | None
    covered: Decimal
    uncovered: Decimal

    @property
    def over(self) -> Decimal:
        """What is above a positive limit (0 when within it or without one)."""
        if not self.limit:
            return Decimal(0)
        return max(Decimal(0), self.exposure - self.limit)


@dataclass
class CurrencyTotals:
    currency: str
    exposure: Decimal = Decimal(0)
    limit: Decimal = Decimal(0)
    covered: Decimal = Decimal(0)
    uncovered: Decimal = Decimal(0)
    over_limit: int = 0
    uncovered_buyers: int = 0
    pending: int = 0
    unconverted_items: int = 0


@dataclass
class Portfolio:
    computed_at: datetime
    business_dates: dict[str, date]
    policies: list[PolicyFigures]
    totals: list[CurrencyTotals]
    top_uncovered: dict[str, list[BuyerFigure]]
    over_limit: dict[str, list[BuyerFigure]]
    exact_positions: int
    """Positions computed one by one by the domain rules (see the module doc)."""
    unconverted: list[BuyerFigure] = field(default_factory=list)
    """Positions with items left out for want of an FX rate (first few)."""

    @property
    def empty(self) -> bool:
        return not any(p.positions for p in self.policies)


def compute_portfolio(
    session: Session, reader: Reader, *, top: int = TOP, over_top: int = OVER_TOP
) -> Portfolio:
    """The portfolio on each policy's business date (see the module doc)."""
    rows = session.execute(select(PolicyRow.key, PolicyRow.id)).all()
    key_of = {pid: key for key, pid in rows}
    configured = {pid: reader.policies[key] for key, pid in rows if key in reader.policies}
    visible = {pid for pid, p in configured.items() if reader.may_see(p.key)}
    currency = {pid: p.terms.currency for pid, p in configured.items()}
    day = {pid: p.terms.business_date(reader.now) for pid, p in configured.items()}
    a = answer_sql(positions_sql(currency, day, visible), top, over_top)
    stmt = select(
        a.c.part,
        a.c.policy_id,
        a.c.currency,
        a.c.buyer_id,
        type_coerce(a.c.n, Integer),
        type_coerce(a.c.exposure, Amount),
        type_coerce(a.c.lim, Amount),
        type_coerce(a.c.covered, Amount),
        type_coerce(a.c.uncovered, Amount),
        a.c.over,
        a.c.bare,
    )
    figures: dict[tuple[int | None, str], PolicyFigures] = {}

    def of(pid: int | None, cur: str) -> PolicyFigures:
        found = figures.get((pid, cur))
        if found is None:
            policy = configured.get(pid) if pid is not None else None
            found = figures[(pid, cur)] = PolicyFigures(
                policy.key if policy else None, policy.insurer if policy else None, cur
            )
        return found

    tops: dict[str, list[tuple[int, int | None, str, Decimal, Decimal | None, Decimal, Decimal]]]
    tops = {"U": [], "O": []}
    special: set[tuple[int, int | None]] = set()
    for part, pid, cur, buyer_id, n, exposure, lim, cov, unc, over, bare in session.execute(stmt):
        if part == "T":
            f = of(pid, cur)
            f.positions += n
            f.exposure += exposure or 0
            f.limit += lim or 0
            f.covered += cov or 0
            f.uncovered += unc or 0
            f.over_limit += int(over or 0)
            f.uncovered_buyers += int(bare or 0)
        elif part == "S":
            special.add((buyer_id, pid))
        else:
            tops[part].append((buyer_id, pid, cur, exposure, lim, cov, unc))
    for pid in visible:  # every configured policy has a line, even with nothing yet
        of(pid, currency[pid])
    candidates = [
        (b, key_of.get(pid) if pid is not None else None, cur, e, lim, c, u)
        for part in ("U", "O")
        for b, pid, cur, e, lim, c, u in tops[part]
    ]
    exact, unconverted = _exact(session, reader, special, key_of, configured, of)
    candidates.extend(exact)
    names = _names(session, {c[0] for c in candidates})
    everyone = [
        BuyerFigure(b, names.get(b, "?"), policy, cur, e, lim, c, u)
        for b, policy, cur, e, lim, c, u in dict.fromkeys(candidates)
    ]
    top_uncovered: dict[str, list[BuyerFigure]] = defaultdict(list)
    over_limit: dict[str, list[BuyerFigure]] = defaultdict(list)
    for fig in sorted(everyone, key=lambda f: (-f.uncovered, f.buyer_id)):
        if fig.uncovered > 0 and len(top_uncovered[fig.currency]) < top:
            top_uncovered[fig.currency].append(fig)
    for fig in sorted(everyone, key=lambda f: (-f.over, f.buyer_id)):
        if fig.over > 0 and len(over_limit[fig.currency]) < over_top:
            over_limit[fig.currency].append(fig)
    policies = sorted(
        figures.values(), key=lambda f: (f.policy is None, f.policy or "", f.currency)
    )
    return Portfolio(
        computed_at=reader.now,
        business_dates={configured[pid].key: d for pid, d in day.items() if pid in visible},
        policies=policies,
        totals=_totals(policies),
        top_uncovered=dict(top_uncovered),
        over_limit=dict(over_limit),
        exact_positions=len(special),
        unconverted=[f for f in everyone if (f.buyer_id, f.policy) in unconverted][:top],
    )


Candidate = tuple[int, str | None, str, Decimal, Decimal | None, Decimal, Decimal]


def _exact(
    session: Session,
    reader: Reader,
    special: set[tuple[int, int | None]],
    key_of: dict[int, str],
    configured: dict[int, Any],
    of: Any,
) -> tuple[list[Candidate], set[tuple[int, str | None]]]:
    """The positions SQL left to the domain rules, added to the figures; their
    candidates for the top lists, and those with items left unconverted."""
    wanted = {(b, key_of.get(pid) if pid is not None else None) for b, pid in special}
    pid_of = {p.key: pid for pid, p in configured.items()}
    buyers = sorted({b for b, _ in special})
    found: list[Candidate] = []
    unconverted: set[tuple[int, str | None]] = set()
    for start in range(0, len(buyers), EXACT_BATCH):
        chunk = buyers[start : start + EXACT_BATCH]
        for buyer_id, positions in buyer_positions(session, reader, chunk).items():
            for pos in positions:
                if (buyer_id, pos.policy) not in wanted:
                    continue  # counted by SQL already
                e = pos.exposure
                insured = pos.policy in pid_of
                f = of(pid_of[pos.policy] if insured else None, e.currency)
                f.positions += 1
                f.exposure += e.exposure.amount
                f.limit += e.limit.amount if e.limit is not None else 0
                f.covered += e.covered.amount
                f.uncovered += e.uncovered.amount
                f.over_limit += AlertKind.OVER_LIMIT in e.alerts
                f.uncovered_buyers += AlertKind.UNCOVERED in e.alerts
                f.pending += AlertKind.COVER_PENDING in e.alerts
                f.unconverted_items += len(e.unconverted)
                f.unconverted_buyers += bool(e.unconverted)
                label = pos.policy if insured else None
                if e.unconverted:
                    unconverted.add((buyer_id, label))
                found.append(
                    (
                        buyer_id,
                        label,
                        e.currency,
                        e.exposure.amount,
                        e.limit.amount if e.limit is not None else None,
                        e.covered.amount,
                        e.uncovered.amount,
                    )
                )
    return found, unconverted


def _names(session: Session, buyer_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(buyer_ids)
    names: dict[int, str] = {}
    for start in range(0, len(ids), EXACT_BATCH):
        chunk = ids[start : start + EXACT_BATCH]
        for buyer_id, name in session.execute(
            select(BuyerRow.id, BuyerRow.name).where(BuyerRow.id.in_(chunk))
        ):
            names[buyer_id] = name
    return names


def _totals(policies: list[PolicyFigures]) -> list[CurrencyTotals]:
    """Sums per currency (never across currencies)."""
    totals: dict[str, CurrencyTotals] = {}
    for f in policies:
        t = totals.setdefault(f.currency, CurrencyTotals(f.currency))
        t.exposure += f.exposure
        t.limit += f.limit
        t.covered += f.covered
        t.uncovered += f.uncovered
        t.over_limit += f.over_limit
        t.uncovered_buyers += f.uncovered_buyers
        t.pending += f.pending
        t.unconverted_items += f.unconverted_items
    return [totals[c] for c in sorted(totals)]


def fingerprint(session: Session) -> tuple[Any, ...]:
    """Cheap maxima that change when the figures may: an import (open items, buyers,
    FX rates), a stored limit's change, a cover version, an FX rate, a merge (buyers)."""
    row = session.execute(
        select(
            select(func.max(ImportRow.id)).scalar_subquery(),
            select(func.max(LimitChangeRow.id)).scalar_subquery(),
            select(func.max(CoverDecisionRow.id)).scalar_subquery(),
            select(func.max(FxRateRow.id)).scalar_subquery(),
            select(func.count()).select_from(BuyerRow).scalar_subquery(),
        )
    ).one()
    return tuple(row)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: tuple[Any, ...] | None = None
    at: float = 0.0
    value: Portfolio | None = None


_SLOTS: weakref.WeakKeyDictionary[Ledger, _Slot] = weakref.WeakKeyDictionary()
_SLOTS_LOCK = threading.Lock()


def cached_portfolio(
    ledger: Ledger, reader: Reader, *, max_age: float = MAX_AGE_SECONDS
) -> Portfolio:
    """:func:`compute_portfolio`, answered from the last computation while the ledger's
    :func:`fingerprint`, the business dates and the reader's policies are the same and it
    is younger than ``max_age`` seconds. One computation at a time per ledger."""
    with _SLOTS_LOCK:
        slot = _SLOTS.setdefault(ledger, _Slot())
    days = tuple(sorted((k, p.terms.business_date(reader.now)) for k, p in reader.policies.items()))
    scope = (days, reader.allowed)

    def fresh(key: tuple[Any, ...]) -> Portfolio | None:
        if slot.value is not None and slot.key == key and time.monotonic() - slot.at < max_age:
            return slot.value
        return None

    with ledger.reading() as session:
        key = (fingerprint(session), scope)
    hit = fresh(key)
    if hit is not None:
        return hit
    with slot.lock:
        hit = fresh(key)  # another request computed it meanwhile
        if hit is not None:
            return hit
        with ledger.reading() as session:
            key = (fingerprint(session), scope)
            value = compute_portfolio(session, reader)
        slot.key, slot.at, slot.value = key, time.monotonic(), value
        return value
