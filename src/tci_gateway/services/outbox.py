"""The outbox every insurer-bound write goes through: cover requests, overdue
notifications and claims, sent exactly once.

A row is committed with its client reference before anything is sent (by the service
that creates it). Then :func:`deliver` moves it forward in short transactions of its
own, never holding one open while the insurer is called (on SQLite an open write
transaction would lock out every other writer, and readers that write, for the length
of the call):

1. the row is **claimed** (:mod:`tci_gateway.ledger.row_claims`): a process that finds
   it claimed by another skips it; the claim vanishes with a killed process;
2. its state is read again under the claim: only ``QUEUED`` and ``AMBIGUOUS`` rows are
   sent;
3. a row with ``attempts > 0`` (a crash, a timeout, a reset, a 5xx may have hidden a
   send) is **looked up by client reference** first; found, its answer is recorded and
   nothing is sent;
4. ``attempts = attempts + 1`` is committed *before* the call, in SQL, and only when
   the row is still as read (so a crash during the call leaves attempts > 0, and no
   increment is ever lost);
5. the call; then its answer is recorded: a result, ``AMBIGUOUS`` for an outcome that
   cannot be known, a refusal, or ``QUEUED`` again for a call that never got through.

An insurer's "a request is already in progress" (:class:`~tci_gateway.errors.
InProgressError`) is no refusal: the row is looked up by reference at once; when the
insurer has no record of it, ours was not taken and stays ``QUEUED`` for a later run.

Each kind of row plugs in as a :class:`Delivery`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from tci_gateway.crashpoints import crash_point
from tci_gateway.errors import (
    AdapterError,
    AmbiguousOutcomeError,
    InProgressError,
    ProtocolError,
    RejectedError,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.row_claims import claim
from tci_gateway.logs import get_logger

CLAIMED_ELSEWHERE = "CLAIMED_ELSEWHERE"
"""What :func:`deliver` returns for a row another process is sending right now."""


@dataclass
class PollReport:
    """What one pass over an outbox did: how many rows it took up (``polled``) and, one
    line each, those it could not move forward: an insurer call that failed, an outcome
    left unknown, or a refusal."""

    polled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The one judgement of a pass: every row it took up was answered."""
        return not self.errors


Snapshot = TypeVar("Snapshot")
Result = TypeVar("Result")


class Delivery(ABC, Generic[Snapshot, Result]):
    """How one kind of outbox row is sent, looked up and recorded.

    ``table`` is its ORM class (columns ``id``, ``state``, ``attempts``,
    ``last_error``, ``updated_at``); ``kind`` names it in logs and crash points
    (``<kind>_before_send``, ``<kind>_after_response``). ``queued`` and ``ambiguous``
    are its state enum's members for "written, not (known to be) sent" and "sent, the
    outcome unknown": the two states a row is sent from."""

    kind: str
    table: Any
    queued: StrEnum
    ambiguous: StrEnum

    @property
    def sendable(self) -> tuple[StrEnum, StrEnum]:
        """The states a row is sent from."""
        return (self.queued, self.ambiguous)

    @abstractmethod
    def snapshot(self, session: Session, row: Any) -> Snapshot:
        """What the calls need, read from the row (and the ledger) under the claim."""

    @abstractmethod
    def find(self, snap: Snapshot) -> Result | None:
        """The insurer's record of the row's client reference, ``None`` when it has none."""

    @abstractmethod
    def submit(self, snap: Snapshot) -> Result:
        """Send the row (the non-idempotent call)."""

    @abstractmethod
    def record(self, session: Session, row: Any, result: Result, now: datetime) -> None:
        """Apply the insurer's answer (or the record found by reference) to the row."""

    @abstractmethod
    def refuse(self, session: Session, row: Any, reason: str, now: datetime) -> None:
        """The insurer (or the gateway, before any call) refused the row."""

    def unsendable(self, snap: Snapshot) -> str | None:
        """Why the row cannot be sent at all (checked after the look-up), if so."""
        return None


def deliver(
    ledger: Ledger, delivery: Delivery[Any, Any], row_id: int, *, now: datetime, **log: Any
) -> str:
    """Claim the row and move it forward (look up, then send); its new state, or
    :data:`CLAIMED_ELSEWHERE`."""
    with claim(ledger, delivery.table.__tablename__, row_id) as held:
        if not held:
            get_logger(**log).info(f"{delivery.kind}_claimed_elsewhere", row_id=row_id)
            return CLAIMED_ELSEWHERE
        return deliver_claimed(ledger, delivery, row_id, now=now, **log)


def update_row(
    ledger: Ledger, delivery: Delivery[Any, Any], row_id: int, change: Any, now: datetime
) -> str:
    """Apply ``change(session, row)`` in a transaction of its own; the row's state."""
    with ledger.unit_of_work() as session:
        row = session.get_one(delivery.table, row_id)
        change(session, row)
        row.updated_at = now
        state: str = row.state
        return state


def _set(state: StrEnum | None, error: str | None) -> Any:
    def change(_session: Session, row: Any) -> None:
        if state is not None:
            row.state = state
        row.last_error = error

    return change


def deliver_claimed(
    ledger: Ledger, delivery: Delivery[Snapshot, Result], row_id: int, *, now: datetime, **log: Any
) -> str:
    """:func:`deliver` for a caller that already holds the row's claim."""
    logger = get_logger(**log)
    table = delivery.table
    with ledger.unit_of_work() as session:
        row = session.get_one(table, row_id)
        if row.state not in delivery.sendable:
            return str(row.state)
        snap = delivery.snapshot(session, row)
        attempts = int(row.attempts)

    def recorded(result: Result) -> str:
        return update_row(
            ledger, delivery, row_id, lambda s, r: delivery.record(s, r, result, now), now
        )

    if attempts > 0:
        try:
            found = delivery.find(snap)
        except AdapterError as exc:
            return update_row(ledger, delivery, row_id, _set(None, f"look-up failed: {exc}"), now)
        if found is not None:
            logger.info(f"{delivery.kind}_found_by_reference", attempts=attempts)
            return recorded(found)
    reason = delivery.unsendable(snap)
    if reason is not None:
        return update_row(
            ledger, delivery, row_id, lambda s, r: delivery.refuse(s, r, reason, now), now
        )
    # The attempt is committed before the call: a crash during it leaves attempts > 0,
    # so the next run looks the reference up before sending again.
    with ledger.unit_of_work() as session:
        counted = session.execute(
            update(table)
            .where(
                table.id == row_id, table.state.in_(delivery.sendable), table.attempts == attempts
            )
            .values(attempts=table.attempts + 1, updated_at=now)
        )
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            return str(session.get_one(table, row_id).state)  # moved on meanwhile
    crash_point(f"{delivery.kind}_before_send")
    try:
        result = delivery.submit(snap)
    except InProgressError as exc:
        logger.warning(f"{delivery.kind}_in_progress_at_insurer", error=str(exc))
        return _resolve_in_progress(ledger, delivery, row_id, snap, exc, now, recorded, logger)
    except (AmbiguousOutcomeError, ProtocolError) as exc:
        logger.warning(f"{delivery.kind}_ambiguous", error=str(exc))
        return update_row(ledger, delivery, row_id, _set(delivery.ambiguous, str(exc)), now)
    except RejectedError as exc:
        refusal = str(exc)
        logger.warning(f"{delivery.kind}_rejected", error=refusal)
        return update_row(
            ledger, delivery, row_id, lambda s, r: delivery.refuse(s, r, refusal, now), now
        )
    except AdapterError as exc:  # not sent: connect failure, auth, rate limit
        return update_row(ledger, delivery, row_id, _set(delivery.queued, str(exc)), now)
    crash_point(f"{delivery.kind}_after_response")
    state = recorded(result)
    logger.info(f"{delivery.kind}_sent", state=state, attempts=attempts + 1)
    return state


def _resolve_in_progress(
    ledger: Ledger,
    delivery: Delivery[Snapshot, Result],
    row_id: int,
    snap: Snapshot,
    exc: InProgressError,
    now: datetime,
    recorded: Any,
    logger: Any,
) -> str:
    """ "Already in progress": ours, if the insurer has the reference; else not taken."""
    update_row(ledger, delivery, row_id, _set(delivery.ambiguous, str(exc)), now)
    try:
        found = delivery.find(snap)
    except AdapterError as lookup:
        note = f"{exc}; look-up failed: {lookup}"
        return update_row(ledger, delivery, row_id, _set(delivery.ambiguous, note), now)
    if found is not None:
        logger.info(f"{delivery.kind}_found_by_reference", after="in_progress")
        state: str = recorded(found)
        return state
    note = f"not taken, the insurer has another request in progress ({exc}); sent again later"
    return update_row(ledger, delivery, row_id, _set(delivery.queued, note), now)
