"""Buyer search fan-out: concurrent, merged by identifiers, one bad insurer reported."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tci_gateway.adapters.contract import BuyerMatch, BuyerQuery, Capabilities
from tci_gateway.domain.identifiers import Scheme, parse_identifier
from tci_gateway.errors import TransientError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.buyer_search import link_insurer_ids, search_buyers
from tci_gateway.services.importing import import_buyers

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer

VAT = parse_identifier(Scheme.VAT, "FR40303265045")
SIREN = parse_identifier(Scheme.FR_SIREN, "303265045")
QUERY = BuyerQuery("FR", VAT)


@dataclass
class SearchFake(FakeInsurer):
    found: list[BuyerMatch] = field(default_factory=list)
    delay: float = 0.0
    error: Exception | None = None
    release: threading.Event | None = None
    barrier: threading.Barrier | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(buyer_search=True))

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        try:
            if self.release is not None:
                self.release.wait(60)
            if self.barrier is not None:
                self.barrier.wait()  # breaks (and fails this insurer) unless all are asked at once
            time.sleep(self.delay)
            if self.error is not None:
                raise self.error
            return self.found
        finally:
            self.finished.set()


def match(insurer: str, ident: str, *ids: object) -> BuyerMatch:
    return BuyerMatch(insurer, ident, f"Name at {insurer}", "FR", tuple(ids))  # type: ignore[arg-type]


def test_answers_are_merged_by_shared_identifiers_with_provenance() -> None:
    adapters = {
        "atradius": SearchFake(name="atradius", found=[match("atradius", "100", VAT, SIREN)]),
        "coface": SearchFake(name="coface", found=[match("coface", "EZ9", SIREN)]),
        "allianz": SearchFake(name="allianz", found=[match("allianz", "555")]),
    }
    result = search_buyers(adapters, QUERY)
    assert result.ok
    first, second = result.candidates
    assert first.insurer_ids == {"atradius": "100", "coface": "EZ9"}
    assert VAT in first.identifiers and SIREN in first.identifiers
    assert second.insurer_ids == {"allianz": "555"}  # no shared identifier: not merged


def test_slow_and_failing_insurers_do_not_fail_the_search() -> None:
    stuck = threading.Event()
    adapters = {
        "fast": SearchFake(name="fast", found=[match("fast", "1", VAT)]),
        "broken": SearchFake(
            name="broken", error=TransientError("HTTP 503", adapter="broken", status=503)
        ),
        "stuck": SearchFake(name="stuck", release=stuck),
        "no-search": SearchFake(name="no-search", capabilities=Capabilities(buyer_search=False)),
    }
    result = search_buyers(adapters, QUERY, timeout=0.5)
    still_stuck = not adapters["stuck"].finished.is_set()
    stuck.set()
    assert still_stuck  # the search answered without waiting for the stuck insurer
    status = {o.insurer: o.status for o in result.outcomes}
    assert status == {
        "fast": "ok",
        "broken": "failed",
        "stuck": "timed out",
        "no-search": "not supported",
    }
    assert not result.ok
    assert [c.insurer_ids for c in result.candidates] == [{"fast": "1"}]


def test_insurers_are_asked_concurrently() -> None:
    # Each fake waits until all three are inside their call: asked one after another, the
    # barrier would time out and every insurer would fail.
    together = threading.Barrier(3, timeout=30)
    adapters = {
        n: SearchFake(name=n, barrier=together, found=[match(n, "1", VAT)]) for n in ("a", "b", "c")
    }
    result = search_buyers(adapters, QUERY, timeout=60)
    assert {o.insurer: o.status for o in result.outcomes} == dict.fromkeys("abc", "ok")


def test_link_attaches_insurer_ids_to_the_one_matching_buyer(
    ledger: Ledger, tmp_path: Path
) -> None:
    buyers = tmp_path / "b.csv"
    buyers.write_text(
        "erp_account,name,country,vat\nA1,Alpha SA,FR,FR40303265045\n", encoding="utf-8"
    )
    import_buyers(ledger, buyers, policies={"main": make_policy()}, now=NOW)
    adapters = {"atradius": SearchFake(name="atradius", found=[match("atradius", "100", VAT)])}
    result = search_buyers(adapters, QUERY)
    assert link_insurer_ids(ledger, result, now=NOW) == 1
    assert link_insurer_ids(ledger, result, now=NOW) == 0
