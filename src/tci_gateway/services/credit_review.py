"""The nightly credit review of one business date (docs/credit.md, "The nightly review").

In order:

1. tiers: the tier rules over every buyer (:func:`~tci_gateway.services.tiers.evaluate_tiers`);
2. behaviour snapshots of the date (:func:`~tci_gateway.services.behaviour.take_snapshots`);
3. progressive plans: each live plan's next step
   (:func:`~tci_gateway.services.progressive.evaluate_plans`), a step up being a credit
   application of its own;
4. over the credit line: exposure per buyer and policy against its credit line (the
   insurer's limit in force, or the DCL line, plus internal and provisional lines): an
   ``over_credit_line`` alert naming both figures, once per buyer, policy and date;
5. the insurer's decisions on applications sent to it
   (:func:`~tci_gateway.services.credit_apply.follow_insurer`).

Idempotent per business date: the ``credit_runs`` row of the date is written when every
step succeeded, and a rerun of a finished date does nothing (and says so). Each step is
idempotent by itself, so a run that crashed midway, or had a failing step, is simply
run again: tier changes and alerts are deduplicated per date, snapshots are upserts, a
plan is evaluated once per date and never files a second application for a step.
One failing step does not stop the next ones; the run is then not recorded (not ok).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.credit import CreditLine
from tci_gateway.domain.credit_line import credit_line, over_line
from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.credit_tables import CreditRunRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.runs import add_alert
from tci_gateway.logs import get_logger
from tci_gateway.services.behaviour import take_snapshots
from tci_gateway.services.credit_apply import apply_for_credit, follow_insurer
from tci_gateway.services.credit_lines import credit_lines
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.exposure import ExposureRow, exposure_report
from tci_gateway.services.progressive import PlanReport, evaluate_plans
from tci_gateway.services.tiers import evaluate_tiers

STEPS = ("tiers", "snapshots", "plans", "over_credit_line", "insurer")


@dataclass(frozen=True)
class OverLine:
    """A buyer over its credit line under a policy on the date (policy currency)."""

    buyer_id: int
    buyer: str
    policy: str
    currency: str
    exposure: Decimal
    line: Decimal
    insured: Decimal
    uninsured: Decimal
    over: Decimal


@dataclass
class CreditReviewReport:
    """What the review of ``business_date`` did, step by step (``None``: not run, or
    failed: see ``errors``). ``already_done``: the date was reviewed before (its
    ``summary`` is then the stored one) and nothing was done now."""

    business_date: date
    already_done: bool = False
    finished_at: datetime | None = None
    tiers: dict[str, Any] | None = None
    snapshots: int | None = None
    plans: PlanReport | None = None
    over_lines: list[OverLine] | None = None
    over_line_alerts: int = 0
    insurer_decisions: int | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stored: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the ``credit_runs`` row stores, the job and ``--json`` show."""
        if self.already_done and self.stored is not None:
            return {**self.stored, "already_done": True}
        return {
            "business_date": str(self.business_date),
            "already_done": False,
            "tiers": self.tiers,
            "snapshots": self.snapshots,
            "plans": self.plans.summary() if self.plans else None,
            "over_credit_line": None
            if self.over_lines is None
            else {
                "buyers": len(self.over_lines),
                "alerts": self.over_line_alerts,
                "rows": [_over_json(o) for o in self.over_lines[:50]],
            },
            "insurer_decisions": self.insurer_decisions,
            "notes": list(self.notes),
            "errors": self.errors[:20],
        }


def _over_json(o: OverLine) -> dict[str, Any]:
    return {
        "buyer_id": o.buyer_id,
        "buyer": o.buyer,
        "policy": o.policy,
        "currency": o.currency,
        "exposure": str(o.exposure),
        "credit_line": str(o.line),
        "insured": str(o.insured),
        "uninsured": str(o.uninsured),
        "over": str(o.over),
    }


def finished_run(ledger: Ledger, day: date) -> CreditRunRow | None:
    """The ``credit_runs`` row of ``day`` (the review finished), or ``None``."""
    with ledger.reading() as session:
        row = session.scalar(select(CreditRunRow).where(CreditRunRow.business_date == day))
        if row is not None:
            session.expunge(row)
        return row


def run_credit_review(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    bureaus: Mapping[str, BureauAdapter],
    options: CreditOptions,
    day: date,
    *,
    now: datetime,
) -> CreditReviewReport:
    """Review ``day`` (see the module docstring). A date already reviewed: nothing done,
    ``already_done`` and the stored summary."""
    log = get_logger(business_date=str(day))
    done = finished_run(ledger, day)
    if done is not None:
        return CreditReviewReport(
            business_date=day,
            already_done=True,
            finished_at=done.finished_at,
            stored=dict(done.summary),
        )
    report = CreditReviewReport(business_date=day)

    def step(name: str) -> _Step:
        return _Step(name, report, log)

    with step("tiers"):
        if options.tiers is None:
            report.notes.append("tiers: no tier options (not evaluated)")
        else:
            tiers = evaluate_tiers(ledger, day, options.tiers, now=now)
            report.tiers = {
                "evaluated": tiers.evaluated,
                "changed": len(tiers.changed),
                "pinned": tiers.pinned,
                "review_due": tiers.review_due,
                "alerts": tiers.alerts,
                "counts": dict(tiers.counts),
            }
            report.errors.extend(f"tiers: {e}" for e in tiers.errors[:20])
    with step("snapshots"):
        report.snapshots = take_snapshots(ledger, day, options.behaviour, now=now)
    with step("plans"):
        plans = evaluate_plans(
            ledger, policies, bureaus, options, day, now=now, apply=apply_for_credit
        )
        report.plans = plans
        report.errors.extend(f"plans: {e}" for e in plans.errors[:20])
    with step("over_credit_line"):
        rows = exposure_report(ledger, policies, now=now, convert=options.behaviour.convert)
        report.over_lines, report.over_line_alerts = over_credit_lines(
            ledger, rows, day, now=now, convert=options.behaviour.convert
        )
    with step("insurer"):
        report.insurer_decisions = follow_insurer(ledger, now=now)
    if report.ok:
        report.finished_at = now
        _record_run(ledger, day, report.summary(), now)
    log.info(
        "credit_review",
        ok=report.ok,
        tiers=report.tiers,
        snapshots=report.snapshots,
        over_credit_line=len(report.over_lines or []),
        errors=len(report.errors),
    )
    return report


class _Step:
    """A step of the review: an exception is recorded as the step's error and the
    review goes on with the next step."""

    def __init__(self, name: str, report: CreditReviewReport, log: Any) -> None:
        self.name, self.report, self.log = name, report, log

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        self.report.errors.append(f"{self.name}: {type(exc).__name__}: {exc}")
        self.log.error("credit_review_step_failed", step=self.name, error=str(exc))
        return True


def over_credit_lines(
    ledger: Ledger,
    rows: list[ExposureRow],
    day: date,
    *,
    now: datetime,
    convert: Converter,
) -> tuple[list[OverLine], int]:
    """The buyers over their credit line under a policy on ``day``, and how many
    ``over_credit_line`` alerts were new. Only pairs with a line of the gateway's own
    (DCL, internal or provisional) are looked at: without one the credit line is the
    insured limit, and the ``over_limit`` / ``uncovered`` alerts already say it. The
    insured part is the insurer's limit in force (conservative, as exposure computes
    it), else the DCL line; a line in another currency is converted at ``day``, and one
    that cannot be converted is left out of the line (a smaller line: conservative)."""
    over: list[OverLine] = []
    new = 0
    with ledger.unit_of_work() as session:
        ids = policy_ids(session)
        by_pair = {(r.buyer_id, ids[r.policy]): r for r in rows if r.policy in ids}
        lines = credit_lines(session, day, sorted({b for b, _ in by_pair}))
        for pair, stored in sorted(lines.items()):
            row = by_pair.get(pair)
            if row is None or row.policy is None:
                continue
            if stored.dcl + stored.internal + stored.provisional <= 0:
                continue
            exposure = row.exposure
            currency = exposure.currency
            limit = exposure.limit.amount if exposure.limit is not None else None
            line = credit_line(currency, limit, _own_lines(stored, currency, day, convert))
            excess = over_line(exposure.exposure.amount, line)
            if excess <= 0:
                continue
            found = OverLine(
                buyer_id=row.buyer_id,
                buyer=row.buyer_name,
                policy=row.policy,
                currency=currency,
                exposure=exposure.exposure.amount,
                line=line.total,
                insured=line.insured,
                uninsured=line.uninsured,
                over=excess,
            )
            over.append(found)
            new += _over_alert(session, found, pair[1], day, now)
    return over, new


def _own_lines(
    stored: CreditLine, currency: str, day: date, convert: Converter
) -> list[tuple[str, Decimal]]:
    result = []
    for kind, amount in (
        ("dcl", stored.dcl),
        ("internal", stored.internal),
        ("provisional", stored.provisional),
    ):
        if amount <= 0:
            continue
        if stored.currency == currency:
            result.append((kind, amount))
            continue
        converted = convert(Money(amount, stored.currency), currency, day)
        if converted is not None:
            result.append((kind, converted.amount))
    return result


def _over_alert(session: Session, o: OverLine, policy_id: int, day: date, now: datetime) -> int:
    return int(
        add_alert(
            session,
            kind=AlertKind.OVER_CREDIT_LINE,
            message=f"{o.buyer}: exposure {o.exposure} {o.currency} over a credit line of "
            f"{o.line} (insured {o.insured}, uninsured {o.uninsured}) by {o.over}",
            business_date=day,
            dedupe_key=f"{AlertKind.OVER_CREDIT_LINE.value}:{o.policy}:{o.buyer_id}:{day}",
            now=now,
            buyer_id=o.buyer_id,
            policy_id=policy_id,
            details=_over_json(o),
        )
    )


def _record_run(ledger: Ledger, day: date, summary: dict[str, Any], now: datetime) -> None:
    """Write the date's ``credit_runs`` row (once: a concurrent run that finished first
    keeps its own)."""
    with ledger.unit_of_work() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(CreditRunRow)
            .values(business_date=day, summary=summary, finished_at=now)
            .on_conflict_do_nothing(index_elements=["business_date"])
        )
