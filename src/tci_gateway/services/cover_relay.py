"""The cover-request relay: what each ``tci serve`` process does, every few seconds, to
the cover requests queued through the API (and any other open one).

One pass takes the requests that are due, oldest first:

* ``QUEUED`` never tried: sent now;
* ``QUEUED`` tried before, or ``AMBIGUOUS``: looked up by reference, then sent if the
  insurer has no record of it, once ``retry_every`` has passed since the last try;
* ``PENDING``: polled once ``poll_every`` has passed since the last answer;
* any open request an insurer's callback asked about (:mod:`.insurer_hooks`): looked
  up now, whatever its schedule.

Each is moved forward by :func:`tci_gateway.services.cover_requests.advance`, which
claims the row first (:mod:`tci_gateway.ledger.row_claims`): several processes run this
relay on one ledger, and a row another one is advancing is skipped, so no request is
ever sent twice. When ``public_url`` is set and the insurer's adapter declares
``capabilities.webhooks``, each send registers a callback URL for the insurer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.domain.cover import OPEN_REQUEST_STATES, CoverRequestState
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import ConfigError
from tci_gateway.ledger.api_tables import InsurerHookRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverRequestRow, PolicyRow
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services import cover_requests, insurer_hooks
from tci_gateway.services.outbox import CLAIMED_ELSEWHERE

S = CoverRequestState


@dataclass(frozen=True)
class RelayOptions:
    """``poll_every``: how often a pending request is polled; ``retry_every``: how long
    an unsent or ambiguous request waits between tries; ``batch``: requests per pass;
    ``public_url``: where insurers call back (empty: no callbacks)."""

    poll_every: timedelta = timedelta(minutes=5)
    retry_every: timedelta = timedelta(seconds=30)
    batch: int = 100
    public_url: str = ""


@dataclass
class RelayReport:
    """What one pass did: requests advanced (by state reached), those skipped because
    another process held them, look-ups asked for by callbacks, and one line per
    request that failed in an unexpected way."""

    advanced: dict[str, int] = field(default_factory=dict)
    claimed_elsewhere: int = 0
    hook_lookups: int = 0
    errors: list[str] = field(default_factory=list)


def due(ledger: Ledger, now: datetime, options: RelayOptions) -> list[tuple[int, str]]:
    """``(request id, policy key)`` of the requests due now, oldest first."""
    row = CoverRequestRow
    # The few requests a callback asked about (a subquery read once, not per request).
    hooked = row.id.in_(
        select(InsurerHookRow.cover_request_id).where(
            InsurerHookRow.lookup_requested_at.is_not(None)
        )
    )
    condition = or_(
        and_(row.state == S.QUEUED, row.attempts == 0),
        and_(
            row.state.in_((S.QUEUED, S.AMBIGUOUS)),
            row.updated_at <= now - options.retry_every,
        ),
        and_(row.state == S.PENDING, row.updated_at <= now - options.poll_every),
        and_(row.state.in_(OPEN_REQUEST_STATES), hooked),
    )
    with ledger.reading() as session:
        return [
            (request_id, key)
            for request_id, key in session.execute(
                select(row.id, PolicyRow.key)
                .join(PolicyRow, PolicyRow.id == row.policy_id)
                .where(condition)
                .order_by(row.id)
                .limit(options.batch)
            )
        ]


def relay(
    ledger: Ledger,
    adapter_for: Callable[[str], InsurerAdapter],
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    options: RelayOptions,
) -> RelayReport:
    """One pass over the due requests (module docstring). A request whose policy or
    insurer is no longer configured is left alone; one that fails unexpectedly is
    reported and the pass goes on."""
    report = RelayReport()
    log = get_logger(task="cover_relay")
    for request_id, key in due(ledger, now, options):
        policy = policies.get(key)
        if policy is None:
            continue
        try:
            adapter = adapter_for(policy.insurer)
        except ConfigError as exc:
            report.errors.append(f"cover request {request_id}: {exc}")
            continue
        callback = None
        if options.public_url and adapter.capabilities.webhooks:
            callback = insurer_hooks.registrar(
                ledger, policy.insurer, public_url=options.public_url, now=now
            )
        seen = insurer_hooks.pending_lookups(ledger, request_id)
        try:
            state = cover_requests.advance(
                ledger, request_id, adapter, policy, now=now, callback=callback
            )
        except Exception as exc:  # one request's failure never stops the others
            line = f"cover request {request_id}: {type(exc).__name__}: {redact_text(str(exc))}"
            log.error("cover_relay_request_failed", request_id=request_id, error=line)
            report.errors.append(line)
            continue
        if state == CLAIMED_ELSEWHERE:
            report.claimed_elsewhere += 1
            continue
        reached = str(state)  # a StrEnum member: its value
        report.advanced[reached] = report.advanced.get(reached, 0) + 1
        if seen:
            report.hook_lookups += 1
        if seen or callback is not None:
            job = _job_reference(ledger, request_id)
            insurer_hooks.lookup_done(ledger, request_id, seen, job)
    return report


def _job_reference(ledger: Ledger, request_id: int) -> str | None:
    with ledger.reading() as session:
        return session.scalar(
            select(CoverRequestRow.insurer_request_ref).where(CoverRequestRow.id == request_id)
        )
