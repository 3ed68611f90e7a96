"""``tci buyers resolve``: one buyer per legal entity, with every assessment beside it.

1. Each buyer's identifiers are confirmed and extended at the bureaus (a company found
   by one of the buyer's own identifiers gives its other identifiers and parents; a
   buyer with no identifier is searched by name, and a candidate is taken only when the
   bureau's own confidence and the name score both reach the configured thresholds);
   assessments are stored per provider.
2. The pure rules of :mod:`tci_gateway.domain.identity` group the ERP accounts.
3. Buyers of one group are merged; identifiers and parents are stored; everything a
   rule could not decide goes to the review queue with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import (
    Assessment,
    BureauAdapter,
    BuyerQuery,
    CompanyCandidate,
    CompanyQuery,
    InsurerAdapter,
)
from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.identity import (
    AccountRecord,
    ParentRelation,
    ResolutionConfig,
    name_score,
    resolve,
)
from tci_gateway.domain.parties import UNKNOWN_COUNTRY
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import AdapterError, RejectedError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow
from tci_gateway.logs import get_logger
from tci_gateway.services.limits import refresh as refresh_limits


@dataclass(frozen=True)
class ResolveConfig:
    rules: ResolutionConfig = field(default_factory=ResolutionConfig)
    bureau_min_confidence: int = 8
    bureau_min_name_score: float = 90.0
    workers: int = 8


@dataclass
class Enrichment:
    identifiers: set[Identifier] = field(default_factory=set)
    parents: list[tuple[ParentRelation, Identifier, str]] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unconfirmed: int = 0
    insurer_ids: set[Identifier] = field(default_factory=set)
    sources: dict[Identifier, str] = field(default_factory=dict)
    """Where each identifier found came from (``bureau:NAME``, ``insurer:NAME``)."""


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


@dataclass(frozen=True)
class _Buyer:
    id: int
    name: str
    country: str
    identifiers: frozenset[Identifier]


def _load(ledger: Ledger) -> tuple[list[tuple[str, str, str, int]], dict[int, _Buyer]]:
    with ledger.unit_of_work() as session:
        accounts = [
            (a, n, c, b)
            for a, n, c, b in session.execute(
                select(
                    ErpAccountRow.account,
                    ErpAccountRow.name,
                    BuyerRow.country,
                    ErpAccountRow.buyer_id,
                )
                .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
                .order_by(ErpAccountRow.account)
            )
        ]
        idents: dict[int, set[Identifier]] = defaultdict(set)
        for buyer_id, scheme, issuer, value in session.execute(
            select(
                BuyerIdentifierRow.buyer_id,
                BuyerIdentifierRow.scheme,
                BuyerIdentifierRow.issuer,
                BuyerIdentifierRow.value,
            )
        ):
            idents[buyer_id].add(Identifier(Scheme(scheme), value, issuer))
        buyers = {
            bid: _Buyer(bid, name, country, frozenset(idents[bid]))
            for bid, name, country in session.execute(
                select(BuyerRow.id, BuyerRow.name, BuyerRow.country)
            )
        }
    return accounts, buyers


def _take(candidate: CompanyCandidate, enrichment: Enrichment, bureau: BureauAdapter) -> None:
    entity_ids = set(candidate.identifiers)
    if candidate.is_site:
        # A branch is never the buyer: its legal entity is its head office.
        entity_ids = {i for i in (candidate.direct_parent,) if i is not None}
    found = {i for i in entity_ids if i.scheme is not Scheme.INSURER}
    enrichment.identifiers |= found
    for ident in found:
        enrichment.sources.setdefault(ident, f"bureau:{bureau.name}")
    if candidate.direct_parent is not None and not candidate.is_site:
        enrichment.parents.append((ParentRelation.DIRECT, candidate.direct_parent, bureau.name))
    if candidate.ultimate_parent is not None:
        enrichment.parents.append((ParentRelation.ULTIMATE, candidate.ultimate_parent, bureau.name))
    if bureau.capabilities.assessment:
        assessment = bureau.assess(candidate.provider_id)
        if assessment is not None:
            enrichment.assessments.append(assessment)


def _search(bureau: BureauAdapter, query: CompanyQuery) -> list[CompanyCandidate]:
    try:
        return bureau.search_companies(query)
    except RejectedError:
        return []  # this bureau cannot search by this scheme or in this country


def _find_at_insurers(
    buyer: _Buyer, own: list[Identifier], insurers: Mapping[str, InsurerAdapter], out: Enrichment
) -> None:
    """Each insurer's buyer id, found by one of the buyer's own identifiers (an exact
    identifier match only)."""
    for name, adapter in insurers.items():
        known = any(i.scheme is Scheme.INSURER and i.issuer == name for i in buyer.identifiers)
        if known or not adapter.capabilities.buyer_search:
            continue
        for ident in own:
            try:
                matches = adapter.search_buyers(BuyerQuery(buyer.country, ident))
            except RejectedError:
                continue
            except AdapterError as exc:
                out.errors.append(f"{name}, buyer {buyer.id}: {exc}")
                break
            hit = next((m for m in matches if ident in m.identifiers), None)
            if hit is not None:
                found = Identifier(Scheme.INSURER, hit.insurer_buyer_id, name)
                out.insurer_ids.add(found)
                out.sources.setdefault(found, f"insurer:{name}")
                break


def _enrich_one(
    buyer: _Buyer,
    bureaus: Mapping[str, BureauAdapter],
    config: ResolveConfig,
    insurers: Mapping[str, InsurerAdapter] | None = None,
) -> Enrichment:
    enrichment = Enrichment()
    if buyer.country == UNKNOWN_COUNTRY:
        return enrichment  # created by a sync from an insurer record: nothing to ask with
    own = [i for i in sorted(buyer.identifiers) if i.scheme is not Scheme.INSURER]
    _find_at_insurers(buyer, own, insurers or {}, enrichment)
    for bureau in bureaus.values():
        try:
            found = None
            for ident in own:
                matches = _search(bureau, CompanyQuery(buyer.country, identifier=ident))
                found = next((c for c in matches if ident in c.identifiers), None)
                if found is not None:
                    break
            if found is None and not own and bureau.capabilities.search:
                for candidate in _search(bureau, CompanyQuery(buyer.country, name=buyer.name)):
                    confident = (candidate.confidence or 0) >= config.bureau_min_confidence
                    close = name_score(buyer.name, candidate.name) >= config.bureau_min_name_score
                    if confident and close:
                        found = candidate
                        break
                    enrichment.unconfirmed += 1
            if found is not None:
                _take(found, enrichment, bureau)
        except AdapterError as exc:
            enrichment.errors.append(f"{bureau.name}, buyer {buyer.id}: {exc}")
    return enrichment


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
    accounts, buyers = _load(ledger)
    report.accounts, report.buyers_before = len(accounts), len(buyers)
    enriched: dict[int, Enrichment] = {}
    if bureaus or insurers:
        with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="resolve") as pool:
            futures = {
                b.id: pool.submit(_enrich_one, b, bureaus, config, insurers)
                for b in buyers.values()
            }
            for n, (buyer_id, future) in enumerate(futures.items(), start=1):
                enriched[buyer_id] = future.result()
                if progress:
                    progress(n)
    records = []
    for account, name, country, buyer_id in accounts:
        enrichment = enriched.get(buyer_id, Enrichment())
        extra = enrichment.identifiers | enrichment.insurer_ids
        records.append(AccountRecord(account, name, country, buyers[buyer_id].identifiers | extra))
    resolution = resolve(records, config.rules)
    buyer_of = {account: buyer_id for account, _, _, buyer_id in accounts}
    first_account: dict[int, str] = {}
    for account, _, _, buyer_id in accounts:
        first_account.setdefault(buyer_id, account)
    moved: dict[int, int] = {}  # merged buyer -> the buyer it now lives on as
    with ledger.unit_of_work() as session:
        for entity in resolution.entities:
            owners = sorted({buyer_of[a] for a in entity})
            keep = owners[0]
            known = set(buyers[keep].identifiers)
            for drop in owners[1:]:
                try:
                    with session.begin_nested():
                        merge(session, keep, drop, policies=policies or {}, now=now)
                    moved[drop] = keep
                    known |= buyers[drop].identifiers
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
                    for ident, origin in enriched.get(owner, Enrichment()).sources.items()
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
        report.reviews_pending = len(identity_repo.reviews(session))
        report.buyers_after = len(list(session.scalars(select(BuyerRow.id))))
    log.info(
        "buyers_resolved",
        accounts=report.accounts,
        merged=len(report.merged),
        reviews_new=report.reviews_new,
        bureau_errors=len(report.bureau_errors),
    )
    return report
