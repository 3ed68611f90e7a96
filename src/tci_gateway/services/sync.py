"""Limit sync: an insurer's portfolio into the ledger's cover history.

For one insurer and policy: fetch the whole portfolio, then in one transaction diff
each entry against the latest stored version and append only what changed. A rerun
with no change writes nothing; an entry older than what is stored is skipped (a sync
never replaces newer data with older). If fetching fails part-way, nothing is written
and that insurer's limits stay exactly as they were. Records the adapter could not read
are collected in the run report, and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import InsurerAdapter, PolicyRef, PortfolioEntry
from tci_gateway.domain.alerts import AlertKind, cover_events
from tci_gateway.domain.cover import is_stale
from tci_gateway.domain.identifiers import Identifier, IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import AdapterError, RecordError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger import covers as cover_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import add_alert, finish_sync_run, start_sync_run
from tci_gateway.logs import get_logger

UNKNOWN_COUNTRY = "ZZ"  # ISO 3166 user-assigned: the insurer did not say


@dataclass
class SyncReport:
    insurer: str
    policy: str
    run_id: int | None = None
    status: str = "running"
    fetched: int = 0
    written: int = 0
    unchanged: int = 0
    stale: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def policy_ref(policy: Policy) -> PolicyRef:
    return PolicyRef(
        key=policy.key, currency=policy.terms.currency, external_ref=policy.external_ref
    )


def _buyer_for(
    session: Session,
    insurer: str,
    entry: PortfolioEntry,
    now: datetime,
    known: dict[Identifier, int],
) -> tuple[int, bool]:
    """The ledger buyer for an insurer buyer id; creates one (flagged) when unknown."""
    ident = parse_identifier(Scheme.INSURER, entry.insurer_buyer_id, insurer)
    if ident in known:
        return known[ident], False
    found = buyer_repo.buyers_by_identifier(session, [ident])
    if ident in found:
        known[ident] = found[ident]
        return found[ident], False
    buyer_id = buyer_repo.create_buyer(
        session,
        entry.buyer_name or f"{insurer} buyer {entry.insurer_buyer_id}",
        entry.buyer_country or UNKNOWN_COUNTRY,
        now,
    )
    buyer_repo.add_identifiers(session, buyer_id, [ident])
    known[ident] = buyer_id
    return buyer_id, True


def sync_limits(
    ledger: Ledger,
    adapter: InsurerAdapter,
    policy: Policy,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Sync one policy's covered limits from ``adapter``; see the module docstring."""
    report = SyncReport(insurer=policy.insurer, policy=policy.key)
    business_date = policy.terms.business_date(now)
    log = get_logger(adapter=adapter.name, policy=policy.key)
    with ledger.unit_of_work() as session:
        policy_id = upsert_policies(session, {policy.key: policy}, now)[policy.key]
        run_id = start_sync_run(
            session,
            insurer=policy.insurer,
            policy_id=policy_id,
            business_date=business_date,
            now=now,
        )
    report.run_id = run_id
    log = log.bind(run_id=run_id)
    log.info("limit_sync_started", business_date=str(business_date))

    entries: list[PortfolioEntry] = []
    try:
        for item in adapter.fetch_portfolio(policy_ref(policy)):
            if isinstance(item, RecordError):
                report.errors.append(str(item))
            else:
                entries.append(item)
                if progress:
                    progress(len(entries))
    except AdapterError as exc:
        report.status = "failed"
        report.errors.append(f"portfolio fetch failed, nothing written: {exc}")
        log.error("limit_sync_failed", error=str(exc), fetched=len(entries))
        _finish(ledger, report, now)
        return report
    report.fetched = len(entries)

    with ledger.unit_of_work() as session:
        latest = cover_repo.latest_versions(session, policy_id)
        known: dict[Identifier, int] = {}
        for entry in entries:
            try:
                buyer_id, created = _buyer_for(session, policy.insurer, entry, now, known)
            except IdentifierError as exc:
                report.errors.append(f"{policy.insurer} buyer {entry.insurer_buyer_id!r}: {exc}")
                continue
            if created:
                report.alerts += add_alert(
                    session,
                    kind=AlertKind.UNKNOWN_BUYER,
                    business_date=business_date,
                    now=now,
                    message=f"{policy.insurer} covers buyer {entry.insurer_buyer_id} "
                    f"({entry.buyer_name}), unknown to the ERP import: link it to an ERP account",
                    dedupe_key=f"unknown_buyer:{policy.key}:{entry.insurer_buyer_id}",
                    buyer_id=buyer_id,
                    policy_id=policy_id,
                    sync_run_id=run_id,
                )
            previous = latest.get(buyer_id)
            new = entry.decision
            if previous is not None and previous.decision.same_content(new):
                report.unchanged += 1
                continue
            if previous is not None and is_stale(new, previous.decision):
                report.stale += 1
                continue
            version_id = cover_repo.add_version(
                session,
                policy_id=policy_id,
                buyer_id=buyer_id,
                decision=new,
                recorded_at=now,
                sync_run_id=run_id,
            )
            report.written += 1
            for kind in cover_events(previous.decision if previous else None, new, business_date):
                report.alerts += add_alert(
                    session,
                    kind=kind,
                    business_date=business_date,
                    now=now,
                    message=_event_message(kind, entry, previous.decision if previous else None),
                    dedupe_key=f"{kind.value}:{policy.key}:{buyer_id}:{version_id}",
                    buyer_id=buyer_id,
                    policy_id=policy_id,
                    sync_run_id=run_id,
                    details={"cover_ref": new.insurer_cover_ref, "raw_codes": dict(new.raw_codes)},
                )
    report.status = "partial" if report.errors else "succeeded"
    _finish(ledger, report, now)
    log.info(
        "limit_sync_finished",
        status=report.status,
        fetched=report.fetched,
        written=report.written,
        unchanged=report.unchanged,
        stale=report.stale,
        errors=len(report.errors),
    )
    return report


def _finish(ledger: Ledger, report: SyncReport, now: datetime) -> None:
    assert report.run_id is not None
    with ledger.unit_of_work() as session:
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


def _event_message(kind: AlertKind, entry: PortfolioEntry, previous: object) -> str:
    d = entry.decision
    who = f"{entry.buyer_name} ({entry.insurer_buyer_id})"
    amount = f"{d.granted_amount}"
    texts = {
        AlertKind.COVER_NEW: f"new cover for {who}: {amount}",
        AlertKind.COVER_INCREASED: f"cover for {who} increased to {amount}",
        AlertKind.COVER_REDUCED: f"cover for {who} reduced to {amount}",
        AlertKind.COVER_REFUSED: f"cover for {who} refused",
        AlertKind.COVER_WITHDRAWN: f"cover for {who} withdrawn",
        AlertKind.COVER_EXPIRED: f"cover for {who} expired",
        AlertKind.COVER_PENDING: f"cover request for {who} is pending at the insurer",
        AlertKind.PENDING_WITHDRAWAL: f"the insurer announced a withdrawal of cover for {who}",
        AlertKind.UNKNOWN_STATUS_CODE: f"unknown status code(s) {', '.join(d.unknown_codes)} for "
        f"{who}: treated as pending",
    }
    return texts.get(kind, f"{kind.value} for {who}")
