"""The evidence a credit application is screened on: each configured bureau's assessment
(asked live where the buyer's id at that bureau is known, the stored one when the call
fails, named as missing otherwise), the scorecard's inputs, and the JSON kept with the
application so a person sees exactly what the engine saw."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tci_gateway.adapters.contract import Assessment, BureauAdapter
from tci_gateway.domain.credit import Behaviour, Scorecard, Screen
from tci_gateway.domain.money import Money
from tci_gateway.errors import AdapterError
from tci_gateway.ledger.credit import StoredAssessment

BEHAVIOUR_INPUTS = (
    "receivables",
    "dso_countback",
    "dso_simple",
    "best_possible_dso",
    "average_days_delinquent",
    "dbt_average",
    "dbt_weighted",
    "paid_on_time_share",
)


class Clock:
    """Time stamps for the steps: the caller's ``now`` plus the time elapsed since, so a
    timeline under ``--as-of`` still shows how long each step took."""

    def __init__(self, now: datetime) -> None:
        self.now, self._start = now, time.monotonic()

    def at(self) -> datetime:
        return self.now + timedelta(seconds=time.monotonic() - self._start)


@dataclass
class Step:
    """A step to record as an event row: its name, when it started, what it found."""

    step: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class BureauAnswer:
    """One bureau's part of the evidence. ``fresh`` is a live answer to store."""

    bureau: str
    source: str  # "live" | "stored" | "missing"
    assessment: Assessment | None
    note: str
    at: datetime
    duration_ms: int
    fresh: bool = False


def from_stored(row: StoredAssessment) -> Assessment:
    limit = (
        Money(row.recommended_limit, row.limit_currency)
        if row.recommended_limit is not None and row.limit_currency
        else None
    )
    return Assessment(
        provider=row.provider,
        provider_id=row.provider_id,
        provider_reference=row.provider_reference,
        scale=row.scale,
        score_raw=row.score_raw,
        band=row.band,
        failure_score=row.failure_score,
        paydex=row.paydex,
        recommended_limit=limit,
        as_of=row.as_of,
    )


def _ask(
    name: str,
    bureau: BureauAdapter,
    provider_id: str | None,
    stored: StoredAssessment | None,
    clock: Clock,
) -> BureauAnswer:
    at, started = clock.at(), time.monotonic()

    def done(
        source: str, assessment: Assessment | None, note: str, fresh: bool = False
    ) -> BureauAnswer:
        ms = int((time.monotonic() - started) * 1000)
        return BureauAnswer(name, source, assessment, note, at, ms, fresh)

    fallback = from_stored(stored) if stored is not None else None
    since = f"the stored assessment of {stored.as_of or 'an unknown date'}" if stored else ""
    if not bureau.capabilities.assessment:
        if fallback is not None:
            return done("stored", fallback, f"{name} gives no assessment by API: {since} is used")
        return done("missing", None, f"{name} gives no assessment by API")
    if provider_id is None:
        return done(
            "missing",
            None,
            f"no {name} company id is known for the buyer (link it with `tci buyers resolve`)",
        )
    try:
        answer = bureau.assess(provider_id)
    except AdapterError as exc:
        if fallback is not None:
            return done("stored", fallback, f"live call failed ({exc}): {since} is used")
        return done("missing", None, f"live call failed ({exc}) and nothing is stored")
    if answer is None:
        if fallback is not None:
            return done("stored", fallback, f"{name} does not know {provider_id}: {since} is used")
        return done("missing", None, f"{name} does not know {provider_id}")
    return done("live", answer, f"asked {name} for {provider_id}", fresh=True)


def ask_bureaus(
    bureaus: Mapping[str, BureauAdapter],
    provider_ids: Mapping[str, str | None],
    stored: Mapping[str, StoredAssessment],
    clock: Clock,
) -> list[BureauAnswer]:
    """Every configured bureau at once (one thread each: the slowest call sets the
    time, not their sum)."""
    names = sorted(bureaus)
    if not names:
        return []
    if len(names) == 1:
        n = names[0]
        return [_ask(n, bureaus[n], provider_ids.get(n), stored.get(n), clock)]
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="credit-bureau") as pool:
        futures = [
            pool.submit(_ask, n, bureaus[n], provider_ids.get(n), stored.get(n), clock)
            for n in names
        ]
        return [f.result() for f in futures]


def number(text: str | int | None) -> Decimal | None:
    """A bureau figure as a number, or None when it is not one ("Not Rated")."""
    if text is None:
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def score_inputs(
    answers: list[BureauAnswer],
    behaviour: Behaviour | None,
    months_trading: int | None,
    paid_within_terms: int | None,
) -> dict[str, Decimal | None]:
    """The scorecard's inputs by name (``bureau.<name>.score``, ``.failure_score``,
    ``.paydex``, ``.recommended_limit``; ``behaviour.<figure>``; ``trading.months``,
    ``trading.paid_within_terms``). A figure not known is None (a missing factor)."""
    inputs: dict[str, Decimal | None] = {}
    for a in answers:
        x = a.assessment
        prefix = f"bureau.{a.bureau}."
        inputs[prefix + "score"] = number(x.score_raw) if x else None
        inputs[prefix + "failure_score"] = number(x.failure_score) if x else None
        inputs[prefix + "paydex"] = number(x.paydex) if x else None
        limit = x.recommended_limit if x else None
        inputs[prefix + "recommended_limit"] = limit.amount if limit else None
    for name in BEHAVIOUR_INPUTS:
        value = getattr(behaviour, name, None) if behaviour is not None else None
        inputs[f"behaviour.{name}"] = value
    inputs["trading.months"] = Decimal(months_trading) if months_trading is not None else None
    inputs["trading.paid_within_terms"] = (
        Decimal(paid_within_terms) if paid_within_terms is not None else None
    )
    return inputs


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def bureau_json(answer: BureauAnswer) -> dict[str, Any]:
    a = answer.assessment
    found: dict[str, Any] = {"source": answer.source, "note": answer.note}
    found["duration_ms"] = answer.duration_ms
    if a is not None:
        limit = a.recommended_limit
        found |= {
            "provider_id": a.provider_id,
            "scale": a.scale,
            "score": a.score_raw,
            "band": a.band,
            "failure_score": a.failure_score,
            "paydex": a.paydex,
            "recommended_limit": decimal_text(limit.amount) if limit else None,
            "limit_currency": limit.currency if limit else None,
            "as_of": a.as_of.isoformat() if a.as_of else None,
        }
    return found


def behaviour_json(behaviour: Behaviour | None) -> dict[str, Any] | None:
    if behaviour is None:
        return None
    b = behaviour.buckets
    return {
        "day": behaviour.day.isoformat(),
        "currency": behaviour.currency,
        **{name: decimal_text(getattr(behaviour, name)) for name in BEHAVIOUR_INPUTS},
        "dso_countback_exhausted": behaviour.dso_countback_exhausted,
        "invoices_settled": behaviour.invoices_settled,
        "invoices_overdue": behaviour.invoices_overdue,
        "buckets": {
            "current": decimal_text(b.current),
            "days_1_30": decimal_text(b.days_1_30),
            "days_31_60": decimal_text(b.days_31_60),
            "days_61_90": decimal_text(b.days_61_90),
            "days_over_90": decimal_text(b.days_over_90),
        },
        "disputed_amount": decimal_text(behaviour.disputed_amount),
        "disputed_count": behaviour.disputed_count,
        "notes": list(behaviour.notes),
    }


def scorecard_json(card: Scorecard) -> dict[str, Any]:
    return {
        "score": decimal_text(card.score),
        "threshold": decimal_text(card.threshold),
        "passed": card.passed,
        "missing": list(card.missing),
        "missing_required": list(card.missing_required),
        "factors": [
            {
                "name": f.name,
                "input": f.input,
                "weight": decimal_text(f.weight),
                "value": decimal_text(f.value),
                "points": decimal_text(f.points),
                "contribution": decimal_text(f.contribution),
                "required": f.required,
                "missing": f.missing,
            }
            for f in card.factors
        ],
    }


def conditions_json(found: Screen) -> list[dict[str, Any]]:
    return [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in found.conditions]


def screen_json(found: Screen) -> dict[str, Any]:
    return {
        "route": found.route.value,
        "granted": decimal_text(found.granted),
        "provisional": decimal_text(found.provisional),
        "reason": found.reason,
    }


def day_text(day: date | None) -> str | None:
    return day.isoformat() if day else None
