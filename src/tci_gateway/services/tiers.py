"""Tiers by rule, evaluated nightly, and tiers pinned by a risk manager (docs/credit.md,
"Tiers").

:func:`evaluate_tiers` gathers every buyer's facts in a few set-based statements
(:mod:`tci_gateway.ledger.tiers`) plus ONE call of
:func:`~tci_gateway.services.behaviour.buyer_dbt` for the weighted days beyond terms,
applies the pure rules (:func:`tci_gateway.domain.tiers.decide_tier`) and records each
change: a ``tier_changes`` row, the buyer's new tier and a ``tier_changed`` alert.
Idempotent per business date: a rerun finds every tier as the rules want it and records
nothing. Pinned buyers are left alone. A buyer whose last review (its latest decided
credit application or tier change; never reviewed: the day the ledger first saw it) is
older than its tier's ``review_months`` raises ``credit_review_due`` once a month.

A buyer without a tier counts as ``default_tier``: the rules giving it that tier is no
change (nothing is written for it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money
from tci_gateway.domain.tiers import TierInputs, TierRules, add_months, decide_tier, review_due
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import tiers as repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import add_alert, add_alerts, alert_values
from tci_gateway.ledger.tiers import TierChange
from tci_gateway.services.behaviour import BehaviourOptions, buyer_dbt

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class TierOptions:
    """What the tier rules need (built by the wiring from ``[credit]``): the rules, how
    behaviour is measured (reporting currency, converter, default tier), the insurer
    window in months, each tier's review frequency and every tier a person may pin."""

    rules: TierRules
    behaviour: BehaviourOptions = field(default_factory=BehaviourOptions)
    insurer_months: int = 6
    review_months: Mapping[str, int] = field(default_factory=dict)
    known_tiers: frozenset[str] = frozenset()


@dataclass
class TierReport:
    """One evaluation: buyers evaluated (pinned ones are not), the changes recorded, how
    many are pinned and due for review, the alerts newly raised, the tiers after it
    (``counts``), what the figures could not include (``notes``) and ``errors``."""

    business_date: date
    evaluated: int = 0
    changed: list[TierChange] = field(default_factory=list)
    pinned: int = 0
    review_due: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alerts: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class TierStatus:
    """A buyer's tier now (``None``: never set, the default tier applies), whether it is
    pinned, and its changes newest first."""

    buyer_id: int
    buyer: str
    tier: str | None
    pinned: bool
    history: list[TierChange]


def _bad(column: str, reason: str) -> InputError:
    return InputError([RecordError("command line", None, column, reason)])


def _purchases(
    rows: list[tuple[int, str, Decimal]], day: date, options: BehaviourOptions
) -> tuple[dict[int, Decimal], dict[int, list[str]], Counter[str]]:
    """Per buyer, the invoiced amounts converted to the reporting currency; the currencies
    left out per buyer (no rate) and how many buyers each left out. Left out means the
    purchases are understated: a buyer may then miss strategic, the conservative side."""
    totals: dict[int, Decimal] = {}
    left_out: dict[int, list[str]] = {}
    gaps: Counter[str] = Counter()
    currency = options.reporting_currency
    for buyer_id, item_currency, amount in rows:
        money = Money(amount, item_currency)
        converted = money if item_currency == currency else options.convert(money, currency, day)
        if converted is None:
            left_out.setdefault(buyer_id, []).append(item_currency)
            gaps[item_currency] += 1
            continue
        totals[buyer_id] = totals.get(buyer_id, ZERO) + converted.amount
    # Whole cents, rounded down: a converted total never crosses the threshold by a
    # fraction of a cent the invoices do not hold.
    return {k: v.quantize(CENT, ROUND_DOWN) for k, v in totals.items()}, left_out, gaps


def _ratings(
    rows: list[tuple[int, str, int, Decimal]],
) -> dict[int, tuple[tuple[str, Decimal, Decimal], ...]]:
    pairs: dict[tuple[int, str], dict[int, Decimal]] = {}
    for buyer_id, provider, rank, score in rows:
        pairs.setdefault((buyer_id, provider), {})[rank] = score
    found: dict[int, list[tuple[str, Decimal, Decimal]]] = {}
    for (buyer_id, provider), ranks in sorted(pairs.items()):
        if 1 in ranks and 2 in ranks:
            found.setdefault(buyer_id, []).append((provider, ranks[2], ranks[1]))
    return {k: tuple(v) for k, v in found.items()}


def evaluate_tiers(ledger: Ledger, day: date, options: TierOptions, *, now: datetime) -> TierReport:
    """Apply the tier rules to every buyer not pinned on business date ``day`` and record
    each change; raise review-due alerts (module doc)."""
    report = TierReport(business_date=day)
    # Only the weighted days beyond terms are kept (the full figures of 100k buyers are
    # freed at once: the peak memory of the nightly run).
    dbt = buyer_dbt(ledger, day, options.behaviour)
    with ledger.reading() as session:
        states = repo.buyer_states(session)
        bought = repo.purchases(session, add_months(day, -12), day)
        scores = repo.latest_scores(session, day)
        reductions = repo.insurer_reductions(session, add_months(day, -options.insurer_months), day)
        reviews = repo.last_reviews(session, day)
    totals, left_out, gaps = _purchases(bought, day, options.behaviour)
    for item_currency, count in sorted(gaps.items()):
        report.notes.append(
            f"no {options.behaviour.reporting_currency} rate for {item_currency} on {day}: "
            f"the {item_currency} purchases of {count} buyer(s) were left out"
        )
    ratings = _ratings(scores)
    against: dict[int, list[str]] = {}
    for reduction in reductions:
        against.setdefault(reduction.buyer_id, []).append(reduction.describe())
    default = options.behaviour.default_tier
    changes: list[TierChange] = []
    final: dict[int, str] = {}
    for state in states:
        current = state.tier or default
        final[state.id] = current
        if state.pinned:
            report.pinned += 1
            continue
        report.evaluated += 1
        purchases = totals.get(state.id)
        if purchases is None and state.id not in left_out:
            purchases = ZERO
        verdict = decide_tier(
            TierInputs(
                purchases_12m=purchases,
                dbt_weighted=dbt.get(state.id),
                rating_drops=ratings.get(state.id, ()),
                insurer_reductions=tuple(against.get(state.id, ())),
            ),
            options.rules,
        )
        if verdict.tier == current:
            continue
        details: dict[str, Any] = dict(verdict.details)
        if state.id in left_out:
            details["purchases_left_out"] = sorted(left_out[state.id])
        changes.append(
            TierChange(
                buyer_id=state.id,
                buyer=state.name,
                old=state.tier,
                new=verdict.tier,
                reason=verdict.reason,
                details=details,
                source="rules",
                date=day,
                at=now,
            )
        )
        final[state.id] = verdict.tier
    changed_ids = {c.buyer_id for c in changes}
    due_alerts = _review_alerts(states, final, reviews, changed_ids, day, options, report, now)
    if not changes and not due_alerts:
        report.counts = dict(Counter(final.values()))
        return report
    with ledger.unit_of_work() as session:
        # A person may have pinned a buyer, or another run changed it, since the read:
        # only changes from the tier read, on buyers still not pinned, are recorded.
        current_rows = repo.lock_buyers(session, changed_ids)
        kept = [c for c in changes if current_rows.get(c.buyer_id) == (c.old, False)]
        repo.record_changes(session, kept, pinned=None, now=now)
        rows = [
            alert_values(
                kind=AlertKind.TIER_CHANGED,
                message=f"{c.buyer}: tier {c.old or default} -> {c.new}: {c.reason}",
                business_date=day,
                dedupe_key=f"tier_changed:{c.buyer_id}:{day}:{c.old}>{c.new}",
                now=now,
                buyer_id=c.buyer_id,
                details={"old": c.old, "new": c.new, "source": c.source, **c.details},
            )
            for c in kept
        ]
        report.alerts = add_alerts(session, rows + due_alerts)
    report.changed = kept
    recorded = {c.buyer_id for c in kept}
    for buyer_id in changed_ids - recorded:  # left as found under the lock
        final[buyer_id] = current_rows.get(buyer_id, (None, False))[0] or default
    report.counts = dict(Counter(final.values()))
    return report


def _review_alerts(
    states: list[repo.BuyerState],
    final: Mapping[int, str],
    reviews: Mapping[int, date],
    changed: Collection[int],
    day: date,
    options: TierOptions,
    report: TierReport,
    now: datetime,
) -> list[dict[str, Any]]:
    """``credit_review_due`` alerts (one per buyer and month) for the buyers whose last
    review is older than their tier's frequency; a tier without one is an error. No
    frequencies at all (``review_months`` empty): reviews are not checked."""
    rows: list[dict[str, Any]] = []
    if not options.review_months:
        return rows
    unknown: Counter[str] = Counter()
    for state in states:
        tier = final[state.id]
        months = options.review_months.get(tier)
        if months is None:
            unknown[tier] += 1
            continue
        last = day if state.id in changed else reviews.get(state.id)
        since = last or state.created_on
        if not review_due(since, months, day):
            continue
        report.review_due += 1
        seen = f"last reviewed {last}" if last else f"never reviewed (first seen {since})"
        rows.append(
            alert_values(
                kind=AlertKind.CREDIT_REVIEW_DUE,
                message=f"{state.name}: credit review due ({tier}: every {months} months; {seen})",
                business_date=day,
                dedupe_key=f"credit_review_due:{state.id}:{day:%Y-%m}",
                now=now,
                buyer_id=state.id,
                details={
                    "tier": tier,
                    "review_months": months,
                    "last_review": last.isoformat() if last else None,
                    "first_seen": state.created_on.isoformat(),
                },
            )
        )
    for tier, count in sorted(unknown.items()):
        report.errors.append(
            f"{count} buyer(s) of tier {tier!r}: no review frequency "
            f"([credit.tier_rules.{tier}] review_months)"
        )
    return rows


def _buyer(session: Any, buyer: str) -> tuple[int, str]:
    found = repo.find_buyer(session, buyer)
    if found is None:
        raise _bad("buyer", f"no ERP account or buyer id {buyer!r} in the ledger")
    return found


def check_tier(tier: str, known_tiers: Collection[str]) -> str:
    """``tier`` (lower case) when it is one of ``known_tiers``, else one clear error
    naming them."""
    name = tier.strip().lower()
    if name not in known_tiers:
        known = ", ".join(sorted(known_tiers)) or "none"
        raise _bad("tier", f"unknown tier {tier!r}: the known tiers are {known}")
    return name


def pin_tier(
    ledger: Ledger,
    buyer: str,
    tier: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    known_tiers: Collection[str],
) -> TierChange:
    """Pin ``buyer`` (an ERP account or buyer id) to ``tier``: the nightly rules leave it
    alone until :func:`unpin_tier`. Recorded as a ``pin`` change with the person and the
    reason; a ``tier_changed`` alert when the tier differs. Pinning again to the same tier
    changes nothing and returns the pin in force."""
    name = check_tier(tier, known_tiers)
    if not reason.strip():
        raise _bad("reason", "a reason is required to pin a tier")
    with ledger.unit_of_work() as session:
        buyer_id, buyer_name = _buyer(session, buyer)
        old, pinned = repo.lock_buyers(session, [buyer_id])[buyer_id]
        if pinned and old == name:
            for change in repo.history(session, buyer_id):
                if change.source == "pin":
                    return change
        change = TierChange(
            buyer_id=buyer_id,
            buyer=buyer_name,
            old=old,
            new=name,
            reason=reason.strip(),
            details={"pinned": True},
            source="pin",
            by=by,
            date=now.date(),
            at=now,
        )
        repo.record_changes(session, [change], pinned=True, now=now)
        if old != name:
            add_alert(
                session,
                kind=AlertKind.TIER_CHANGED,
                message=f"{buyer_name}: tier {old or '-'} -> {name} (pinned by {by}: "
                f"{change.reason})",
                business_date=now.date(),
                dedupe_key=f"tier_changed:{buyer_id}:pin:{now.isoformat()}",
                now=now,
                buyer_id=buyer_id,
                details={"old": old, "new": name, "source": "pin", "by": by},
            )
    return change


def unpin_tier(ledger: Ledger, buyer: str, *, by: str, now: datetime) -> TierChange | None:
    """Unpin ``buyer``: its tier stays until the next evaluation applies the rules.
    ``None`` when it was not pinned (nothing written)."""
    with ledger.unit_of_work() as session:
        buyer_id, buyer_name = _buyer(session, buyer)
        tier, pinned = repo.lock_buyers(session, [buyer_id])[buyer_id]
        if not pinned:
            return None
        change = TierChange(
            buyer_id=buyer_id,
            buyer=buyer_name,
            old=tier,
            new=tier or "",
            reason="unpinned: the tier rules apply again from the next evaluation",
            details={"pinned": False},
            source="unpin",
            by=by,
            date=now.date(),
            at=now,
        )
        repo.record_changes(session, [change], pinned=False, now=now)
    return change


def tier_history(ledger: Ledger, buyer_id: int) -> list[TierChange]:
    """A buyer's tier changes, newest first."""
    with ledger.reading() as session:
        return repo.history(session, buyer_id)


def tier_status(ledger: Ledger, buyer: str) -> TierStatus:
    """A buyer's tier, whether pinned, and its history (an ERP account or buyer id)."""
    with ledger.reading() as session:
        buyer_id, name = _buyer(session, buyer)
        state = repo.buyer_state(session, buyer_id)
        return TierStatus(buyer_id, name, state[0], state[1], repo.history(session, buyer_id))


__all__ = [
    "TierChange",
    "TierOptions",
    "TierReport",
    "TierStatus",
    "check_tier",
    "evaluate_tiers",
    "pin_tier",
    "tier_history",
    "tier_status",
    "unpin_tier",
]
