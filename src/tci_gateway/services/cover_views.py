"""Cover requests as the HTTP API takes and shows them: a request queued from a JSON
body (checked with the words of ``tci cover request``), one request with its decision
and callbacks, and a keyset-paged list.

Queuing writes the outbox row only; the relay (:mod:`.cover_relay`) sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import CoverAction, CoverRequestState, CoverStatus
from tci_gateway.domain.money import Money, MoneyError, parse_amount
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow, CoverRequestRow, PolicyRow
from tci_gateway.services import cover_requests
from tci_gateway.services.insurer_hooks import CallbackSummary, summaries

SOURCE = "body"
"""Record errors of a JSON body name this source (the API answers them as fields)."""
_MAX_INTEGER_DIGITS = 15  # the ledger's amounts: NUMERIC(19, 4)


def _bad(field: str, reason: str) -> InputError:
    return InputError([RecordError(SOURCE, None, field, reason)])


@dataclass(frozen=True)
class CoverRequestDetail:
    """One request as the API shows it."""

    id: int
    client_reference: str
    policy: str
    insurer: str
    buyer_id: int
    buyer_name: str
    action: CoverAction
    amount: Decimal | None
    currency: str | None
    urgent: bool
    state: CoverRequestState
    insurer_request_ref: str | None
    outcome_status: CoverStatus | None
    outcome_amount: Decimal | None
    outcome_raw_codes: Mapping[str, str]
    policy_currency: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    callbacks: CallbackSummary


def queue(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    policy: str,
    buyer: str,
    action: CoverAction,
    amount: str | None,
    currency: str | None,
    urgent: bool,
    now: datetime,
    before: Callable[[Session], None] | None = None,
    after: Callable[[Session, int], None] | None = None,
) -> int:
    """Check a request as ``tci cover request`` does and queue it (nothing is sent);
    its id. Every problem is an :class:`InputError` naming the body's field. ``before``
    and ``after`` run in the queuing transaction
    (:func:`~tci_gateway.services.cover_requests.queue_request`)."""
    found = policies.get(policy)
    if found is None:
        known = ", ".join(sorted(policies)) or "none"
        raise _bad("policy", f"unknown policy {policy!r} (configured: {known})")
    money = None
    if action is CoverAction.CANCEL and amount is not None:
        raise _bad("amount", "a CANCEL request takes no amount")
    if amount is not None:
        if currency is None:
            raise _bad("currency", "an amount needs its currency")
        try:
            value = parse_amount(amount, currency)
        except MoneyError as exc:
            raise _bad("amount", str(exc)) from None
        if value.adjusted() >= _MAX_INTEGER_DIGITS:
            raise _bad("amount", f"amount {amount!r} is too large")
        money = Money(value, currency)
    try:
        return cover_requests.queue_request(
            ledger,
            found,
            buyer=buyer,
            action=action,
            amount=money,
            now=now,
            urgent=urgent,
            before=before,
            after=after,
        )
    except InputError as exc:  # the CLI's words, named by the body's fields
        raise InputError(
            [
                RecordError(SOURCE, None, (e.column or "").lstrip("-") or None, e.reason)
                for e in exc.errors
            ]
        ) from None


def _select() -> Select[CoverRequestRow, str, str]:
    return (
        select(CoverRequestRow, PolicyRow.key, BuyerRow.name)
        .join(PolicyRow, PolicyRow.id == CoverRequestRow.policy_id)
        .join(BuyerRow, BuyerRow.id == CoverRequestRow.buyer_id)
    )


def _details(
    session: Session,
    rows: list[tuple[CoverRequestRow, str, str]],
    currencies: Mapping[str, str],
) -> list[CoverRequestDetail]:
    hooks = summaries(session, [r.id for r, _, _ in rows])
    return [
        CoverRequestDetail(
            id=r.id,
            client_reference=r.client_reference,
            policy=key,
            insurer=r.insurer,
            buyer_id=r.buyer_id,
            buyer_name=name,
            action=CoverAction(r.action),
            amount=r.amount,
            currency=r.currency,
            urgent=bool(r.urgent),
            state=CoverRequestState(r.state),
            insurer_request_ref=r.insurer_request_ref,
            outcome_status=CoverStatus(r.outcome_status) if r.outcome_status else None,
            outcome_amount=r.outcome_amount,
            outcome_raw_codes=dict(r.outcome_raw_codes or {}),
            policy_currency=currencies.get(key),
            attempts=r.attempts,
            last_error=r.last_error,
            created_at=r.created_at,
            updated_at=r.updated_at,
            callbacks=hooks.get(r.id, CallbackSummary()),
        )
        for r, key, name in rows
    ]


def get(
    ledger: Ledger,
    request_id: int,
    *,
    currencies: Mapping[str, str],
    policies: Collection[str] | None = None,
) -> CoverRequestDetail | None:
    """One request; ``None`` when there is none (or its policy is not in ``policies``,
    when given)."""
    with ledger.reading() as session:
        stmt = _select().where(CoverRequestRow.id == request_id)
        if policies is not None:
            stmt = stmt.where(PolicyRow.key.in_(list(policies)))
        rows = [(r, k, n) for r, k, n in session.execute(stmt)]
        found = _details(session, rows, currencies)
    return found[0] if found else None


def page(
    ledger: Ledger,
    *,
    currencies: Mapping[str, str],
    limit: int,
    before: int | None = None,
    state: CoverRequestState | None = None,
    policy: str | None = None,
    buyer_id: int | None = None,
    policies: Collection[str] | None = None,
) -> tuple[list[CoverRequestDetail], int | None]:
    """Requests newest first, at most ``limit``, with ids below ``before`` (keyset
    paging), filtered; and the cursor of the next page (``None`` on the last one)."""
    with ledger.reading() as session:
        stmt = _select().order_by(CoverRequestRow.id.desc()).limit(limit + 1)
        if before is not None:
            stmt = stmt.where(CoverRequestRow.id < before)
        if state is not None:
            stmt = stmt.where(CoverRequestRow.state == state)
        if policy is not None:
            stmt = stmt.where(PolicyRow.key == policy)
        if buyer_id is not None:
            stmt = stmt.where(CoverRequestRow.buyer_id == buyer_id)
        if policies is not None:
            stmt = stmt.where(PolicyRow.key.in_(list(policies)))
        rows = [(r, k, n) for r, k, n in session.execute(stmt)]
        more = len(rows) > limit
        items = _details(session, rows[:limit], currencies)
    return items, (items[-1].id if more and items else None)
