"""The claims run: deadline scan, cases and their outbox, sending, status polling.

``run_claims`` is what ``tci claims run`` and the nightly scheduler call. It holds the
ledger-wide ``claims_run`` lock (:mod:`tci_gateway.ledger.locks`), so two runs on one
ledger take turns; the outbox's look-up-before-resend makes a run after a crash safe.
Per-buyer failures are collected in the report; the other buyers go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from tci_gateway.services.cases import channel, close_settled, record_case
from tci_gateway.services.deadlines import OverdueBuyer, ScanPage, among, scan_pages
from tci_gateway.services.outbox import PollReport

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; the total is what has been found so far (the
overdue buyers in the ``cases`` stage, the actions in the ``send`` stage: both are
read page by page)."""
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
    cases: int = 0
    """Overdue buyers whose case this run recorded (counted, not kept: a run may have
    a hundred thousand)."""
    opened: int = 0
    """Of those, the cases this run opened."""
    closed: list[int] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)
    """Actions this run tried to send, by the state each ended in (an
    :class:`~tci_gateway.domain.cases.ActionState`, ``CLAIMED_ELSEWHERE`` or
    ``not configured``)."""
    polled: int = 0
    errors: list[RecordError] = field(default_factory=list)

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


def _open_cases(ledger: Ledger, page: ScanPage) -> dict[tuple[int, int], OpenCase]:
    """The open cases of the page's overdue buyers by (policy id, buyer id), with the
    actions they already have."""
    if not page.buyers:
        return {}
    with ledger.reading() as session:
        heads = {
            case_id: (buyer_id, due)
            for case_id, buyer_id, due in session.execute(
                select(ClaimCaseRow.id, ClaimCaseRow.buyer_id, ClaimCaseRow.due_date).where(
                    ClaimCaseRow.policy_id == page.policy_id,
                    ClaimCaseRow.state == CaseState.OPEN,
                    among(
                        session, ClaimCaseRow.buyer_id.expression, [b.buyer_id for b in page.buyers]
                    ),
                )
            )
        }
        actions: dict[int, set[StepAction]] = {case_id: set() for case_id in heads}
        if heads:
            for case_id, action in session.execute(
                select(CaseActionRow.case_id, CaseActionRow.action).where(
                    among(session, CaseActionRow.case_id.expression, list(heads))
                )
            ):
                actions[case_id].add(action)
    return {
        (page.policy_id, buyer_id): OpenCase(case_id, due, frozenset(actions[case_id]))
        for case_id, (buyer_id, due) in heads.items()
    }


def plan(
    overdue: Iterable[OverdueBuyer],
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


ACTION_PAGE = 1000
"""Actions read per keyset page when sending or polling."""


def _api_actions(ledger: Ledger, *where: ColumnElement[bool]) -> Iterator[tuple[int, str]]:
    """API actions matching ``where``, with their policy key, in id order: read in keyset
    pages of :data:`ACTION_PAGE`, each in a transaction closed before the caller sends
    or polls them (memory holds one page)."""
    after = 0
    while True:
        with ledger.reading() as session:
            page = [
                (action_id, key)
                for action_id, key in session.execute(
                    select(CaseActionRow.id, PolicyRow.key)
                    .join(ClaimCaseRow, ClaimCaseRow.id == CaseActionRow.case_id)
                    .join(PolicyRow, PolicyRow.id == ClaimCaseRow.policy_id)
                    .where(
                        CaseActionRow.channel == ActionChannel.API,
                        CaseActionRow.id > after,
                        *where,
                    )
                    .order_by(CaseActionRow.id)
                    .limit(ACTION_PAGE)
                )
            ]
        yield from page
        if len(page) < ACTION_PAGE:
            return
        after = page[-1][0]


def _to_send(ledger: Ledger) -> Iterator[tuple[int, str]]:
    return _api_actions(ledger, CaseActionRow.state.in_(TO_SEND))


def _to_poll(ledger: Ledger) -> Iterator[tuple[int, str]]:
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
    done = 0
    with exclusive(ledger, "claims_run"):
        if not dry_run:
            # First what the insurers say: an extension granted moves the clock below.
            report.polled = poll_cases(ledger, policies, adapters, now=now).polled
        # Page by page (a page's overdue buyers, then the next page): memory holds one
        # page, never every overdue buyer. The scan has put each buyer with a notified
        # case under that case's clock.
        for page in scan_pages(
            ledger, policies, paths, default_tier=default_tier, now=now, lead_days=lead_days
        ):
            report.overdue_buyers += len(page.buyers)
            report.planned.extend(plan(page.buyers, _open_cases(ledger, page), adapters))
            if dry_run:
                continue
            for ob in page.buyers:
                try:
                    with ledger.unit_of_work() as session:
                        outcome = record_case(
                            session,
                            ob,
                            adapter=adapters.get(ob.policy.insurer),
                            convert=convert,
                            now=now,
                            extension_days=extension_days,
                        )
                    report.cases += 1
                    report.opened += outcome.opened
                except (TciError, ValueError, LookupError) as exc:
                    report.errors.append(
                        RecordError(f"policy {ob.policy.key}", ob.buyer_id, "buyer", str(exc))
                    )
                    log.warning("claims_case_failed", buyer_id=ob.buyer_id, error=str(exc))
                done += 1
                if progress:
                    progress("cases", done, report.overdue_buyers)
            # The open cases of the page's buyer ids whose buyer is no longer overdue.
            with ledger.unit_of_work() as session:
                report.closed.extend(
                    close_settled(
                        session,
                        page.policy_id,
                        {ob.buyer_id for ob in page.buyers},
                        page.today,
                        now,
                        buyers=(page.after, page.upto),
                    )
                )
        if dry_run:
            return report
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
    for index, (action_id, key) in enumerate(_to_send(ledger), 1):
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
            progress("send", index, index)  # streamed: the total is not known ahead


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
