"""Keeping the limits in force as data, so that changes by date reach the ERP.

The limit in force per buyer and policy (:func:`tci_gateway.domain.cover.limit_in_force`)
is stored in ``limits_in_force`` with the date it next changes; each change is appended
to ``limit_changes``, whose id is the cursor of ``tci export limits --changed-since``.

* the limit sync refreshes the buyers it wrote a version for, in its own transaction
  (:func:`refresh_after_sync`);
* the date roll (:func:`roll_limits`), at the start of each nightly cycle and of every
  limits export, computes again the limits that end by the business date (an announced
  reduction or withdrawal taking effect, a tranche expiring) and those computed for
  another business date. A second roll on the same day writes nothing.

A completed roll records the business date it rolled the policy through
(``limit_rolls``, in the roll's transaction), so a roll of a day already rolled reads one
row and returns: what keeps it true is in :class:`~tci_gateway.ledger.tables.LimitRollRow`
(a writer here that stores limits of another date deletes it; triggers delete it when the
cover history changes outside a sync run or a stored limit is deleted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tci_gateway.crashpoints import crash_point
from tci_gateway.domain.cover import NO_COVER, LimitChangeReason, LimitInForce, limit_in_force
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger.covers import StoredVersion, versions_of_buyers
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.limits import LimitState
from tci_gateway.ledger.policies import (
    limits_rolled,
    mark_limits_rolled,
    policy_ids,
    unmark_limits_rolled,
)


def limit_state(cover: LimitInForce[StoredVersion], currency: str) -> LimitState:
    """What is stored and sent for a buyer: the amount of the limit in force, the known
    decision it comes from (else the latest, pending, version), and until when it holds."""
    shown = cover.governing or cover.latest
    amount = cover.amount
    return LimitState(
        decision_id=shown.id if shown is not None else None,
        status=(cover.status or shown.decision.status).value if shown is not None else NO_COVER,
        amount=amount.amount if amount is not None else Decimal(0),
        currency=amount.currency if amount is not None else currency,
        valid_from=cover.governing.decision.effective_from if cover.governing else None,
        valid_to=cover.next_change,
    )


def refresh(
    session: Session,
    policy: Policy,
    policy_id: int,
    buyer_ids: Collection[int] | None,
    *,
    now: datetime,
    reason: LimitChangeReason,
) -> int:
    """Compute and store the limits in force of some buyers (``None``: every buyer with
    cover history) on the policy's business date; returns how many changed. Reads and
    writes a page of buyers at a time (:data:`~tci_gateway.ledger.limits.PAGE`), so the
    memory it takes does not grow with the portfolio."""
    begin_refresh(session, policy, policy_id, now=now)
    if buyer_ids is None:
        pages: Iterable[list[int]] = limit_repo.policy_buyer_pages(session, policy_id)
    else:
        ordered, size = sorted(buyer_ids), limit_repo.PAGE
        pages = (ordered[i : i + size] for i in range(0, len(ordered), size))
    return _refresh_pages(session, policy, policy_id, pages, now=now, reason=reason)


def _refresh_pages(
    session: Session,
    policy: Policy,
    policy_id: int,
    pages: Iterable[list[int]],
    *,
    now: datetime,
    reason: LimitChangeReason,
) -> int:
    """Compute and store the limits of each page of buyers in turn (the caller holds the
    writers' lock); returns how many changed."""
    changed = 0
    for page in pages:  # bounded IN lists on every backend
        histories = versions_of_buyers(session, policy_id, page)
        changed += store_limits(session, policy, policy_id, histories, page, now=now, reason=reason)
    return changed


def begin_refresh(session: Session, policy: Policy, policy_id: int, *, now: datetime) -> None:
    """What a writer of limits does first in its transaction: take the writers' lock and,
    unless the policy is rolled through this business date, record it as not rolled (it
    stores limits of another date than the one rolled through)."""
    limit_repo.lock_writers(session)
    unmark_limits_rolled(session, policy_id, unless=policy.terms.business_date(now))


def store_limits(
    session: Session,
    policy: Policy,
    policy_id: int,
    histories: Mapping[int, Sequence[StoredVersion]],
    buyer_ids: Sequence[int],
    *,
    now: datetime,
    reason: LimitChangeReason,
) -> int:
    """Compute the limits in force of ``buyer_ids`` (a bounded page) on the policy's
    business date from ``histories``, each buyer's *whole* cover history under the
    policy, and store those that changed; returns how many changed. The caller holds the
    writers' lock (:func:`begin_refresh`)."""
    day = policy.terms.business_date(now)
    currency = policy.terms.currency
    before = limit_repo.stored_limits(session, policy_id, buyer_ids)
    computed = [
        (buyer_id, limit_state(limit_in_force(histories[buyer_id], day), currency))
        for buyer_id in buyer_ids
        if buyer_id in histories
    ]
    changed = limit_repo.write_limits(
        session, policy_id, computed, before, day=day, reason=reason, now=now
    )
    limit_repo.mark_computed(session, policy_id, day, buyer_ids)
    return changed


def refresh_after_sync(
    session: Session, policy: Policy, policy_id: int, run_id: int, *, now: datetime
) -> int:
    """In the sync's reconcile transaction: the limits of the buyers this run wrote a
    version for, a page of buyers at a time. (The run's versions are computed here, so a
    policy rolled through the sync's business date stays rolled; through another date,
    it is not.)"""
    begin_refresh(session, policy, policy_id, now=now)
    pages = limit_repo.policy_buyer_pages(session, policy_id, run_id=run_id)
    return _refresh_pages(session, policy, policy_id, pages, now=now, reason=LimitChangeReason.SYNC)


@dataclass
class RollReport:
    """What a date roll did, per policy key: how many limits it computed and changed."""

    business_dates: dict[str, date] = field(default_factory=dict)
    computed: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())

    @property
    def ok(self) -> bool:
        """The one judgement of a date roll: always true for a report returned (a roll
        that cannot finish raises, and the policies rolled before it stay rolled)."""
        return True


def roll_limits(ledger: Ledger, policies: Mapping[str, Policy], now: datetime) -> RollReport:
    """The date roll: for each configured policy the ledger knows, compute again the
    limits due on its business date (see the module doc), one transaction per policy.

    A policy already rolled through its business date is not read at all (computed 0).
    A policy rolled through an earlier date has no cover history without a stored limit,
    so only its stored limits are walked. The date rolled through is recorded in the
    roll's transaction: a roll that does not finish leaves it as it was."""
    report = RollReport()
    with ledger.reading() as session:
        ids = policy_ids(session)
        rolled = limits_rolled(session)
    for key, policy in sorted(policies.items()):
        if key not in ids:
            continue
        pid, day = ids[key], policy.terms.business_date(now)
        report.business_dates[key] = day
        report.computed[key] = report.changed[key] = 0
        if rolled.get(pid) == day:
            continue  # nothing due: no write transaction, no writers' lock
        with ledger.unit_of_work() as session:
            limit_repo.lock_writers(session)
            through = limits_rolled(session, pid).get(pid)  # another roll may have done it
            if through == day:
                continue
            counted = _Counted(
                limit_repo.due_buyer_pages(session, pid, day, unstored=through is None)
            )
            report.changed[key] = _refresh_pages(
                session, policy, pid, counted, now=now, reason=LimitChangeReason.DATE
            )
            report.computed[key] = counted.count
            mark_limits_rolled(session, pid, day)
    return report


class _Counted:
    """Pages of buyers passed on, counting the buyers."""

    def __init__(self, pages: Iterable[list[int]]) -> None:
        self._pages = pages
        self.count = 0

    def __iter__(self) -> Iterator[list[int]]:
        for page in self._pages:
            self.count += len(page)
            yield page
            crash_point("limits_roll_after_page")  # the page written, the roll not committed
