"""Buyer search across every configured insurer at once.

Each insurer is asked in its own thread; the answers are merged into one list of
candidate legal entities, each with the provenance of every insurer that knows it. An
insurer that fails or does not answer within the time allowed does not fail the search:
it is reported beside the results. Matches are grouped by shared identifiers only
(never by name): two insurers' records with a common VAT number are one entity.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tci_gateway.adapters.contract import (
    BureauAdapter,
    BuyerMatch,
    BuyerQuery,
    Capabilities,
    CompanyQuery,
)
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.errors import AdapterError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.logs import get_logger


@dataclass
class Candidate:
    """One legal entity as the insurers know it."""

    name: str
    country: str
    identifiers: set[Identifier] = field(default_factory=set)
    insurer_ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    ratings: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> tuple[int, int]:
        """Rank: known to more insurers first, then more identifiers."""
        return (len(self.insurer_ids), len(self.identifiers))


class SearchStatus(StrEnum):
    """How one insurer's part of a buyer search went."""

    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    NOT_SUPPORTED = "not supported"


@dataclass(frozen=True)
class InsurerOutcome:
    insurer: str
    status: SearchStatus
    matches: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SearchResult:
    candidates: list[Candidate]
    outcomes: list[InsurerOutcome]

    @property
    def ok(self) -> bool:
        """The one judgement of a search: every insurer that can search answered (one
        that failed or timed out makes it not ok, whatever the others found)."""
        return all(o.status in (SearchStatus.OK, SearchStatus.NOT_SUPPORTED) for o in self.outcomes)


def _merge(matches: list[BuyerMatch]) -> list[Candidate]:
    candidates: list[Candidate] = []
    for match in matches:
        own = set(match.identifiers) | {
            Identifier(Scheme.INSURER, match.insurer_buyer_id, match.insurer)
        }  # the source's own id, as provenance
        target = next((c for c in candidates if c.identifiers & own), None)
        if target is None:
            target = Candidate(name=match.name, country=match.country)
            candidates.append(target)
        target.identifiers |= own
        target.insurer_ids[match.insurer] = match.insurer_buyer_id
        target.names[match.insurer] = match.name
        if match.rating:
            target.ratings[match.insurer] = match.rating
    return sorted(candidates, key=lambda c: (-c.score[0], -c.score[1], c.name))


class BureauSearch:
    """A bureau asked like an insurer: its companies become matches with the bureau's own
    id as provenance (never stored as an insurer buyer id)."""

    def __init__(self, bureau: BureauAdapter) -> None:
        self.bureau = bureau
        self.name = bureau.name
        self.capabilities = Capabilities(buyer_search=bureau.capabilities.search)

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        found = self.bureau.search_companies(
            CompanyQuery(query.country, query.identifier, query.name)
        )
        return [
            BuyerMatch(self.name, c.provider_id, c.name, c.country, c.identifiers)
            for c in found
            if not c.is_site
        ]


class _Searchable(Protocol):
    name: str
    capabilities: Capabilities

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]: ...


def search_buyers(
    adapters: Mapping[str, _Searchable], query: BuyerQuery, *, timeout: float = 30.0
) -> SearchResult:
    """Ask every insurer (and bureau, through :class:`BureauSearch`) concurrently; wait
    at most ``timeout`` seconds in all."""
    log = get_logger()
    outcomes: dict[str, InsurerOutcome] = {}
    matches: list[BuyerMatch] = []
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, len(adapters)), thread_name_prefix="search")
    futures: dict[Future[list[BuyerMatch]], str] = {}
    for name, adapter in adapters.items():
        if not adapter.capabilities.buyer_search:
            outcomes[name] = InsurerOutcome(name, SearchStatus.NOT_SUPPORTED)
            continue
        futures[pool.submit(adapter.search_buyers, query)] = name
    pending = set(futures)
    while pending:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            break
        done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
        for future in done:
            name = futures[future]
            elapsed = time.monotonic() - started
            try:
                found = future.result()
            except AdapterError as exc:
                outcomes[name] = InsurerOutcome(
                    name, SearchStatus.FAILED, seconds=elapsed, error=str(exc)
                )
                log.warning("buyer_search_insurer_failed", insurer=name, error=str(exc))
                continue
            except Exception as exc:  # one broken adapter must not fail the search
                outcomes[name] = InsurerOutcome(
                    name,
                    SearchStatus.FAILED,
                    seconds=elapsed,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            matches.extend(found)
            outcomes[name] = InsurerOutcome(
                name, SearchStatus.OK, matches=len(found), seconds=elapsed
            )
    for future in pending:
        name = futures[future]
        outcomes[name] = InsurerOutcome(
            name, SearchStatus.TIMED_OUT, seconds=timeout, error=f"no answer in {timeout:g} s"
        )
    pool.shutdown(wait=False, cancel_futures=True)
    return SearchResult(_merge(matches), [outcomes[n] for n in adapters if n in outcomes])


def link_insurer_ids(
    ledger: Ledger, result: SearchResult, *, now: datetime, insurers: Collection[str] | None = None
) -> int:
    """Attach insurer buyer ids to the ledger buyer that holds one of the candidate's
    identifiers (exact match, one buyer only). Only ``insurers`` count (bureau ids are
    provenance, not insurer ids). Returns how many ids were added."""
    added = 0
    with ledger.unit_of_work() as session:
        for candidate in result.candidates:
            owners = set(buyer_repo.buyers_by_identifier(session, candidate.identifiers).values())
            if len(owners) != 1:
                continue  # unknown, or ambiguous: identity review is for a person
            buyer_id = owners.pop()
            insurer_ids = [
                Identifier(Scheme.INSURER, value, insurer)
                for insurer, value in candidate.insurer_ids.items()
                if insurers is None or insurer in insurers
            ]
            added += buyer_repo.add_identifiers(
                session,
                buyer_id,
                insurer_ids,
                source={i: f"search:{i.issuer}" for i in insurer_ids},
                now=now,
            )
    return added
