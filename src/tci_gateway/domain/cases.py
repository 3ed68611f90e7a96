"""Overdue cases: their states, the states of their actions, and client references.

A case is one buyer's overdue episode under one policy. Its actions are acts towards the
insurer (or, for a reminder, the risk team), each sent exactly once:

``QUEUED``          written with its client reference, not (known to be) sent;
``AMBIGUOUS``       sent, outcome unknown: looked up by reference before a resend;
``SENT``            the insurer has it (its reference and status are recorded);
``REJECTED``        the insurer refused it (4xx): a person files it by hand;
``MANUAL``          no API for it at this insurer: a filing pack waits for the risk team;
``FILED_MANUALLY``  the risk team confirmed it was filed in the insurer's portal;
``DONE``            an internal step (reminder), done when raised;
``CANCELLED``       the buyer paid before it was ever sent.
"""

from __future__ import annotations

from enum import StrEnum

from tci_gateway.domain.escalation import StepAction


class CaseState(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class ActionState(StrEnum):
    QUEUED = "QUEUED"
    AMBIGUOUS = "AMBIGUOUS"
    SENT = "SENT"
    REJECTED = "REJECTED"
    MANUAL = "MANUAL"
    FILED_MANUALLY = "FILED_MANUALLY"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


TO_SEND = (ActionState.QUEUED, ActionState.AMBIGUOUS)
AWAITING_PERSON = (ActionState.REJECTED, ActionState.MANUAL)
FILED = (ActionState.SENT, ActionState.FILED_MANUALLY)


class ActionChannel(StrEnum):
    """How an action reaches the insurer: its ``API``, a filing pack for a person
    (``MANUAL``), or not at all (``INTERNAL``: a reminder to the risk team)."""

    API = "API"
    MANUAL = "MANUAL"
    INTERNAL = "INTERNAL"


FIRST_STATE = {
    ActionChannel.API: ActionState.QUEUED,
    ActionChannel.MANUAL: ActionState.MANUAL,
    ActionChannel.INTERNAL: ActionState.DONE,
}
"""The state an action is written in, by its channel."""


class InsurerCaseStatus(StrEnum):
    """The case as the insurer reports it (the overdue or claim file)."""

    SUBMITTED = "SUBMITTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    DOCUMENTS_REQUESTED = "DOCUMENTS_REQUESTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_ACCEPTED = "PARTIALLY_ACCEPTED"
    REJECTED = "REJECTED"
    PAID = "PAID"
    CLOSED = "CLOSED"


FINAL_STATUSES = frozenset(
    {InsurerCaseStatus.REJECTED, InsurerCaseStatus.PAID, InsurerCaseStatus.CLOSED}
)

_STATUS_WORDS: dict[str, InsurerCaseStatus] = {
    "DRAFT": InsurerCaseStatus.SUBMITTED,
    "SUBMITTED": InsurerCaseStatus.SUBMITTED,
    "RECEIVED": InsurerCaseStatus.ACKNOWLEDGED,
    "REGISTERED": InsurerCaseStatus.ACKNOWLEDGED,
    "ACKNOWLEDGED": InsurerCaseStatus.ACKNOWLEDGED,
    "UNDER_REVIEW": InsurerCaseStatus.ACKNOWLEDGED,
    "DOCS_REQUESTED": InsurerCaseStatus.DOCUMENTS_REQUESTED,
    "DOCUMENTS_REQUESTED": InsurerCaseStatus.DOCUMENTS_REQUESTED,
    "ACCEPTED": InsurerCaseStatus.ACCEPTED,
    "GRANTED": InsurerCaseStatus.ACCEPTED,
    "PARTIALLY_ACCEPTED": InsurerCaseStatus.PARTIALLY_ACCEPTED,
    "REJECTED": InsurerCaseStatus.REJECTED,
    "REFUSED": InsurerCaseStatus.REJECTED,
    "PAID": InsurerCaseStatus.PAID,
    "CLOSED": InsurerCaseStatus.CLOSED,
}


def insurer_case_status(word: str | None) -> InsurerCaseStatus:
    """The case status for a status an adapter reported (its normalised word, or a raw
    one); anything unknown counts as SUBMITTED: the insurer has the filing."""
    if not word:
        return InsurerCaseStatus.SUBMITTED
    key = word.strip().upper().replace(" ", "_").replace("-", "_")
    return _STATUS_WORDS.get(key, InsurerCaseStatus.SUBMITTED)


def client_reference(case_id: int, action: StepAction) -> str:
    """The client reference of a case's action, derived from our own ids only, so that a
    rerun after a crash derives the same one (at most 64 characters)."""
    return f"tci-case{case_id:07d}-{action.value.lower().replace('_', '-')}"
