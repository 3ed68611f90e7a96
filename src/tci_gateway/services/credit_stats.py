"""Time from application to decision, per tier and route (the guidance's 72 h -> 8 h),
measured from the applications' event rows: from ``received`` to the first deciding
step (``granted_dcl``, ``insurer_decided``, or a person's ``grant``/``refuse``; a person
sending it to the insurer is not a decision). Hours are rounded up to the hundredth
(conservative: a time to decision is never shown shorter than it was); percentiles are
nearest-rank (an observed time, never an interpolation)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_UP, Decimal

from sqlalchemy import select

from tci_gateway.ledger.credit_tables import CreditApplicationEventRow, CreditApplicationRow
from tci_gateway.ledger.engine import Ledger

HUNDREDTH = Decimal("0.01")
DECIDING = frozenset({"granted_dcl", "insurer_decided"})


@dataclass(frozen=True)
class StatsRow:
    tier: str
    route: str
    count: int
    decided: int
    pending: int
    p50_hours: Decimal | None
    p90_hours: Decimal | None
    mean_hours: Decimal | None


@dataclass(frozen=True)
class CreditStats:
    since: date | None
    rows: list[StatsRow] = field(default_factory=list)
    total: StatsRow | None = None


def hours(seconds: float) -> Decimal:
    return (Decimal(str(max(0.0, seconds))) / 3600).quantize(HUNDREDTH, rounding=ROUND_UP)


def nearest_rank(values: list[Decimal], share: Decimal) -> Decimal | None:
    """The nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(share * len(values)))
    return values[rank - 1]


def _row(tier: str, route: str, count: int, times: list[Decimal]) -> StatsRow:
    times = sorted(times)
    mean = (sum(times, Decimal(0)) / len(times)).quantize(HUNDREDTH, ROUND_UP) if times else None
    return StatsRow(
        tier,
        route,
        count,
        len(times),
        count - len(times),
        nearest_rank(times, Decimal("0.5")),
        nearest_rank(times, Decimal("0.9")),
        mean,
    )


def _is_decision(step: str, detail: dict[str, object]) -> bool:
    if step in DECIDING:
        return True
    return step == "person_decided" and detail.get("decision") in ("grant", "refuse")


def credit_stats(ledger: Ledger, *, since: date | None = None) -> CreditStats:
    """Per (tier, route) of the applications received since ``since`` (all when None):
    how many, decided, pending, and the hours to decision (p50, p90, mean). Route
    ``-`` holds applications not yet routed."""
    start = datetime.combine(since, time(0), tzinfo=UTC) if since else None
    with ledger.unit_of_work() as session:
        apps = select(
            CreditApplicationRow.id, CreditApplicationRow.tier, CreditApplicationRow.route
        )
        if start is not None:
            apps = apps.where(CreditApplicationRow.received_at >= start)
        groups = {
            i: (tier, route.value if route else "-") for i, tier, route in session.execute(apps)
        }
        events = select(
            CreditApplicationEventRow.application_id,
            CreditApplicationEventRow.step,
            CreditApplicationEventRow.at,
            CreditApplicationEventRow.detail,
        ).order_by(CreditApplicationEventRow.id)
        if start is not None:
            events = events.join(
                CreditApplicationRow,
                CreditApplicationRow.id == CreditApplicationEventRow.application_id,
            ).where(CreditApplicationRow.received_at >= start)
        received: dict[int, datetime] = {}
        decided: dict[int, datetime] = {}
        for app_id, step, at, detail in session.execute(events):
            if step == "received":
                received.setdefault(app_id, at)
            elif app_id not in decided and _is_decision(step, detail or {}):
                decided[app_id] = at
    counts: dict[tuple[str, str], int] = defaultdict(int)
    times: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for app_id, key in groups.items():
        counts[key] += 1
        if app_id in decided and app_id in received:
            times[key].append(hours((decided[app_id] - received[app_id]).total_seconds()))
    rows = [
        _row(tier, route, counts[(tier, route)], times[(tier, route)])
        for tier, route in sorted(counts)
    ]
    every = [t for ts in times.values() for t in ts]
    total = _row("all", "all", sum(counts.values()), every) if counts else None
    return CreditStats(since, rows, total)
