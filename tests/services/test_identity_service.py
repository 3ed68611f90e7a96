"""`resolve_buyers` on the 248-account fixture through the ledger, with a fake bureau
that knows the head offices of the branch accounts."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from tci_gateway.adapters.contract import (
    Assessment,
    BureauAdapter,
    BureauCapabilities,
    CompanyCandidate,
    CompanyQuery,
)
from tci_gateway.domain.identifiers import parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AssessmentRow, BuyerParentRow, ErpAccountRow
from tci_gateway.services.identity import resolve_buyers
from tci_gateway.services.importing import import_buyers

from ..erp.conftest import NOW, make_policy

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "identity"


class FakeBureau:
    name = "fakebureau"
    capabilities = BureauCapabilities(search=True, assessment=True, parents=True)

    def __init__(self, branches: dict[str, str]) -> None:
        self.branches = branches  # branch name -> head-office DUNS
        self.calls = 0

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]:
        self.calls += 1
        if query.name in self.branches:
            hq = parse_identifier("DUNS", self.branches[query.name])
            return [
                CompanyCandidate(
                    self.name,
                    "B-" + hq.value,
                    query.name,
                    query.country,
                    is_site=True,
                    confidence=9,
                    direct_parent=hq,
                )
            ]
        if query.identifier is not None and query.identifier.scheme.value == "LEI":
            parent = parse_identifier("LEI", "529900T8BM49AURSDO55")
            return [
                CompanyCandidate(
                    self.name,
                    query.identifier.value,
                    "x",
                    query.country,
                    identifiers=(query.identifier,),
                    ultimate_parent=parent,
                )
            ]
        return []

    def get_company(self, provider_id: str) -> CompanyCandidate | None:
        return None

    def assess(self, provider_id: str) -> Assessment | None:
        return Assessment(
            self.name,
            provider_id,
            None,
            "A-E",
            band="B",
            recommended_limit=Money.of("25000", "EUR"),
        )

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_fixture_resolves_with_precision_one(ledger: Ledger, tmp_path: Path) -> None:
    truth, branches = {}, {}
    extra = json.loads((FIXTURE / "bureau_identifiers.json").read_text(encoding="utf-8"))
    buyers = tmp_path / "buyers.csv"
    with (
        (FIXTURE / "accounts.csv").open(encoding="utf-8") as src,
        buyers.open("w", encoding="utf-8", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        writer = csv.DictWriter(
            dst, fieldnames=[f for f in reader.fieldnames or [] if f not in ("truth", "case")]
        )
        writer.writeheader()
        for row in reader:
            truth[row["erp_account"]] = row["truth"]
            if row["erp_account"] in extra:
                branches[row["name"]] = extra[row["erp_account"]][0].split(":")[1]
            writer.writerow({k: v for k, v in row.items() if k not in ("truth", "case")})
    import_buyers(ledger, buyers, policies={"main": make_policy()}, now=NOW)
    bureau = FakeBureau(branches)
    assert isinstance(bureau, BureauAdapter)
    report = resolve_buyers(ledger, bureaus={"fakebureau": bureau}, now=NOW)
    with ledger.unit_of_work() as session:
        owner = {
            a: b for a, b in session.execute(select(ErpAccountRow.account, ErpAccountRow.buyer_id))
        }
        by_buyer: dict[int, set[str]] = defaultdict(set)
        for account, buyer_id in owner.items():
            by_buyer[buyer_id].add(truth[account])
        assert all(len(truths) == 1 for truths in by_buyer.values())  # precision 1.0
        by_truth: dict[str, set[int]] = defaultdict(set)
        for account, buyer_id in owner.items():
            by_truth[truth[account]].add(buyer_id)
        for t in [t for t in by_truth if t.startswith(("dup", "xw", "site", "branch", "cn"))]:
            if not t.startswith("cnx"):
                assert len(by_truth[t]) == 1, t
        pending = identity_repo.reviews(session)
        assert session.scalar(select(AssessmentRow.id)) is not None
        assert session.scalar(select(BuyerParentRow.value)) == "529900T8BM49AURSDO55"
    assert report.buyers_after < report.buyers_before
    assert len(pending) == report.reviews_pending >= 14  # 8 contradictions + 6 name-only pairs
    again = resolve_buyers(ledger, bureaus={"fakebureau": bureau}, now=NOW)
    assert again.merged == [] and again.reviews_new == 0  # idempotent


def test_resolve_links_each_insurers_buyer_id_by_exact_identifier(
    ledger: Ledger, tmp_path: Path
) -> None:
    import httpx

    from tci_gateway.adapters.contract import AdapterContext, InsurerAdapter
    from tci_gateway.adapters.registry import load_plugin
    from tci_gateway.ledger.buyers import identifiers_of

    plugin = load_plugin("atradius")
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({})
    fixture = sandbox.seed_contract_fixture()  # type: ignore[attr-defined]
    adapter = plugin.create(
        AdapterContext(
            name="atradius",
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    vat = fixture.known_buyer.identifier
    buyers = tmp_path / "b.csv"
    buyers.write_text(
        f"erp_account,name,country,vat\nK1,Known SA,FR,{vat.value}\n", encoding="utf-8"
    )
    import_buyers(ledger, buyers, policies={"main": make_policy()}, now=NOW)
    report = resolve_buyers(ledger, bureaus={}, insurers={"atradius": adapter}, now=NOW)
    assert report.insurer_ids_found == 1
    with ledger.unit_of_work() as session:
        owner = identity_repo.buyer_of_account(session, "K1")
        assert owner is not None
        ids = identifiers_of(session, owner)
    assert any(i.issuer == "atradius" and i.value == fixture.known_buyer_id for i in ids)


def test_bureaus_join_the_buyer_search_as_provenance() -> None:
    from tci_gateway.adapters.contract import BuyerQuery
    from tci_gateway.services.buyer_search import BureauSearch, search_buyers

    bureau = FakeBureau({"Branch": "150483782"})
    result = search_buyers(
        {"fakebureau": BureauSearch(bureau)},
        BuyerQuery("FR", parse_identifier("LEI", "529900T8BM49AURSDO55")),
    )
    assert result.ok and result.candidates[0].insurer_ids == {"fakebureau": "529900T8BM49AURSDO55"}
