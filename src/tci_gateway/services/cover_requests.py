"""Cover requests, sent exactly once.

A request is first written to the ``cover_requests`` outbox with a client reference
derived from our own ids, and committed; only then is it sent, through the outbox
shared with overdue notifications and claims (:mod:`tci_gateway.services.outbox`):
claimed first, so two processes (two ``tci cover status``, or one beside the
scheduler's poll job) never send or poll the same request at once; no transaction
open while the insurer is called; attempts counted in SQL before the call. Its state
follows what happened:

``QUEUED``     written, not (known to be) sent: the next :func:`reconcile` looks the
               reference up at the insurer first when an attempt was made (a crash
               may have hidden a send), then sends it; also a request the insurer did
               not take because another one for the buyer is in progress there;
``AMBIGUOUS``  sent, outcome unknown (timeout, reset, 5xx on a POST, "a request is
               already in progress"): looked up by reference before anything is sent
               again;
``PENDING``    acknowledged by the insurer, not decided: polled;
``DECIDED``    the insurer decided (the next limit sync records the cover itself);
``REJECTED``   the insurer refused the request (4xx): a person has to act.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import (
    CoverAction,
    CoverRequest,
    CoverRequestResult,
    InsurerAdapter,
    PolicyRef,
)
from tci_gateway.domain.cover import (
    OPEN_REQUEST_STATES,
    UNANSWERED,
    CoverRequestState,
    CoverStatus,
)
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import AdapterError, InputError, RecordError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.row_claims import claim
from tci_gateway.ledger.tables import (
    BuyerIdentifierRow,
    BuyerRow,
    CoverRequestRow,
    ErpAccountRow,
    PolicyRow,
)
from tci_gateway.logs import get_logger
from tci_gateway.services.outbox import (
    CLAIMED_ELSEWHERE,
    Delivery,
    PollReport,
    deliver_claimed,
)


@dataclass(frozen=True)
class CoverRequestView:
    id: int
    client_reference: str
    policy: str
    buyer_id: int
    buyer_name: str
    insurer: str
    action: CoverAction
    amount: Decimal | None
    currency: str | None
    state: CoverRequestState
    insurer_request_ref: str | None
    outcome_status: CoverStatus | None
    outcome_amount: Decimal | None
    attempts: int
    last_error: str | None
    updated_at: datetime
    outcome_raw_codes: Mapping[str, str] | None = None


def _bad(column: str, reason: str) -> InputError:
    return InputError([RecordError("command line", None, column, reason)])


def _find_buyer(session: Session, buyer: str) -> tuple[int, str]:
    row = session.execute(
        select(BuyerRow.id, BuyerRow.name)
        .join(ErpAccountRow, ErpAccountRow.buyer_id == BuyerRow.id)
        .where(ErpAccountRow.account == buyer)
    ).first()
    if row is None and buyer.isdigit():
        row = session.execute(
            select(BuyerRow.id, BuyerRow.name).where(BuyerRow.id == int(buyer))
        ).first()
    if row is None:
        raise _bad("--buyer", f"no ERP account or buyer id {buyer!r} in the ledger")
    return row[0], row[1]


def find_buyer(session: Session, buyer: str) -> tuple[int, str]:
    """The ledger buyer (id, name) of an ERP account or a ledger buyer id, as every
    command's BUYER means it; an :class:`InputError` when there is none."""
    return _find_buyer(session, buyer)


def _insurer_buyer_id(session: Session, buyer_id: int, insurer: str, name: str) -> str:
    value = session.scalar(
        select(BuyerIdentifierRow.value).where(
            BuyerIdentifierRow.buyer_id == buyer_id,
            BuyerIdentifierRow.scheme == Scheme.INSURER.value,
            BuyerIdentifierRow.issuer == insurer,
        )
    )
    if value is None:
        raise _bad(
            "--buyer",
            f"{name} has no {insurer} buyer id yet: find it with `tci buyers search --link` "
            f"or give it in the buyers file (insurer_ids {insurer}:...)",
        )
    return value


def _reference(request_id: int, policy: str, buyer_id: int, action: str, now: datetime) -> str:
    digest = hashlib.sha256(f"{policy}|{buyer_id}|{action}|{now.isoformat()}".encode()).hexdigest()
    return f"tci-{request_id:07d}-{digest[:10]}"


def queue_request(
    ledger: Ledger,
    policy: Policy,
    *,
    buyer: str,
    action: CoverAction,
    amount: Money | None,
    now: datetime,
    urgent: bool = False,
    cover_type: str = "CREDIT_LIMIT",
    before: Callable[[Session], None] | None = None,
    after: Callable[[Session, int], None] | None = None,
) -> int:
    """Write the request to the outbox (committed before anything is sent). ``before``
    and ``after`` run in the same transaction: ``before`` first (a guard may raise, and
    nothing is written), ``after`` with the new request's id (an audit row)."""
    if action is not CoverAction.CANCEL and amount is None:
        raise _bad("--amount", f"a {action.value} request needs an amount")
    if amount is not None and amount.currency != policy.terms.currency:
        raise _bad("--amount", f"the policy is in {policy.terms.currency}, not {amount.currency}")
    if amount is not None and amount.amount <= 0:
        raise _bad("--amount", "the amount must be positive")
    with ledger.unit_of_work() as session:
        if before is not None:
            before(session)
        policy_id = upsert_policies(session, {policy.key: policy}, now)[policy.key]
        buyer_id, name = _find_buyer(session, buyer)
        insurer_buyer_id = _insurer_buyer_id(session, buyer_id, policy.insurer, name)
        row = CoverRequestRow(
            client_reference=f"pending-{now.timestamp()}-{buyer_id}",
            policy_id=policy_id,
            buyer_id=buyer_id,
            insurer=policy.insurer,
            insurer_buyer_id=insurer_buyer_id,
            action=action,
            cover_type=cover_type,
            amount=amount.amount if amount else None,
            currency=amount.currency if amount else None,
            urgent=urgent,
            state=CoverRequestState.QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        row.client_reference = _reference(row.id, policy.key, buyer_id, action.value, now)
        if after is not None:
            after(session, row.id)
        return row.id


def _apply(row: CoverRequestRow, result: CoverRequestResult, now: datetime) -> None:
    row.insurer_request_ref = result.insurer_request_ref or row.insurer_request_ref
    decided = result.decision is not None and not result.pending
    row.state = CoverRequestState.DECIDED if decided else CoverRequestState.PENDING
    if result.decision is not None:
        row.outcome_status = result.decision.status
        row.outcome_amount = result.decision.granted_amount.amount
        row.outcome_raw_codes = dict(result.decision.raw_codes) or None
    row.last_error = None
    row.updated_at = now


def _request(row: CoverRequestRow, policy: Policy) -> CoverRequest:
    amount = None
    if row.amount is not None and row.currency:
        # The ledger keeps 4 places; an insurer expects the currency's own (10000.00).
        amount = Money(row.amount, row.currency).rounded()
    return CoverRequest(
        client_reference=row.client_reference,
        policy=PolicyRef.of(policy),
        insurer_buyer_id=row.insurer_buyer_id,
        action=CoverAction(row.action),
        amount=amount,
        cover_type=row.cover_type,  # type: ignore[arg-type]
        urgent=row.urgent,
    )


class _CoverDelivery(Delivery[CoverRequest, CoverRequestResult]):
    """A cover request through the shared outbox (:mod:`.outbox`)."""

    kind = "cover_request"
    table = CoverRequestRow
    queued, ambiguous = CoverRequestState.QUEUED, CoverRequestState.AMBIGUOUS

    def __init__(
        self,
        adapter: InsurerAdapter,
        policy: Policy,
        request_id: int = 0,
        callback: Callable[[int], str | None] | None = None,
    ) -> None:
        self.adapter, self.policy = adapter, policy
        self.request_id, self.callback = request_id, callback

    def snapshot(self, session: Session, row: Any) -> CoverRequest:
        return _request(row, self.policy)

    def find(self, snap: CoverRequest) -> CoverRequestResult | None:
        return self.adapter.find_request(snap.policy, snap.client_reference)

    def submit(self, snap: CoverRequest) -> CoverRequestResult:
        # A callback URL is registered (committed) per send, just before the call.
        url = self.callback(self.request_id) if self.callback is not None else None
        if url:
            snap = dataclasses.replace(snap, callback_url=url)
        return self.adapter.request_cover(snap)

    def record(self, session: Session, row: Any, result: CoverRequestResult, now: datetime) -> None:
        _apply(row, result, now)

    def refuse(self, session: Session, row: Any, reason: str, now: datetime) -> None:
        row.state, row.last_error, row.updated_at = CoverRequestState.REJECTED, reason, now


def advance(
    ledger: Ledger,
    request_id: int,
    adapter: InsurerAdapter,
    policy: Policy,
    *,
    now: datetime,
    callback: Callable[[int], str | None] | None = None,
) -> str:
    """Move one open request forward: look up, send, or poll, as its state says; its
    new state. The request is claimed first: one another process is advancing right
    now is left to it (:data:`~tci_gateway.services.outbox.CLAIMED_ELSEWHERE`). No
    transaction is open while the insurer is called. ``callback(request_id)``, when
    given, answers the URL the insurer may call back at (registered before each send;
    see :mod:`tci_gateway.services.insurer_hooks`)."""
    log = {"adapter": adapter.name, "policy": policy.key, "request_id": request_id}
    with claim(ledger, CoverRequestRow.__tablename__, request_id) as held:
        if not held:
            get_logger(**log).info("cover_request_claimed_elsewhere")
            return CLAIMED_ELSEWHERE
        with ledger.unit_of_work() as session:
            row = session.get_one(CoverRequestRow, request_id)
            state, insurer_ref = row.state, row.insurer_request_ref
        if state is CoverRequestState.PENDING and insurer_ref:
            return _poll(ledger, request_id, adapter, policy, insurer_ref, now)
        delivery = _CoverDelivery(adapter, policy, request_id, callback)
        return deliver_claimed(ledger, delivery, request_id, now=now, **log)


def _poll(
    ledger: Ledger,
    request_id: int,
    adapter: InsurerAdapter,
    policy: Policy,
    insurer_ref: str,
    now: datetime,
) -> str:
    """Ask the insurer how a pending request stands (the caller holds its claim)."""
    error: str | None = None
    status: CoverRequestResult | None = None
    try:
        status = adapter.request_status(PolicyRef.of(policy), insurer_ref)
    except AdapterError as exc:
        error = str(exc)
    with ledger.unit_of_work() as session:
        row = session.get_one(CoverRequestRow, request_id)
        if error is not None:
            row.last_error, row.updated_at = error, now
        elif status is not None:
            _apply(row, status, now)
        return row.state


def reconcile(
    ledger: Ledger,
    adapters: Mapping[str, InsurerAdapter],
    policies: Mapping[str, Policy],
    *,
    now: datetime,
) -> PollReport:
    """Advance every open request whose insurer is configured. The report counts them
    and names each one left unsent, with an unknown outcome, refused, or whose status
    poll failed (not ok); one another process is advancing is left to it."""
    with ledger.unit_of_work() as session:
        rows = session.execute(
            select(CoverRequestRow.id, PolicyRow.key)
            .join(PolicyRow, PolicyRow.id == CoverRequestRow.policy_id)
            .where(CoverRequestRow.state.in_(OPEN_REQUEST_STATES))
            .order_by(CoverRequestRow.id)
        ).all()
    report = PollReport()
    taken = []
    for request_id, key in rows:
        policy = policies.get(key)
        if policy is None or policy.insurer not in adapters:
            continue
        if advance(ledger, request_id, adapters[policy.insurer], policy, now=now) != (
            CLAIMED_ELSEWHERE
        ):
            taken.append(request_id)
        report.polled += 1
    report.errors = _unanswered(ledger, taken)
    return report


def _unanswered(ledger: Ledger, request_ids: list[int]) -> list[str]:
    """One line per request of ``request_ids`` the insurer has not answered: one left
    unsent, with an unknown outcome or refused, or whose last call failed (an answer
    clears ``last_error``)."""
    lines = []
    with ledger.unit_of_work() as session:
        for start in range(0, len(request_ids), 1000):
            chunk = request_ids[start : start + 1000]
            for row_id, reference, state, error in session.execute(
                select(
                    CoverRequestRow.id,
                    CoverRequestRow.client_reference,
                    CoverRequestRow.state,
                    CoverRequestRow.last_error,
                )
                .where(CoverRequestRow.id.in_(chunk))
                .where(
                    CoverRequestRow.state.in_(UNANSWERED) | CoverRequestRow.last_error.is_not(None)
                )
                .order_by(CoverRequestRow.id)
            ):
                lines.append(
                    f"cover request {row_id} ({reference}) {state}: {error or 'no detail'}"
                )
    return lines


def list_requests(
    ledger: Ledger, *, request_id: int | None = None, limit: int = 50
) -> list[CoverRequestView]:
    with ledger.unit_of_work() as session:
        stmt = (
            select(CoverRequestRow, PolicyRow.key, BuyerRow.name)
            .join(PolicyRow, PolicyRow.id == CoverRequestRow.policy_id)
            .join(BuyerRow, BuyerRow.id == CoverRequestRow.buyer_id)
            .order_by(CoverRequestRow.id.desc())
            .limit(limit)
        )
        if request_id is not None:
            stmt = stmt.where(CoverRequestRow.id == request_id)
        return [
            CoverRequestView(
                id=r.id,
                client_reference=r.client_reference,
                policy=key,
                buyer_id=r.buyer_id,
                buyer_name=name,
                insurer=r.insurer,
                action=r.action,
                amount=r.amount,
                currency=r.currency,
                state=r.state,
                insurer_request_ref=r.insurer_request_ref,
                outcome_status=r.outcome_status,
                outcome_amount=r.outcome_amount,
                attempts=r.attempts,
                last_error=r.last_error,
                updated_at=r.updated_at,
                outcome_raw_codes=r.outcome_raw_codes,
            )
            for r, key, name in session.execute(stmt)
        ]
