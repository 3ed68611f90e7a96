"""Limit sync: an insurer's portfolio into the ledger's cover history.

For one insurer and policy:

1. **stage**: the portfolio is fetched page by page and every record is written, with
   its raw payload and provenance (source, external id, fetched at), its normalised
   decision and a digest of the raw record, to ``sync_staging``; memory does not grow
   with the portfolio. Each page is first compared, digest by digest and position by
   position, with the records of the policy's last run that staged its whole portfolio
   (:func:`~tci_gateway.ledger.staging.baseline_run`): while they hash the same nothing
   is written; at the first difference the records that matched are copied from that
   run's staging in one statement and the rest is staged as fetched. A portfolio that
   hashes the same as that run's, record for record, is neither staged nor reconciled:
   the run is recorded with its figures (every record unchanged, those that run found
   stale stale again) and the covers that run's snapshot did not list are checked for
   ``cover_missing`` as below;
2. **reconcile**, in one transaction: each staged entry is a version of a buyer's cover
   (a portfolio may hold several per buyer: a decision and the reduction that replaced
   it; ``backfill`` reads the insurer's cover history too). It is compared with the
   stored versions of the same cover (insurer cover ref and effective-from) and only
   what is new is appended; an entry older than the version it would replace is skipped
   (a sync never replaces newer data with older), while an older one that starts earlier
   is kept as history. The buyer's newest version raises its events as alerts; a cover
   the ledger holds but the snapshot no longer lists raises ``cover_missing`` (the limit
   is not changed on an absence). The run's outcome and figures commit in the same
   transaction. Entries are reconciled a batch at a time against the stored versions of
   that batch's buyers only.

If fetching fails part-way, nothing is reconciled: that insurer's limits stay exactly as
they were. A run killed before its reconciliation committed leaves ``running`` behind;
the next run of the policy marks it interrupted, prunes its staged rows and starts over.
Staged rows are kept ``staging_retention_days`` (see :mod:`tci_gateway.ledger.staging`).
Records an adapter could not read are collected in the run report, and the rest goes on.
A rerun with no change writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import (
    CoverHistory,
    InsurerAdapter,
    PolicyRef,
    PortfolioItem,
)
from tci_gateway.crashpoints import crash_point
from tci_gateway.domain.alerts import AlertKind, CoverChange, cover_change, event_message
from tci_gateway.domain.cover import CoverDecision, LimitChangeReason, is_stale, limit_in_force
from tci_gateway.domain.identifiers import IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.parties import UNKNOWN_COUNTRY
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.sync import SyncReport, SyncStatus
from tci_gateway.errors import AdapterError, ConfigError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger import covers as cover_repo
from tci_gateway.ledger import unlisted
from tci_gateway.ledger.covers import StoredVersion
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.limits import lock_writers
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import (
    add_alerts,
    alert_values,
    finish_sync_run,
    mark_interrupted,
    start_sync_run,
)
from tci_gateway.ledger.staging import (
    DEFAULT_RETENTION_DAYS,
    StagedEntry,
    baseline_run,
    listed_after,
    prune_staging,
    staged,
    unlisted_buyers,
)
from tci_gateway.ledger.tables import BuyerIdentifierRow
from tci_gateway.logs import get_logger
from tci_gateway.services.limits import (
    begin_refresh,
    refresh,
    refresh_after_sync,
    store_limits,
)
from tci_gateway.services.sync_stage import fetch_and_stage

BATCH = 1000
DEFERRED_MAX = 50_000
"""Buyers whose limits may wait for the end of a run before the run refreshes all of its
buyers' limits at the end instead (a few MB)."""

__all__ = ["SyncReport", "history_source", "prune_staged", "sync_limits"]


def history_source(adapter: InsurerAdapter) -> Callable[[PolicyRef], Iterable[PortfolioItem]]:
    """What a back-fill reads: the cover history of an adapter that declares the
    ``cover_history`` capability. Any other adapter is refused with a
    :class:`ConfigError` (exit 2) before anything is fetched or written."""
    if not adapter.capabilities.cover_history or not isinstance(adapter, CoverHistory):
        raise ConfigError(
            f"insurer {adapter.name!r} offers no cover history: `tci sync limits --backfill` "
            "needs an adapter with the cover_history capability (sync without --backfill)"
        )
    return adapter.fetch_cover_history


def _cover_key(decision: CoverDecision) -> tuple[str, date]:
    """What makes two records versions of the same cover: the insurer's cover reference
    and the date it takes effect."""
    return decision.insurer_cover_ref, decision.effective_from


def _newest(history: list[StoredVersion]) -> StoredVersion:
    """A buyer's newest version: the latest effective-from, then the last recorded (as
    :func:`~tci_gateway.ledger.covers.latest_versions`)."""
    return max(history, key=lambda v: (v.decision.effective_from, v.id))


@dataclass(frozen=True)
class _Change:
    """An entry to append; ``governs`` when it is the buyer's newest version (its events
    are raised against ``before``), not a back-dated version kept as history."""

    buyer_id: int
    entry: StagedEntry
    before: CoverDecision | None
    governs: bool


class _Reconciler:
    """Compares staged entries with the stored versions and appends what is new, in one
    transaction, a batch at a time: only the batch's buyers (their identifiers, their
    stored versions) are read, so memory does not grow with the portfolio."""

    def __init__(
        self, session: Session, policy: Policy, policy_id: int, run_id: int, now: datetime
    ) -> None:
        self.session, self.policy, self.policy_id, self.run_id = session, policy, policy_id, run_id
        self.now = now
        self.day: date = policy.terms.business_date(now)
        self.buyers: dict[str, int] = {}
        self.alerts: list[dict[str, Any]] = []
        self.refreshing = False
        # Buyers with versions of this run whose limits wait for the end of the run (more
        # of their records come later); None: too many to hold, every buyer of the run.
        self.deferred: set[int] | None = set()

    def alert(self, kind: AlertKind, message: str, key: str, buyer_id: int, **details: Any) -> None:
        self.alerts.append(
            alert_values(
                kind=kind,
                message=message,
                business_date=self.day,
                now=self.now,
                dedupe_key=f"{kind.value}:{self.policy.key}:{key}",
                buyer_id=buyer_id,
                policy_id=self.policy_id,
                sync_run_id=self.run_id,
                details=details or None,
            )
        )

    def known_buyers(self, entries: list[StagedEntry]) -> dict[str, int]:
        """The buyers the ledger knows by the insurer ids of these entries."""
        values = sorted({entry.insurer_buyer_id for entry in entries})
        # Filtered by value alone in SQL (its own index): with the scheme and issuer in
        # the WHERE too, PostgreSQL scanned every identifier of the insurer per batch.
        rows = self.session.execute(
            select(
                BuyerIdentifierRow.value,
                BuyerIdentifierRow.buyer_id,
                BuyerIdentifierRow.scheme,
                BuyerIdentifierRow.issuer,
            ).where(BuyerIdentifierRow.value.in_(values))
        )
        insurer = (Scheme.INSURER.value, self.policy.insurer)
        return {value: buyer_id for value, buyer_id, *of in rows if tuple(of) == insurer}

    def buyer(self, entry: StagedEntry, report: SyncReport) -> int | None:
        known = self.buyers.get(entry.insurer_buyer_id)
        if known is not None:
            return known
        insurer = self.policy.insurer
        try:
            ident = parse_identifier(Scheme.INSURER, entry.insurer_buyer_id, insurer)
        except IdentifierError as exc:
            report.errors.append(f"{insurer} buyer {entry.insurer_buyer_id!r}: {exc}")
            return None
        name = entry.buyer_name or f"{insurer} buyer {entry.insurer_buyer_id}"
        buyer_id = buyer_repo.create_buyer(
            self.session, name, entry.buyer_country or UNKNOWN_COUNTRY, self.now
        )
        buyer_repo.add_identifiers(
            self.session, buyer_id, [ident], source=f"sync:{insurer}", now=self.now
        )
        self.buyers[entry.insurer_buyer_id] = buyer_id
        self.alert(
            AlertKind.UNKNOWN_BUYER,
            f"{insurer} covers buyer {entry.insurer_buyer_id} ({name}), unknown to the ERP "
            "import: link it to an ERP account",
            f"unknown:{entry.insurer_buyer_id}",
            buyer_id,
            raw_codes=dict(entry.decision.raw_codes),
        )
        return buyer_id

    def batch(self, entries: list[StagedEntry], report: SyncReport) -> None:
        """Judge each entry against the stored versions of the same cover (insurer cover
        ref and effective-from) and against the buyer's newest version, then append what
        is new. A record older than its buyer's newest version is kept as history (silently)
        unless it would govern in its place, which would replace newer data with older.
        The stored versions include those of earlier batches of this run (same
        transaction), so a buyer listed in several batches is judged as in one."""
        self.buyers = self.known_buyers(entries)
        resolved = [(self.buyer(entry, report), entry) for entry in entries]
        stored = cover_repo.versions_of_buyers(
            self.session, self.policy_id, {b for b, _ in resolved if b is not None}
        )
        latest = {buyer_id: _newest(history) for buyer_id, history in stored.items()}
        same_cover: dict[tuple[int, str, date], list[CoverDecision]] = {}
        for owner, history in stored.items():
            for version in history:
                same_cover.setdefault((owner, *_cover_key(version.decision)), []).append(
                    version.decision
                )
        newest: dict[int, CoverDecision] = {}
        changes: list[_Change] = []
        for buyer_id, entry in resolved:
            if buyer_id is None:
                continue
            incoming = entry.decision
            known = same_cover.setdefault((buyer_id, *_cover_key(incoming)), [])
            stored_newest = latest.get(buyer_id)
            current = newest.get(buyer_id) or (stored_newest.decision if stored_newest else None)
            if any(incoming.same_content(version) for version in known):
                report.unchanged += 1
            elif (known and is_stale(incoming, known[-1])) or (
                current is not None
                and incoming.effective_from >= current.effective_from
                and is_stale(incoming, current)
            ):
                report.stale += 1
            else:
                governs = current is None or incoming.effective_from >= current.effective_from
                changes.append(_Change(buyer_id, entry, current, governs))
                known.append(incoming)
                if governs:
                    newest[buyer_id] = incoming
        ids = cover_repo.add_versions(
            self.session,
            self.policy_id,
            [(c.buyer_id, c.entry.decision) for c in changes],
            recorded_at=self.now,
            sync_run_id=self.run_id,
        )
        histories = stored
        for version_id, change in zip(ids, changes, strict=True):
            history = histories.setdefault(change.buyer_id, [])
            version = StoredVersion(change.entry.decision, version_id, change.buyer_id, self.now)
            earlier = list(history)
            history.append(version)
            if not change.governs:
                continue  # history behind the newest version: nothing changed today
            buyer_id, entry = change.buyer_id, change.entry
            cover = cover_change(earlier, version, self.day)
            for kind in cover.events:
                self.alert(
                    kind,
                    _event_message(kind, entry, cover),
                    f"{buyer_id}:{version_id}",
                    buyer_id,
                    cover_ref=entry.decision.insurer_cover_ref,
                    raw_codes=dict(entry.decision.raw_codes),
                    limit_in_force=str(cover.today.amount),
                )
        report.written += len(ids)
        self.flush_alerts(report)
        self.refresh_limits(entries, {c.buyer_id for c in changes}, histories)

    def refresh_limits(
        self,
        entries: list[StagedEntry],
        changed: set[int],
        histories: dict[int, list[StoredVersion]],
    ) -> None:
        """Store the limits of the buyers this batch wrote a version for, from the
        histories the batch holds (each buyer's whole history: the stored versions and
        those just added), unless more of a buyer's records come later in the run: those
        wait for :meth:`finish_limits`, so a limit changes at most once per run."""
        if not changed:
            return
        if not self.refreshing:
            begin_refresh(self.session, self.policy, self.policy_id, now=self.now)
            self.refreshing = True
        ids = [
            e.insurer_buyer_id for e in entries if self.buyers.get(e.insurer_buyer_id) in changed
        ]
        later = listed_after(self.session, self.run_id, entries[-1].position + 1, ids)
        waiting = {self.buyers[value] for value in later}
        ready = sorted(changed - waiting)
        if self.deferred is not None:
            self.deferred.difference_update(ready)
            self.deferred.update(waiting)
            if len(self.deferred) > DEFERRED_MAX:
                self.deferred = None
        store_limits(
            self.session,
            self.policy,
            self.policy_id,
            histories,
            ready,
            now=self.now,
            reason=LimitChangeReason.SYNC,
        )

    def finish_limits(self) -> None:
        """The limits left for the end of the run (all of the run's buyers when there
        were too many to hold), read back from the ledger."""
        if self.deferred is None:
            refresh_after_sync(self.session, self.policy, self.policy_id, self.run_id, now=self.now)
            return
        if not self.refreshing:  # as a run that wrote nothing does: rolled state kept right
            begin_refresh(self.session, self.policy, self.policy_id, now=self.now)
        if self.deferred:
            refresh(
                self.session,
                self.policy,
                self.policy_id,
                self.deferred,
                now=self.now,
                reason=LimitChangeReason.SYNC,
            )

    def missing(self, report: SyncReport, listed_by: int) -> None:
        """``cover_missing`` for each buyer with a limit in force that the snapshot staged
        by run ``listed_by`` does not list (the limit is kept); a page of buyers at a
        time. Which buyers that snapshot leaves out is walked once per snapshot and
        recorded (:mod:`tci_gateway.ledger.unlisted`); a rerun with the same snapshot
        reads the buyers found and judges only them on its own day."""
        lock_writers(self.session)  # PostgreSQL: what the record's triggers take too
        recorded = unlisted.holds(self.session, self.policy_id, listed_by)
        if not recorded:
            unlisted.forget(self.session, self.policy_id)
        after = 0
        while True:
            if recorded:
                unseen = unlisted.found(self.session, self.policy_id, after=after, limit=BATCH)
            else:
                unseen = unlisted_buyers(
                    self.session,
                    self.policy_id,
                    self.policy.insurer,
                    listed_by,
                    after=after,
                    limit=BATCH,
                )
                unlisted.add_found(self.session, self.policy_id, unseen)
            if not unseen:
                break
            after = unseen[-1]
            histories = cover_repo.versions_of_buyers(self.session, self.policy_id, unseen)
            for buyer_id, history in histories.items():
                cover = limit_in_force(history, self.day)
                limit, version = cover.amount, cover.governing
                if limit is None or limit.is_zero() or version is None:
                    continue
                self.alert(
                    AlertKind.COVER_MISSING,
                    f"cover {version.decision.insurer_cover_ref} ({limit}) is no longer in the "
                    f"{self.policy.insurer} portfolio: check it with the insurer (the limit "
                    "is kept)",
                    f"missing:{buyer_id}:{version.id}",
                    buyer_id,
                    raw_codes=dict(version.decision.raw_codes),
                    limit_in_force=str(limit.amount),
                )
            self.flush_alerts(report)
        if not recorded:
            unlisted.record(self.session, self.policy_id, listed_by)

    def flush_alerts(self, report: SyncReport) -> None:
        report.alerts += add_alerts(self.session, self.alerts)  # stored, not raised
        self.alerts = []


def sync_limits(
    ledger: Ledger,
    adapter: InsurerAdapter,
    policy: Policy,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    backfill: bool = False,
    staging_retention_days: int = DEFAULT_RETENTION_DAYS,
) -> SyncReport:
    """Sync one policy's covered limits from ``adapter``; see the module docstring.
    ``backfill``: read the insurer's cover history (:func:`history_source`) instead of
    the portfolio, so past versions are kept too. Staged rows older than
    ``staging_retention_days`` (and those of failed runs) are pruned first."""
    fetch = history_source(adapter) if backfill else adapter.fetch_portfolio
    report = SyncReport(insurer=policy.insurer, policy=policy.key, backfill=backfill)
    business_date = policy.terms.business_date(now)
    log = get_logger(adapter=adapter.name, policy=policy.key)
    with ledger.unit_of_work() as session:
        policy_id = upsert_policies(session, {policy.key: policy}, now)[policy.key]
        interrupted = mark_interrupted(session, policy_id, now)
        report.staging_pruned = prune_staging(
            session, now=now, retention_days=staging_retention_days
        )
        baseline = None if backfill else baseline_run(session, policy_id)
        run_id = start_sync_run(
            session,
            insurer=policy.insurer,
            policy_id=policy_id,
            business_date=business_date,
            now=now,
        )
    report.run_id = run_id
    log = log.bind(run_id=run_id)
    log.info("limit_sync_started", business_date=str(business_date), interrupted_before=interrupted)
    try:
        same = fetch_and_stage(
            ledger, adapter, fetch, policy, run_id, baseline, report, now, progress
        )
    except AdapterError as exc:
        report.status = SyncStatus.FAILED
        report.errors.append(f"portfolio fetch failed, nothing written: {exc}")
        log.error("limit_sync_failed", error=str(exc), fetched=report.fetched)
        _finish(ledger, report, now)
        return report
    crash_point("sync_after_stage")
    with ledger.unit_of_work() as session:
        reconciler = _Reconciler(session, policy, policy_id, run_id, now)
        if same and baseline is not None:
            # The same records as the baseline run's: judged the same way again.
            report.stale = min(baseline.stale, report.fetched)
            report.unchanged = report.fetched - report.stale
            reconciler.missing(report, listed_by=baseline.run_id)
        else:
            for start in range(0, report.fetched, BATCH):
                reconciler.batch(staged(session, run_id, start, start + BATCH), report)
            reconciler.missing(report, listed_by=run_id)
            reconciler.finish_limits()
        # The outcome commits with what it describes: a kill after this commit leaves
        # the run recorded with its true figures, never "running" with zeros.
        report.status = SyncStatus.PARTIAL if report.errors else SyncStatus.SUCCEEDED
        _record(session, report, now)
    crash_point("sync_after_reconcile")
    log.info(
        "limit_sync_finished",
        status=report.status,
        fetched=report.fetched,
        written=report.written,
        unchanged=report.unchanged,
        stale=report.stale,
        errors=len(report.errors),
        same_as_before=same,
    )
    return report


def prune_staged(
    ledger: Ledger, *, now: datetime, staging_retention_days: int = DEFAULT_RETENTION_DAYS
) -> int:
    """Prune the staging table on its own (the nightly cycle does it before syncing):
    rows older than the retention and those of failed runs. Returns the rows deleted."""
    with ledger.unit_of_work() as session:
        return prune_staging(session, now=now, retention_days=staging_retention_days)


def _finish(ledger: Ledger, report: SyncReport, now: datetime) -> None:
    with ledger.unit_of_work() as session:
        _record(session, report, now)


def _record(session: Session, report: SyncReport, now: datetime) -> None:
    assert report.run_id is not None
    finish_sync_run(
        session,
        report.run_id,
        status=report.status,
        now=now,
        fetched=report.fetched,
        written=report.written,
        unchanged=report.unchanged,
        stale=report.stale,
        errors=report.errors[:500],
    )


def _event_message(kind: AlertKind, entry: StagedEntry, change: CoverChange) -> str:
    return event_message(
        kind, f"{entry.buyer_name} ({entry.insurer_buyer_id})", entry.decision, change
    )
