"""``tci buyers resolve``: one buyer per legal entity, with every assessment beside it.

1. Each buyer's identifiers are confirmed and extended at the bureaus (a company found
   by one of the buyer's own identifiers gives its other identifiers and parents; a
   buyer with no identifier is searched by name, and a candidate is taken only when the
   bureau's own confidence and the name score both reach the configured thresholds);
   assessments are stored per provider. A page of buyers at a time; a bureau with a
   loaded golden copy answers from the ledger, everything else through a worker pool
   per provider (:mod:`tci_gateway.services.identity_enrich`). Only what was found is
   kept, so the memory held per account is its identifiers and its grouping.
2. The pure rules of :mod:`tci_gateway.domain.identity` group the ERP accounts.
3. Buyers of one group are merged; identifiers and parents are stored; everything a
   rule could not decide goes to the review queue with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter
from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.identity import AccountRecord, ReviewState, resolve
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow, ReviewItemRow
from tci_gateway.logs import get_logger
from tci_gateway.services.identity_enrich import (
    BuyerToEnrich,
    Enricher,
    Enrichment,
    ResolveConfig,
)
from tci_gateway.services.limits import refresh as refresh_limits

__all__ = ["Enrichment", "ResolveConfig", "ResolveReport", "merge", "resolve_buyers"]


@dataclass
class ResolveReport:
    accounts: int = 0
    buyers_before: int = 0
    buyers_after: int = 0
    merged: list[str] = field(default_factory=list)
    identifiers_added: int = 0
    assessments: int = 0
    parents: int = 0
    reviews_new: int = 0
    reviews_pending: int = 0
    unconfirmed_candidates: int = 0
    insurer_ids_found: int = 0
    bureau_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The one judgement of a resolution: every bureau answered."""
        return not self.bureau_errors


_NONE: frozenset[Identifier] = frozenset()


def _accounts(session: Session) -> Iterator[tuple[str, str, str, int]]:
    """Every ERP account as ``(account, name, buyer country, buyer id)``, by account,
    streamed."""
    rows = session.execute(
        select(ErpAccountRow.account, ErpAccountRow.name, BuyerRow.country, ErpAccountRow.buyer_id)
        .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
        .order_by(ErpAccountRow.account)
        .execution_options(yield_per=2000)
    )
    yield from ((a, n, c, b) for a, n, c, b in rows)  # plain tuples, not rows


def _identifiers(session: Session) -> dict[int, frozenset[Identifier]]:
    """Each buyer's identifiers (buyers without any are absent)."""
    rows = session.execute(
        select(
            BuyerIdentifierRow.buyer_id,
            BuyerIdentifierRow.scheme,
            BuyerIdentifierRow.issuer,
            BuyerIdentifierRow.value,
        ).order_by(BuyerIdentifierRow.buyer_id)
    )
    schemes = {s.value: s for s in Scheme}
    return {
        buyer_id: frozenset(Identifier(schemes[s], v, i) for _, s, i, v in group)
        for buyer_id, group in groupby(rows, key=itemgetter(0))
    }


def _buyer_pages(
    ledger: Ledger, idents: Mapping[int, frozenset[Identifier]], size: int
) -> Iterator[list[BuyerToEnrich]]:
    """Every buyer, ``size`` at a time by id (a short read per page)."""
    last = 0
    while True:
        with ledger.reading() as session:
            rows = session.execute(
                select(BuyerRow.id, BuyerRow.name, BuyerRow.country)
                .where(BuyerRow.id > last)
                .order_by(BuyerRow.id)
                .limit(size)
            ).all()
        if not rows:
            return
        yield [BuyerToEnrich(b, n, c, idents.get(b, _NONE)) for b, n, c in rows]
        last = rows[-1][0]


def _enrich(
    ledger: Ledger,
    idents: Mapping[int, frozenset[Identifier]],
    bureaus: Mapping[str, BureauAdapter],
    insurers: Mapping[str, InsurerAdapter],
    config: ResolveConfig,
    progress: Callable[[int], None] | None,
) -> dict[int, Enrichment]:
    """Step 1, a page at a time; only the buyers something was found for are kept."""
    enriched: dict[int, Enrichment] = {}
    done = 0
    with Enricher(ledger, bureaus, insurers, config) as enricher:
        for page in _buyer_pages(ledger, idents, max(1, config.page_size)):
            for buyer_id, enrichment in enricher.enrich(page):
                if enrichment:
                    enriched[buyer_id] = enrichment
                done += 1
                if progress:
                    progress(done)
    return enriched


def merge(
    session: Session,
    keep: int,
    drop: int,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
) -> identity_repo.MergeResult:
    """Merge buyer ``drop`` into ``keep`` (every table that points at buyers,
    :mod:`tci_gateway.ledger.buyer_merge`) and, in the same transaction, compute again
    the limit in force of ``keep`` under each configured policy whose cover history the
    merge changed (the change reaches the ERP's changed-since export). A policy of the
    ledger that is not configured is left to the date roll of a configuration that has
    it. Raises :class:`~tci_gateway.ledger.identity.MergeConflict` when a person must
    decide."""
    result = identity_repo.merge_buyers(session, keep, drop)
    if result.limit_policies:
        ids = policy_ids(session)
        for key, policy in sorted(policies.items()):
            if ids.get(key) in result.limit_policies:
                refresh_limits(
                    session, policy, ids[key], [keep], now=now, reason=LimitChangeReason.MERGE
                )
    return result


def resolve_buyers(
    ledger: Ledger,
    *,
    bureaus: Mapping[str, BureauAdapter],
    now: datetime,
    insurers: Mapping[str, InsurerAdapter] | None = None,
    config: ResolveConfig | None = None,
    progress: Callable[[int], None] | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> ResolveReport:
    """Resolve every ERP account to one buyer per legal entity (module docstring).
    ``policies`` are the configured ones, under which a merged buyer's limit in force is
    computed again at once (:func:`merge`)."""
    config = config or ResolveConfig()
    log = get_logger()
    report = ResolveReport()
    with ledger.reading() as session:
        idents = _identifiers(session)
        report.buyers_before = session.scalar(select(func.count()).select_from(BuyerRow)) or 0
    enriched: dict[int, Enrichment] = {}
    if bureaus or insurers:
        enriched = _enrich(ledger, idents, bureaus, insurers or {}, config, progress)
    records: list[AccountRecord] = []
    buyer_of: dict[str, int] = {}
    first_account: dict[int, str] = {}
    with ledger.reading() as session:
        for account, name, country, buyer_id in _accounts(session):
            own = idents.get(buyer_id, _NONE)
            found = enriched.get(buyer_id)
            if found is not None and (found.identifiers or found.insurer_ids):
                own = own | found.identifiers | found.insurer_ids
            records.append(AccountRecord(account, name, country, own))
            buyer_of[account] = buyer_id
            first_account.setdefault(buyer_id, account)
    report.accounts = len(records)
    resolution = resolve(records, config.rules)
    del records
    moved: dict[int, int] = {}  # merged buyer -> the buyer it now lives on as
    with ledger.unit_of_work() as session:
        for entity in resolution.entities:
            owners = sorted({buyer_of[a] for a in entity})
            keep = owners[0]
            known = set(idents.get(keep, _NONE))
            for drop in owners[1:]:
                try:
                    with session.begin_nested():
                        merge(session, keep, drop, policies=policies or {}, now=now)
                    moved[drop] = keep
                    known |= idents.get(drop, _NONE)
                    report.merged.append(f"buyer {drop} into {keep}")
                except identity_repo.MergeConflict as exc:
                    pair = (first_account[keep], first_account[drop])
                    report.reviews_new += identity_repo.add_review(
                        session, pair, 100.0, str(exc), now
                    )
            if not resolution.identifiers[entity] <= known:  # only when there is news
                sources = {
                    ident: origin
                    for owner in owners
                    if owner in enriched
                    for ident, origin in enriched[owner].sources.items()
                }
                report.identifiers_added += buyer_repo.add_identifiers(
                    session, keep, resolution.identifiers[entity], source=sources, now=now
                )
        for buyer_id, enrichment in enriched.items():
            alive = moved.get(buyer_id, buyer_id)
            for relation, parent, source in enrichment.parents:
                identity_repo.store_parent(session, alive, relation, parent, source, now)
                report.parents += 1
            for assessment in enrichment.assessments:
                report.assessments += identity_repo.store_assessment(
                    session, alive, assessment, now
                )
            report.bureau_errors.extend(enrichment.errors)
            report.insurer_ids_found += len(enrichment.insurer_ids)
            report.unconfirmed_candidates += enrichment.unconfirmed
        for item in resolution.reviews:
            report.reviews_new += identity_repo.add_review(
                session, item.accounts, item.score, item.reason, now
            )
        report.reviews_pending = (
            session.scalar(
                select(func.count())
                .select_from(ReviewItemRow)
                .where(ReviewItemRow.state == ReviewState.PENDING)
            )
            or 0
        )
        report.buyers_after = session.scalar(select(func.count()).select_from(BuyerRow)) or 0
    log.info(
        "buyers_resolved",
        accounts=report.accounts,
        merged=len(report.merged),
        reviews_new=report.reviews_new,
        bureau_errors=len(report.bureau_errors),
    )
    return report
