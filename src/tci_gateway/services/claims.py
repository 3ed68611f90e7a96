"""The claims run: deadline scan, cases and their outbox, sending, status polling.

``run_claims`` is what ``tci claims run`` and the nightly scheduler call. It holds the
ledger-wide ``claims_run`` lock (:mod:`tci_gateway.ledger.locks`), so two runs on one
ledger take turns; the outbox's look-up-before-resend makes a run after a crash safe.
Per-buyer failures are collected in the report; the other buyers go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, select

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.domain.cases import (
    FINAL_STATUSES,
    TO_SEND,
    ActionChannel,
    ActionState,
    CaseState,
)
from tci_gateway.domain.escalation import EscalationPath, StepAction
from tci_gateway.domain.exposure import Converter, same_currency_only
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import RecordError, TciError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.locks import exclusive
from tci_gateway.ledger.tables import CaseActionRow, ClaimCaseRow, PolicyRow
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services.case_outbox import poll_action, send_action
from tci_gateway.services.cases import CaseOutcome, channel, close_settled, record_case
from tci_gateway.services.deadlines import OverdueBuyer, scan
from tci_gateway.services.outbox import PollReport

Progress = Callable[[str, int, int], None]
NOT_TAKEN = (*TO_SEND, ActionState.REJECTED)
"""The states an action a run tried to send may end in without the insurer taking it."""


@dataclass(frozen=True)
class PlannedAction:
    case_id: int | None
    policy: str
    buyer_id: int
    buyer_name: str
    action: StepAction
    due_on: date
    channel: ActionChannel
    late: bool


@dataclass
class ClaimsRunReport:
    dry_run: bool
    overdue_buyers: int = 0
    planned: list[PlannedAction] = field(default_factory=list)
    cases: list[CaseOutcome] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)
    """Actions this run tried to send, by the state each ended in (an
    :class:`~tci_gateway.domain.cases.ActionState`, ``CLAIMED_ELSEWHERE`` or
    ``not configured``)."""
    polled: int = 0
    errors: list[RecordError] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return sum(1 for c in self.cases if c.opened)

    @property
    def unsent(self) -> int:
        """Actions this run could not send (still queued, or sent with an unknown
        outcome) or that the insurer refused: a person should look."""
        return sum(self.sent.get(s, 0) for s in NOT_TAKEN)

    @property
    def ok(self) -> bool:
        """The one judgement of a claims run: no buyer failed and every action sent was
        taken by the insurer. Refused or unsent actions are not ok."""
        return not self.errors and not self.unsent


@dataclass(frozen=True)
class OpenCase:
    id: int
    due_date: date
    actions: frozenset[StepAction]


def _open_cases(ledger: Ledger) -> dict[tuple[int, int], OpenCase]:
    """Open cases by (policy id, buyer id), with the actions they already have."""
    with ledger.unit_of_work() as session:
        rows = session.execute(
            select(
                ClaimCaseRow.policy_id,
                ClaimCaseRow.buyer_id,
                ClaimCaseRow.id,
                ClaimCaseRow.due_date,
                CaseActionRow.action,
            )
            .outerjoin(CaseActionRow, CaseActionRow.case_id == ClaimCaseRow.id)
            .where(ClaimCaseRow.state == CaseState.OPEN)
        ).all()
    actions: dict[tuple[int, int], set[StepAction]] = {}
    heads: dict[tuple[int, int], tuple[int, date]] = {}
    for policy_id, buyer_id, case_id, due, action in rows:
        heads[(policy_id, buyer_id)] = (case_id, due)
        entry = actions.setdefault((policy_id, buyer_id), set())
        if action is not None:
            entry.add(action)
    return {
        key: OpenCase(case_id, due, frozenset(actions[key]))
        for key, (case_id, due) in heads.items()
    }


def plan(
    overdue: list[OverdueBuyer],
    cases: Mapping[tuple[int, int], OpenCase],
    adapters: Mapping[str, InsurerAdapter],
) -> list[PlannedAction]:
    """The actions a run would queue: due steps the buyer's open case does not have."""
    planned = []
    for ob in overdue:
        case = cases.get((ob.policy_id, ob.buyer_id))
        case_id, done = (case.id, case.actions) if case else (None, frozenset[StepAction]())
        for step in ob.steps:
            if step.action in done:
                continue
            planned.append(
                PlannedAction(
                    case_id,
                    ob.policy.key,
                    ob.buyer_id,
                    ob.buyer_name,
                    step.action,
                    step.due_on,
                    channel(step.action, adapters.get(ob.policy.insurer)),
                    step.late,
                )
            )
    return planned


def _api_actions(ledger: Ledger, *where: ColumnElement[bool]) -> list[tuple[int, str]]:
    """API actions matching ``where``, with their policy key, in id order."""
    with ledger.unit_of_work() as session:
        return [
            (action_id, key)
            for action_id, key in session.execute(
                select(CaseActionRow.id, PolicyRow.key)
                .join(ClaimCaseRow, ClaimCaseRow.id == CaseActionRow.case_id)
                .join(PolicyRow, PolicyRow.id == ClaimCaseRow.policy_id)
                .where(CaseActionRow.channel == ActionChannel.API, *where)
                .order_by(CaseActionRow.id)
            )
        ]


def _to_send(ledger: Ledger) -> list[tuple[int, str]]:
    return _api_actions(ledger, CaseActionRow.state.in_(TO_SEND))


def _to_poll(ledger: Ledger) -> list[tuple[int, str]]:
    """Filings the insurer has whose status is not final yet."""
    return _api_actions(
        ledger,
        CaseActionRow.state == ActionState.SENT,
        CaseActionRow.insurer_status.is_(None)
        | CaseActionRow.insurer_status.not_in(FINAL_STATUSES),
    )


def run_claims(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    paths: Mapping[str, EscalationPath],
    adapters: Mapping[str, InsurerAdapter],
    *,
    default_tier: str,
    now: datetime,
    convert: Converter = same_currency_only,
    lead_days: tuple[int, ...] = (14, 7, 2),
    dry_run: bool = False,
    progress: Progress | None = None,
    extension_days: int = 30,
) -> ClaimsRunReport:
    """Poll the status of earlier filings, scan deadlines, open and update cases, queue
    due actions, send those with an API. ``dry_run`` only reports what would be
    queued."""
    log = get_logger(job="claims_run")
    report = ClaimsRunReport(dry_run=dry_run)
    with exclusive(ledger, "claims_run"):
        if not dry_run:
            # First what the insurers say: an extension granted moves the clock below.
            report.polled = poll_cases(ledger, policies, adapters, now=now).polled
        overdue = scan(
            ledger, policies, paths, default_tier=default_tier, now=now, lead_days=lead_days
        )
        report.overdue_buyers = len(overdue)
        # The scan has put each buyer with a notified case under that case's clock.
        cases = _open_cases(ledger)
        report.planned = plan(overdue, cases, adapters)
        if dry_run:
            return report
        for index, ob in enumerate(overdue, 1):
            try:
                with ledger.unit_of_work() as session:
                    report.cases.append(
                        record_case(
                            session,
                            ob,
                            adapter=adapters.get(ob.policy.insurer),
                            convert=convert,
                            now=now,
                            extension_days=extension_days,
                        )
                    )
            except (TciError, ValueError, LookupError) as exc:
                report.errors.append(
                    RecordError(f"policy {ob.policy.key}", ob.buyer_id, "buyer", str(exc))
                )
                log.warning("claims_case_failed", buyer_id=ob.buyer_id, error=str(exc))
            if progress:
                progress("cases", index, len(overdue))
        by_policy: dict[int, tuple[date, set[int]]] = {}
        for ob in overdue:
            by_policy.setdefault(ob.policy_id, (ob.today, set()))[1].add(ob.buyer_id)
        with ledger.unit_of_work() as session:
            for key, policy in policies.items():
                pid = session.scalar(select(PolicyRow.id).where(PolicyRow.key == key))
                if pid is None:
                    continue
                today, buyers = by_policy.get(pid, (policy.terms.business_date(now), set()))
                report.closed.extend(close_settled(session, pid, buyers, today, now))
        _send_all(ledger, policies, adapters, now, report, progress)
    log.info(
        "claims_run_finished",
        overdue_buyers=report.overdue_buyers,
        queued=len(report.planned),
        sent=dict(report.sent),
        errors=len(report.errors),
    )
    return report


def _send_all(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    adapters: Mapping[str, InsurerAdapter],
    now: datetime,
    report: ClaimsRunReport,
    progress: Progress | None,
) -> None:
    pending = _to_send(ledger)
    for index, (action_id, key) in enumerate(pending, 1):
        policy = policies.get(key)
        adapter = adapters.get(policy.insurer) if policy else None
        if policy is None or adapter is None:
            report.sent["not configured"] += 1
            continue
        try:
            report.sent[send_action(ledger, action_id, adapter, policy, now=now)] += 1
        except Exception as exc:  # one insurer (a bug in its adapter) never stops the others
            report.errors.append(RecordError(f"policy {key}", action_id, "action", _bug_text(exc)))
            get_logger(job="claims_run").error("claims_send_failed", action_id=action_id)
        if progress:
            progress("send", index, len(pending))


def poll_cases(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    adapters: Mapping[str, InsurerAdapter],
    *,
    now: datetime,
) -> PollReport:
    """Ask the insurers for the status of every filing they have that is not final
    (the intra-day poll job and the start of each claims run). The report counts them
    and names each one whose status poll failed (not ok)."""
    report = PollReport()
    polled = []
    for action_id, key in _to_poll(ledger):
        policy = policies.get(key)
        adapter = adapters.get(policy.insurer) if policy else None
        if policy is None or adapter is None:
            continue
        try:
            poll_action(ledger, action_id, adapter, policy, now=now)
        except Exception as exc:  # one insurer (a bug in its adapter) never stops the others
            report.errors.append(f"case action {action_id}: {_bug_text(exc)}")
            continue
        polled.append(action_id)
    report.polled = len(polled)
    with ledger.unit_of_work() as session:
        for start in range(0, len(polled), 1000):
            # A poll that got an answer clears last_error; one that failed sets it.
            report.errors += [
                f"case action {action_id} ({reference}): {error}"
                for action_id, reference, error in session.execute(
                    select(
                        CaseActionRow.id, CaseActionRow.client_reference, CaseActionRow.last_error
                    )
                    .where(CaseActionRow.id.in_(polled[start : start + 1000]))
                    .where(CaseActionRow.last_error.is_not(None))
                    .order_by(CaseActionRow.id)
                )
            ]
    return report


def _bug_text(exc: Exception) -> str:
    """An adapter's exception as one redacted line, named when it is not one of ours."""
    kind = "" if isinstance(exc, TciError) else f"{type(exc).__name__}: "
    return redact_text(f"{kind}{exc}")
