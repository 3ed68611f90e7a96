"""``tci buyers resolve``: one buyer per legal entity, with every assessment beside it.

1. Each buyer's identifiers are confirmed and extended at the bureaus (a company found
   by one of the buyer's own identifiers gives its other identifiers and parents; a
   buyer with no identifier is searched by name, and a candidate is taken only when the
   bureau's own confidence and the name score both reach the configured thresholds);
   assessments are stored per provider. A page of buyers at a time; a bureau with a
   loaded golden copy answers from the ledger, everything else through a worker pool
   per provider (:mod:`tci_gateway.services.identity_enrich`). What was found goes to
   TEMP tables (:mod:`tci_gateway.ledger.identity_scratch`), not to memory.
2. The pure rules of :mod:`tci_gateway.domain.identity` group the ERP accounts, a block
   at a time (:mod:`tci_gateway.services.identity_grouping`): memory holds a page or a
   block and the accounts linked, flat in the number of accounts.
3. Buyers of one group are merged; identifiers and parents are stored; everything a
   rule could not decide goes to the review queue with its reason.

The TEMP tables live on one connection of the run: steps 1 and 2 fill them in read
transactions (SQLite: no write lock), step 3 is one write transaction on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter
from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import Grouping, ReviewState
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.identity_scratch import Scratch, decode
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerRow, ReviewItemRow
from tci_gateway.logs import get_logger
from tci_gateway.services import identity_grouping as grouping
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
_PAGE = 500


def _buyer_pages(ledger: Ledger, size: int) -> Iterator[list[BuyerToEnrich]]:
    """Every buyer with its identifiers, ``size`` at a time by id (a short read per
    page)."""
    last = 0
    while True:
        with ledger.reading() as session:
            rows = session.execute(
                select(BuyerRow.id, BuyerRow.name, BuyerRow.country)
                .where(BuyerRow.id > last)
                .order_by(BuyerRow.id)
                .limit(size)
            ).all()
            idents = grouping.identifiers_of(session, [r[0] for r in rows]) if rows else {}
        if not rows:
            return
        yield [BuyerToEnrich(b, n, c, idents.get(b, _NONE)) for b, n, c in rows]
        last = rows[-1][0]


def _enrich(
    ledger: Ledger,
    scratch: Scratch,
    bureaus: Mapping[str, BureauAdapter],
    insurers: Mapping[str, InsurerAdapter],
    config: ResolveConfig,
    progress: Callable[[int], None] | None,
    report: ResolveReport,
) -> None:
    """Step 1, a page at a time: what was found goes to the scratch (identifiers with
    their sources; parents and assessments), errors and counts to the report."""
    done = 0
    with Enricher(ledger, bureaus, insurers, config) as enricher:
        for page in _buyer_pages(ledger, max(1, config.page_size)):
            answers = enricher.enrich(page)
            found: list[tuple[int, str, str, str, str | None]] = []
            with scratch.connection.begin():
                for buyer_id, enrichment in answers:
                    found.extend(
                        (buyer_id, i.scheme.value, i.issuer, i.value, enrichment.sources.get(i))
                        for i in sorted(enrichment.identifiers | enrichment.insurer_ids)
                    )
                    if enrichment.parents or enrichment.assessments:
                        scratch.add_enriched(buyer_id, (enrichment.parents, enrichment.assessments))
                    report.bureau_errors.extend(enrichment.errors)
                    report.insurer_ids_found += len(enrichment.insurer_ids)
                    report.unconfirmed_candidates += enrichment.unconfirmed
                    done += 1
                    if progress:
                        progress(done)
                scratch.add("tci_rs_found", found)


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


@dataclass
class _Writer:
    """Step 3 in one transaction: the entities in the order of the account standing
    for each, then parents and assessments, then the review items."""

    session: Session
    scratch: Scratch
    report: ResolveReport
    policies: Mapping[str, Policy]
    now: datetime
    moved: dict[int, int] = field(default_factory=dict)  # merged buyer -> where it lives

    def entities(self, linked: Grouping) -> None:
        groups = linked.groups()
        after = ""
        while page := self.scratch.accounts(after, grouping.PAGE):
            for account, buyer_id, own, expanded in page:
                root = linked.find(account)
                members = groups.get(root)
                if members is None:  # an entity of its own
                    if expanded != own:  # only when there is news
                        self._add(buyer_id, [buyer_id], decode(expanded), decode(own))
                elif account == root:
                    self._group(members, linked.identifiers_of(root))
            after = page[-1][0]

    def _group(self, members: list[str], identifiers: frozenset[Identifier]) -> None:
        rows = self.scratch.accounts_named(members)
        own = {buyer_id: o for _, buyer_id, o, _ in rows}
        owners = sorted(own)
        keep = owners[0]
        known = set(decode(own[keep]))
        for drop in owners[1:]:
            try:
                with self.session.begin_nested():
                    merge(self.session, keep, drop, policies=self.policies, now=self.now)
                self.moved[drop] = keep
                known |= decode(own[drop])
                self.report.merged.append(f"buyer {drop} into {keep}")
            except identity_repo.MergeConflict as exc:
                pair = (self.scratch.first_account(keep), self.scratch.first_account(drop))
                self.report.reviews_new += identity_repo.add_review(
                    self.session, pair, 100.0, str(exc), self.now
                )
        self._add(keep, owners, identifiers, known)

    def _add(
        self,
        keep: int,
        owners: list[int],
        identifiers: frozenset[Identifier],
        known: set[Identifier] | frozenset[Identifier],
    ) -> None:
        if identifiers <= known:
            return
        self.report.identifiers_added += buyer_repo.add_identifiers(
            self.session,
            keep,
            identifiers,
            source=grouping.sources_of(self.scratch, owners),
            now=self.now,
        )

    def found(self) -> None:
        after = 0
        while page := self.scratch.enriched(after, _PAGE):
            for buyer_id, (parents, assessments) in page:
                alive = self.moved.get(buyer_id, buyer_id)
                for relation, parent, source in parents:
                    identity_repo.store_parent(
                        self.session, alive, relation, parent, source, self.now
                    )
                    self.report.parents += 1
                for assessment in assessments:
                    self.report.assessments += identity_repo.store_assessment(
                        self.session, alive, assessment, self.now
                    )
            after = page[-1][0]

    def reviews(self) -> None:
        after = 0
        while page := self.scratch.reviews(after, _PAGE):
            for _, a, b, score, reason in page:
                self.report.reviews_new += identity_repo.add_review(
                    self.session, (a, b), score, reason, self.now
                )
            after = page[-1][0]


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
        report.buyers_before = session.scalar(select(func.count()).select_from(BuyerRow)) or 0
    with ledger.engine.connect() as connection:
        connection.execution_options(tci_read_only=True)  # TEMP tables only, until step 3
        with connection.begin():
            scratch = Scratch(connection)
        try:
            if bureaus or insurers:
                _enrich(ledger, scratch, bureaus, insurers or {}, config, progress, report)
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    # The accounts are read a page at a time: one snapshot for every page,
                    # so an import committing meanwhile is seen whole or not at all
                    # (SQLite's read transaction is one snapshot already).
                    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                report.accounts = grouping.write_accounts(scratch)
                linked = grouping.group(scratch, config.rules)
            connection.execution_options(tci_read_only=False)
            with Session(bind=connection) as session, session.begin():
                session.connection()  # the session's transaction, before the scratch is read
                writer = _Writer(session, scratch, report, policies or {}, now)
                writer.entities(linked)
                writer.found()
                writer.reviews()
                report.reviews_pending = (
                    session.scalar(
                        select(func.count())
                        .select_from(ReviewItemRow)
                        .where(ReviewItemRow.state == ReviewState.PENDING)
                    )
                    or 0
                )
                report.buyers_after = (
                    session.scalar(select(func.count()).select_from(BuyerRow)) or 0
                )
        finally:
            _drop(connection, scratch)
    log.info(
        "buyers_resolved",
        accounts=report.accounts,
        merged=len(report.merged),
        reviews_new=report.reviews_new,
        bureau_errors=len(report.bureau_errors),
    )
    return report


def _drop(connection: Connection, scratch: Scratch) -> None:
    """Drop the TEMP tables (the connection goes back to the pool), or discard the
    connection when the database cannot be asked any more."""
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execution_options(tci_read_only=True)
        with connection.begin():
            scratch.drop()
    except SQLAlchemyError:
        connection.invalidate()
