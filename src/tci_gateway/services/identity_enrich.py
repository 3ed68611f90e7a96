"""Step 1 of ``tci buyers resolve``: a page of buyers confirmed and extended at the
bureaus and insurers (:func:`tci_gateway.services.identity.resolve_buyers`).

**A bureau with a loaded golden copy** (``tci bureaus load``) is answered from the ledger
(:mod:`tci_gateway.ledger.golden_copy_lookup`), a page at a time in a few ``IN``-list
queries: a buyer's LEI, and its national identifiers of a scheme the file carries (the
register-authority crosswalk), find the record, its other identifier and its
consolidation parents, exactly as a look-up at the register's API would (sources
``bureau:NAME``; a branch gives its head office). What the file does not hold was not
registered as of the file's publication: that is the answer, and no call is made.
Records issued in error (``DUPLICATE``, ``ANNULLED``) are never matched. The API is used
only for what the file cannot answer: a buyer with no identifier (a search by name), an
identifier of a scheme the file does not carry (DUNS, VAT), and a bureau that assesses.

**Every other provider** is asked as before, each through its own worker pool of
``workers_per_provider`` threads, so a slow or rate-limited provider holds up only its
own calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tci_gateway.adapters.contract import (
    Assessment,
    BureauAdapter,
    BuyerQuery,
    CompanyCandidate,
    CompanyQuery,
    CompanyStatus,
    InsurerAdapter,
)
from tci_gateway.domain.identifiers import Identifier, IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.identity import ParentRelation, ResolutionConfig, name_score
from tci_gateway.domain.parties import UNKNOWN_COUNTRY
from tci_gateway.errors import AdapterError, RejectedError
from tci_gateway.ledger import golden_copy_lookup as golden
from tci_gateway.ledger.engine import Ledger

NATIONAL_SCHEMES = (Scheme.GB_CRN, Scheme.FR_SIREN, Scheme.CN_USCC)
"""Register schemes a golden copy's registration-authority crosswalk can give."""


@dataclass(frozen=True)
class ResolveConfig:
    """Thresholds of the rules and of a bureau's name search; ``workers_per_provider``:
    the calls in flight at once to one provider (each bureau and insurer has its own
    pool); ``page_size``: buyers enriched at a time."""

    rules: ResolutionConfig = field(default_factory=ResolutionConfig)
    bureau_min_confidence: int = 8
    bureau_min_name_score: float = 90.0
    workers_per_provider: int = 4
    page_size: int = 500


@dataclass
class Enrichment:
    """What the providers said of one buyer."""

    identifiers: set[Identifier] = field(default_factory=set)
    parents: list[tuple[ParentRelation, Identifier, str]] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unconfirmed: int = 0
    insurer_ids: set[Identifier] = field(default_factory=set)
    sources: dict[Identifier, str] = field(default_factory=dict)
    """Where each identifier found came from (``bureau:NAME``, ``insurer:NAME``)."""

    def __bool__(self) -> bool:
        return bool(
            self.identifiers
            or self.parents
            or self.assessments
            or self.errors
            or self.unconfirmed
            or self.insurer_ids
        )

    def add(self, other: Enrichment) -> None:
        """Take ``other``'s findings after this one's (a source already known stays)."""
        self.identifiers |= other.identifiers
        self.parents.extend(other.parents)
        self.assessments.extend(other.assessments)
        self.errors.extend(other.errors)
        self.unconfirmed += other.unconfirmed
        self.insurer_ids |= other.insurer_ids
        for ident, origin in other.sources.items():
            self.sources.setdefault(ident, origin)


@dataclass(frozen=True, slots=True)
class BuyerToEnrich:
    id: int
    name: str
    country: str
    identifiers: frozenset[Identifier]


def _lei(raw: str | None) -> Identifier | None:
    if not raw:
        return None
    try:
        return parse_identifier(Scheme.LEI, raw)
    except IdentifierError:
        return None


def golden_candidate(
    record: golden.GoldenRecord, provider: str, parents: golden.Parents | None
) -> CompanyCandidate:
    """A golden-copy record as the candidate the register's API gives for it (the LEI
    and the crosswalked national identifier, the parents, a branch as a site)."""
    identifiers: list[Identifier] = []
    lei = _lei(record.lei)
    if lei is not None:
        identifiers.append(lei)
    if record.scheme and record.national_id:
        identifiers.append(Identifier(Scheme(record.scheme), record.national_id))
    entity = record.entity_status.upper()
    status = {"ACTIVE": CompanyStatus.ACTIVE, "INACTIVE": CompanyStatus.INACTIVE}
    return CompanyCandidate(
        provider=provider,
        provider_id=lei.value if lei else record.lei,
        name=record.legal_name,
        country=(record.country or (record.jurisdiction or "")[:2]).upper(),
        identifiers=tuple(identifiers),
        status=status.get(entity, CompanyStatus.UNKNOWN),
        is_site=(record.category or "").upper() == "BRANCH",
        direct_parent=_lei(parents.direct) if parents else None,
        ultimate_parent=_lei(parents.ultimate) if parents else None,
    )


@dataclass(frozen=True)
class GoldenCopy:
    """A bureau answered from its loaded golden copy: the national schemes it holds."""

    source: str
    schemes: frozenset[Scheme]

    def answers(self, ident: Identifier) -> bool:
        return ident.scheme is Scheme.LEI or ident.scheme in self.schemes


@dataclass
class FileAnswers:
    """One page's answers from one golden copy: candidates by LEI and the LEIs holding
    each national identifier."""

    by_lei: dict[str, CompanyCandidate] = field(default_factory=dict)
    by_national: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def match(self, ident: Identifier, country: str) -> CompanyCandidate | None:
        """The record this identifier finds, as the API would: by LEI anywhere; by a
        national identifier in the buyer's country only."""
        if ident.scheme is Scheme.LEI:
            found = self.by_lei.get(ident.value)
            return found if found is not None and ident in found.identifiers else None
        for lei in self.by_national.get((ident.scheme.value, ident.value), ()):
            candidate = self.by_lei[lei]
            if candidate.country == country.upper() and ident in candidate.identifiers:
                return candidate
        return None


def find_golden_copies(
    ledger: Ledger, bureaus: Mapping[str, BureauAdapter]
) -> dict[str, GoldenCopy]:
    """The configured bureaus with an applied golden copy, by configured name."""
    with ledger.reading() as session:
        loaded = golden.sources_with_golden_copy(session, bureaus)
        return {
            name: GoldenCopy(
                name,
                frozenset(
                    Scheme(s)
                    for s in golden.schemes_held(session, name, [x.value for x in NATIONAL_SCHEMES])
                ),
            )
            for name in sorted(loaded)
        }


def file_answers(ledger: Ledger, copy: GoldenCopy, buyers: Sequence[BuyerToEnrich]) -> FileAnswers:
    """The golden copy's records for every identifier of ``buyers`` it answers for: a
    query by LEI, one per national scheme, one for the parents of what was found."""
    leis: set[str] = set()
    national: set[tuple[str, str]] = set()
    for buyer in buyers:
        for ident in buyer.identifiers:
            if ident.scheme is Scheme.LEI:
                leis.add(ident.value)
            elif ident.scheme in copy.schemes:
                national.add((ident.scheme.value, ident.value))
    answers = FileAnswers()
    if not leis and not national:
        return answers
    with ledger.reading() as session:
        records = golden.records_by_lei(session, copy.source, leis)
        holders = golden.records_by_national_id(session, copy.source, national)
        for key, found in holders.items():
            answers.by_national[key] = [r.lei for r in found]
            records.update((r.lei, r) for r in found)
        parents = golden.parents_of(session, copy.source, records)
    for lei, record in records.items():
        answers.by_lei[lei] = golden_candidate(record, copy.source, parents.get(lei))
    return answers


def take(candidate: CompanyCandidate, enrichment: Enrichment, bureau: BureauAdapter) -> None:
    """What a found company gives the buyer: its identifiers (a branch's head office
    instead), its parents, the bureau's assessment when it assesses."""
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


def _own(buyer: BuyerToEnrich) -> list[Identifier]:
    return [i for i in sorted(buyer.identifiers) if i.scheme is not Scheme.INSURER]


def ask_bureau(
    bureau: BureauAdapter,
    buyer: BuyerToEnrich,
    config: ResolveConfig,
    copy: GoldenCopy | None = None,
    answers: FileAnswers | None = None,
) -> Enrichment:
    """One bureau's answer for one buyer: the first of the buyer's identifiers (in
    order) that finds a company, from the golden copy where it answers for the
    identifier, else from the bureau's API; a buyer with no identifier by name."""
    enrichment = Enrichment()
    own = _own(buyer)
    try:
        found = None
        for ident in own:
            if copy is not None and answers is not None and copy.answers(ident):
                found = answers.match(ident, buyer.country)
            else:
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
            take(found, enrichment, bureau)
    except AdapterError as exc:
        enrichment.errors.append(f"{bureau.name}, buyer {buyer.id}: {exc}")
    return enrichment


def needs_bureau_call(
    bureau: BureauAdapter,
    buyer: BuyerToEnrich,
    copy: GoldenCopy | None,
    answers: FileAnswers | None,
) -> bool:
    """Whether :func:`ask_bureau` would call the bureau for this buyer (else it is
    answered at once, from the golden copy or as nothing to ask)."""
    own = _own(buyer)
    if copy is None or answers is None:
        return bool(own) or bureau.capabilities.search
    for ident in own:
        if not copy.answers(ident):
            return True
        if answers.match(ident, buyer.country) is not None:
            return bureau.capabilities.assessment
    return not own and bureau.capabilities.search


def ask_insurer(name: str, adapter: InsurerAdapter, buyer: BuyerToEnrich) -> Enrichment:
    """The insurer's buyer id, found by one of the buyer's own identifiers (an exact
    identifier match only)."""
    out = Enrichment()
    for ident in _own(buyer):
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
    return out


def _asks_insurer(name: str, adapter: InsurerAdapter, buyer: BuyerToEnrich) -> bool:
    known = any(i.scheme is Scheme.INSURER and i.issuer == name for i in buyer.identifiers)
    return not known and adapter.capabilities.buyer_search and bool(_own(buyer))


class Enricher:
    """Enriches pages of buyers; one worker pool per provider (use as a context)."""

    def __init__(
        self,
        ledger: Ledger,
        bureaus: Mapping[str, BureauAdapter],
        insurers: Mapping[str, InsurerAdapter],
        config: ResolveConfig,
    ) -> None:
        self.ledger = ledger
        self.bureaus = bureaus
        self.insurers = insurers
        self.config = config
        self.golden = find_golden_copies(ledger, bureaus) if bureaus else {}
        workers = max(1, config.workers_per_provider)
        self._pools = {
            key: ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"resolve-{key}")
            for key in [f"insurer:{n}" for n in insurers] + [f"bureau:{n}" for n in bureaus]
        }

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

    def enrich(self, page: Sequence[BuyerToEnrich]) -> list[tuple[int, Enrichment]]:
        """Each buyer of ``page`` with what the providers said (in page order)."""
        active = [b for b in page if b.country != UNKNOWN_COUNTRY]
        answers = {
            name: file_answers(self.ledger, copy, active) for name, copy in self.golden.items()
        }
        slots: dict[int, list[Enrichment | Future[Enrichment]]] = {}
        for buyer in active:
            parts: list[Enrichment | Future[Enrichment]] = []
            for name, insurer in self.insurers.items():
                if _asks_insurer(name, insurer, buyer):
                    pool = self._pools[f"insurer:{name}"]
                    parts.append(pool.submit(ask_insurer, name, insurer, buyer))
            for name, bureau in self.bureaus.items():
                copy, known = self.golden.get(name), answers.get(name)
                if needs_bureau_call(bureau, buyer, copy, known):
                    pool = self._pools[f"bureau:{name}"]
                    parts.append(pool.submit(ask_bureau, bureau, buyer, self.config, copy, known))
                elif copy is not None:
                    parts.append(ask_bureau(bureau, buyer, self.config, copy, known))
            slots[buyer.id] = parts
        out: list[tuple[int, Enrichment]] = []
        for buyer in page:
            enrichment = Enrichment()
            for part in slots.get(buyer.id, ()):
                enrichment.add(part.result() if isinstance(part, Future) else part)
            out.append((buyer.id, enrichment))
        return out
