"""Reading and writing credit applications, their steps and the credit lines the gateway
grants itself (tables in :mod:`tci_gateway.ledger.credit_tables`), and the facts the
pre-screen reads from the rest of the ledger (adverse information, insurer refusals, the
insurer's limit in force).

Credit lines are effective-dated, half-open: a line is in force on ``day`` when
``effective_from <= day`` and (``effective_to`` is NULL or ``day < effective_to``). A
change ends the row in force (``effective_to`` = the day of the change) and adds one,
so the history is never rewritten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import ActionState
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.escalation import StepAction
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.case_tables import CaseActionRow, ClaimCaseRow
from tci_gateway.ledger.credit_tables import (
    ApplicationState,
    CreditApplicationEventRow,
    CreditApplicationRow,
    CreditLineRow,
    LineKind,
)
from tci_gateway.ledger.tables import (
    AssessmentRow,
    BuyerIdentifierRow,
    CoverDecisionRow,
    ErpAccountRow,
    LimitInForceRow,
    OpenItemRow,
    PolicyRow,
)

REFUSING = (CoverStatus.REFUSED, CoverStatus.WITHDRAWN, CoverStatus.REDUCED)
"""Insurer decisions that end self-assessment: a refusal, a withdrawal, a reduction."""

_NOTIFIED = (ActionState.SENT, ActionState.DONE, ActionState.FILED_MANUALLY)


def reference_of(application_id: int, day: date) -> str:
    """``CA-<yyyymmdd>-<id:06d>``: the date received and the row id."""
    return f"CA-{day:%Y%m%d}-{application_id:06d}"


def add_event(
    session: Session, application_id: int, step: str, at: datetime, detail: dict[str, Any]
) -> None:
    session.add(
        CreditApplicationEventRow(application_id=application_id, step=step, at=at, detail=detail)
    )


def by_reference(session: Session, reference: str, *, lock: bool = False) -> CreditApplicationRow:
    """The application ``reference`` (locked for update when ``lock``); LookupError when
    there is none."""
    stmt = select(CreditApplicationRow).where(CreditApplicationRow.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise LookupError(f"no credit application {reference!r}")
    return row


def locked(session: Session, application_id: int) -> CreditApplicationRow:
    """The application row, locked until the transaction ends (PostgreSQL; SQLite has
    one writer)."""
    return session.scalars(
        select(CreditApplicationRow)
        .where(CreditApplicationRow.id == application_id)
        .with_for_update()
    ).one()


def events_of(
    session: Session, application_ids: Collection[int]
) -> dict[int, list[CreditApplicationEventRow]]:
    """The steps of each application, in the order they were recorded."""
    found: dict[int, list[CreditApplicationEventRow]] = defaultdict(list)
    ids = sorted(application_ids)
    for start in range(0, len(ids), 1000):
        for row in session.scalars(
            select(CreditApplicationEventRow)
            .where(CreditApplicationEventRow.application_id.in_(ids[start : start + 1000]))
            .order_by(CreditApplicationEventRow.id)
        ):
            found[row.application_id].append(row)
    return found


def applications(
    session: Session,
    *,
    state: str | None = None,
    buyer_id: int | None = None,
    limit: int = 100,
    before: int | None = None,
    since: datetime | None = None,
) -> list[CreditApplicationRow]:
    """Applications newest first, keyset-paged on the id (``before``)."""
    stmt = select(CreditApplicationRow).order_by(CreditApplicationRow.id.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(CreditApplicationRow.state == state)
    if buyer_id is not None:
        stmt = stmt.where(CreditApplicationRow.buyer_id == buyer_id)
    if before is not None:
        stmt = stmt.where(CreditApplicationRow.id < before)
    if since is not None:
        stmt = stmt.where(CreditApplicationRow.received_at >= since)
    return list(session.scalars(stmt))


def waiting_on_insurer(session: Session) -> list[int]:
    """Applications with the insurer whose cover request has an answer (decided, or
    refused by the insurer's API)."""
    from tci_gateway.ledger.tables import CoverRequestRow

    return list(
        session.scalars(
            select(CreditApplicationRow.id)
            .join(CoverRequestRow, CoverRequestRow.id == CreditApplicationRow.cover_request_id)
            .where(
                CreditApplicationRow.state == ApplicationState.WITH_INSURER,
                CoverRequestRow.state.in_(("DECIDED", "REJECTED")),
            )
            .order_by(CreditApplicationRow.id)
        )
    )


# -- credit lines -----------------------------------------------------------------------


def _in_force(day: date) -> Any:
    return and_(
        CreditLineRow.effective_from <= day,
        or_(CreditLineRow.effective_to.is_(None), CreditLineRow.effective_to > day),
    )


def lines_in_force(
    session: Session, day: date, buyer_ids: Collection[int] | None = None
) -> list[CreditLineRow]:
    stmt = select(CreditLineRow).where(_in_force(day)).order_by(CreditLineRow.id)
    if buyer_ids is not None:
        stmt = stmt.where(CreditLineRow.buyer_id.in_(sorted(buyer_ids)))
    return list(session.scalars(stmt))


def end_lines(
    session: Session,
    day: date,
    *,
    reason: str,
    buyer_id: int | None = None,
    policy_id: int | None = None,
    kind: LineKind | None = None,
    application_id: int | None = None,
) -> list[CreditLineRow]:
    """End the lines in force (and those starting later) that match, on ``day``; the
    rows ended."""
    stmt = select(CreditLineRow).where(
        or_(CreditLineRow.effective_to.is_(None), CreditLineRow.effective_to > day)
    )
    if buyer_id is not None:
        stmt = stmt.where(CreditLineRow.buyer_id == buyer_id)
    if policy_id is not None:
        stmt = stmt.where(CreditLineRow.policy_id == policy_id)
    if kind is not None:
        stmt = stmt.where(CreditLineRow.kind == kind)
    if application_id is not None:
        stmt = stmt.where(CreditLineRow.application_id == application_id)
    ended = list(session.scalars(stmt.with_for_update()))
    for row in ended:
        row.effective_to = max(day, row.effective_from)
        row.ended_reason = reason
    return ended


def set_line(
    session: Session,
    *,
    buyer_id: int,
    policy_id: int,
    kind: LineKind,
    amount: Decimal,
    currency: str,
    day: date,
    approved_by: str,
    reason: str,
    now: datetime,
    application_id: int | None = None,
) -> CreditLineRow | None:
    """End the line of this kind in force for the buyer and policy and, for an amount
    above zero, add the new one from ``day``; the new row (None for zero)."""
    end_lines(
        session,
        day,
        reason=f"replaced: {reason}",
        buyer_id=buyer_id,
        policy_id=policy_id,
        kind=kind,
    )
    if amount <= 0:
        return None
    row = CreditLineRow(
        buyer_id=buyer_id,
        policy_id=policy_id,
        kind=kind,
        amount=amount,
        currency=currency,
        effective_from=day,
        effective_to=None,
        application_id=application_id,
        approved_by=approved_by[:64],
        reason=reason,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


# -- facts the pre-screen reads ----------------------------------------------------------


@dataclass(frozen=True)
class StoredAssessment:
    provider: str
    provider_id: str
    provider_reference: str | None
    scale: str
    score_raw: str | None
    band: str | None
    failure_score: str | None
    paydex: int | None
    recommended_limit: Decimal | None
    limit_currency: str | None
    as_of: date | None
    fetched_at: datetime


def latest_assessments(session: Session, buyer_id: int) -> dict[str, StoredAssessment]:
    """Each provider's latest stored assessment of the buyer (by as-of date, then by
    when it was fetched)."""
    latest: dict[str, StoredAssessment] = {}
    rows = session.scalars(
        select(AssessmentRow)
        .where(AssessmentRow.buyer_id == buyer_id)
        .order_by(
            AssessmentRow.provider,
            AssessmentRow.as_of.desc().nulls_last(),
            AssessmentRow.fetched_at.desc(),
            AssessmentRow.id.desc(),
        )
    )
    for r in rows:
        latest.setdefault(
            r.provider,
            StoredAssessment(
                r.provider,
                r.provider_id,
                r.provider_reference,
                r.scale,
                r.score_raw,
                r.band,
                r.failure_score,
                r.paydex,
                r.recommended_limit,
                r.limit_currency,
                r.as_of,
                r.fetched_at,
            ),
        )
    return latest


def identifiers_of(session: Session, buyer_id: int) -> dict[str, str]:
    """The buyer's identifiers by scheme (the first of each; insurer ids left out)."""
    found: dict[str, str] = {}
    for scheme, value in session.execute(
        select(BuyerIdentifierRow.scheme, BuyerIdentifierRow.value)
        .where(BuyerIdentifierRow.buyer_id == buyer_id, BuyerIdentifierRow.issuer == "")
        .order_by(BuyerIdentifierRow.id)
    ):
        found.setdefault(scheme, value)
    return found


def account_of(session: Session, buyer_id: int) -> tuple[str | None, int | None]:
    """The buyer's first ERP account and that account's policy id (None, None when the
    buyer has no account)."""
    row = session.execute(
        select(ErpAccountRow.account, ErpAccountRow.policy_id)
        .where(ErpAccountRow.buyer_id == buyer_id)
        .order_by(ErpAccountRow.policy_id.is_(None), ErpAccountRow.id)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def policy_key(session: Session, policy_id: int) -> str | None:
    return session.scalar(select(PolicyRow.key).where(PolicyRow.id == policy_id))


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day when it is
    shorter)."""
    month = day.month - 1 - months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def adverse_information(
    session: Session,
    buyer_id: int,
    day: date,
    *,
    months: int,
    max_extension_days: int,
    policy_id: int,
) -> list[str]:
    """What ends self-assessment on the buyer, each named: a claim case opened within
    ``months`` (or still open), an overdue notification or claim sent within ``months``,
    an open invoice (of this policy's accounts) past its due date plus the policy's
    maximum extension period."""
    since = months_before(day, months)
    found: list[str] = []
    for case_id, opened, state in session.execute(
        select(ClaimCaseRow.id, ClaimCaseRow.opened_on, ClaimCaseRow.state)
        .where(
            ClaimCaseRow.buyer_id == buyer_id,
            or_(ClaimCaseRow.opened_on >= since, ClaimCaseRow.state == "OPEN"),
        )
        .order_by(ClaimCaseRow.id)
    ):
        found.append(f"overdue case {case_id} opened on {opened} ({str(state).lower()})")
    for action, sent, case_id in session.execute(
        select(CaseActionRow.action, CaseActionRow.sent_at, CaseActionRow.case_id)
        .join(ClaimCaseRow, ClaimCaseRow.id == CaseActionRow.case_id)
        .where(
            ClaimCaseRow.buyer_id == buyer_id,
            CaseActionRow.action.in_((StepAction.OVERDUE_NOTIFICATION, StepAction.CLAIM)),
            CaseActionRow.state.in_(_NOTIFIED),
            CaseActionRow.sent_at.is_not(None),
        )
        .order_by(CaseActionRow.id)
    ):
        if sent is not None and sent.date() >= since:
            what = "claim" if action == StepAction.CLAIM else "overdue notification"
            found.append(f"{what} of case {case_id} sent on {sent.date()}")
    latest_due = day - timedelta(days=max_extension_days)
    count, oldest = session.execute(
        select(func.count(OpenItemRow.id), func.min(OpenItemRow.due_date))
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .where(
            ErpAccountRow.buyer_id == buyer_id,
            or_(ErpAccountRow.policy_id == policy_id, ErpAccountRow.policy_id.is_(None)),
            OpenItemRow.kind == ItemKind.INVOICE.value,
            OpenItemRow.open_amount > 0,
            OpenItemRow.due_date < latest_due,
        )
    ).one()
    if count:
        found.append(
            f"{count} open invoice(s) past the policy's maximum extension of "
            f"{max_extension_days} days (oldest due {oldest})"
        )
    return found


def insurer_refusals(session: Session, buyer_id: int, day: date, *, months: int) -> list[str]:
    """Insurer decisions on the buyer (any policy) recorded within ``months`` that
    refused, withdrew or reduced cover, or granted less than the version before."""
    since = months_before(day, months)
    found: list[str] = []
    previous: dict[tuple[int, str], Decimal] = {}
    rows = session.execute(
        select(
            CoverDecisionRow.policy_id,
            CoverDecisionRow.insurer_cover_ref,
            CoverDecisionRow.status,
            CoverDecisionRow.granted_amount,
            CoverDecisionRow.currency,
            CoverDecisionRow.recorded_at,
            CoverDecisionRow.effective_from,
        )
        .where(CoverDecisionRow.buyer_id == buyer_id)
        .order_by(CoverDecisionRow.recorded_at, CoverDecisionRow.id)
    )
    for policy_id, ref, status, granted, currency, recorded, start in rows:
        key = (policy_id, ref)
        before = previous.get(key)
        previous[key] = granted
        if recorded.date() < since:
            continue
        if status in REFUSING:
            found.append(f"{status} {granted:f} {currency} from {start} (cover {ref})")
        elif before is not None and granted < before:
            found.append(
                f"reduced from {before:f} to {granted:f} {currency} from {start} (cover {ref})"
            )
    return found


def insurer_limit(session: Session, buyer_id: int, policy_id: int) -> Decimal | None:
    """The insurer's limit in force under the policy (0 after a refusal); None when the
    insurer has no decision on the buyer."""
    row = session.execute(
        select(LimitInForceRow.decision_id, LimitInForceRow.amount).where(
            LimitInForceRow.buyer_id == buyer_id, LimitInForceRow.policy_id == policy_id
        )
    ).first()
    if row is None or row[0] is None:
        return None
    amount: Decimal = row[1]
    return amount


def insurer_limits(
    session: Session, buyer_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], Decimal]:
    """The insurer limits in force with a decision, by (buyer, policy)."""
    stmt = select(
        LimitInForceRow.buyer_id, LimitInForceRow.policy_id, LimitInForceRow.amount
    ).where(LimitInForceRow.decision_id.is_not(None))
    if buyer_ids is not None:
        stmt = stmt.where(LimitInForceRow.buyer_id.in_(sorted(buyer_ids)))
    return {(b, p): a for b, p, a in session.execute(stmt)}


def policy_currencies(session: Session) -> dict[int, str]:
    return {i: c for i, c in session.execute(select(PolicyRow.id, PolicyRow.currency))}
