"""A seeded world of buyers for ``resolve_buyers``: duplicates on one buyer, identifiers
a bureau adds, FR VAT numbers crosswalked to SIRENs, contradictions, similar names,
Chinese names; and the ledger's outcome of a resolution as plain data, to compare a
run with a fixed expectation (tests/services/test_identity_paging.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from stdnum.iso7064 import mod_97_10

from tci_gateway.adapters.contract import (
    Assessment,
    BureauCapabilities,
    CompanyCandidate,
    CompanyQuery,
)
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    AssessmentRow,
    BuyerIdentifierRow,
    BuyerParentRow,
    BuyerRow,
    ErpAccountRow,
    ReviewItemRow,
)

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
_STEMS = [
    "Alpha Logistics",
    "Alpha Logistik",
    "Beta Foods",
    "Beta Food",
    "Gamma Steel",
    "Delta Textiles",
    "Delta Textile",
    "Nordic Timber",
    "Nordisk Timber",
    "Orion Paper",
]
_CJK = ["深圳华强电子", "深圳华强电器", "上海明远贸易", "上海明远商贸"]
_FORMS = ["Ltd", "GmbH", "SAS", "S.A.R.L.", "B.V.", "Limited", "", "Inc"]
_COUNTRIES = ["FR", "DE", "GB"]


def lei(n: int) -> str:
    base = f"5299{n:014d}"
    return base + mod_97_10.calc_check_digits(base)


def fr_vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


@dataclass
class World:
    """Buyers ``(name, country, identifiers, accounts)`` and what the bureau knows:
    an identifier's company (``found``) and a name's (``named``)."""

    buyers: list[tuple[str, str, list[tuple[str, str]], list[str]]] = field(default_factory=list)
    found: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    named: dict[str, tuple[str, str]] = field(default_factory=dict)


def make_world(seed: int, entities: int = 120) -> World:
    rng = random.Random(seed)
    world = World()
    account = 0
    for e in range(entities):
        country = rng.choice(_COUNTRIES)
        if rng.random() < 0.15:
            country = "CN"
            stem = rng.choice(_CJK) + rng.choice(["有限公司", "股份有限公司", ""])
        else:
            stem = f"{rng.choice(_STEMS)} {rng.choice(['', str(rng.randint(1, 3)), 'Nord'])}"
        the_lei, siren, duns = lei(1000 + e), f"{300000000 + e * 7:09d}", f"{150000000 + e:09d}"
        own: list[list[tuple[str, str]]] = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            kind = rng.random()
            if kind < 0.25:
                own.append([("LEI", the_lei)])
            elif kind < 0.45 and country == "FR":
                own.append([("VAT", fr_vat(siren))])
            elif kind < 0.6 and country == "FR":
                own.append([("FR_SIREN", siren)])
            elif kind < 0.8:
                own.append([("DUNS", duns)])
            else:
                own.append([])
        if rng.random() < 0.12:  # a contradiction: one SIREN, two LEIs
            other = f"{700000000 + e * 7:09d}"
            country = "FR"
            own.append([("FR_SIREN", other), ("LEI", lei(90000 + e))])
            own.append([("VAT", fr_vat(other)), ("LEI", lei(95000 + e))])
        if rng.random() < 0.5:
            world.found[("DUNS", duns)] = [("LEI", the_lei)]
        used: set[tuple[str, str]] = set()
        for ids in own:
            ids = [i for i in ids if i not in used]
            used.update(ids)
            name = f"{stem} {rng.choice(_FORMS)}".strip()
            accounts = []
            for _ in range(rng.choice([1, 1, 1, 2])):
                accounts.append(f"A{account:05d}" if rng.random() < 0.8 else f"a{account:04d}é")
                account += 1
            world.buyers.append((name, country, ids, accounts))
            if not ids and rng.random() < 0.5:
                world.named[name] = ("LEI", the_lei)
    rng.shuffle(world.buyers)
    return world


def seed_ledger(ledger: Ledger, world: World) -> None:
    with ledger.unit_of_work() as session:
        for name, country, ids, accounts in world.buyers:
            buyer = BuyerRow(name=name, country=country, created_at=NOW, updated_at=NOW)
            session.add(buyer)
            session.flush()
            for scheme, value in ids:
                session.add(
                    BuyerIdentifierRow(
                        buyer_id=buyer.id, scheme=scheme, issuer="", value=value, added_at=NOW
                    )
                )
            for a in accounts:
                session.add(
                    ErpAccountRow(
                        account=a, name=name, buyer_id=buyer.id, created_at=NOW, updated_at=NOW
                    )
                )
        session.flush()


class WorldBureau:
    """A bureau that knows the world's companies (assesses, gives parents)."""

    name = "worldbureau"
    capabilities = BureauCapabilities(search=True, assessment=True, parents=True)

    def __init__(self, world: World) -> None:
        self.world = world

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]:
        if query.identifier is not None:
            key = (query.identifier.scheme.value, query.identifier.value)
            more = self.world.found.get(key)
            if more is None:
                return []
            ids = (query.identifier, *(Identifier(Scheme(s), v) for s, v in more))
            parent = Identifier(Scheme.LEI, lei(1))
            return [
                CompanyCandidate(
                    self.name, key[1], "x", query.country, identifiers=ids, ultimate_parent=parent
                )
            ]
        if query.name in self.world.named:
            s, v = self.world.named[query.name]
            return [
                CompanyCandidate(
                    self.name,
                    v,
                    query.name,
                    query.country,
                    identifiers=(Identifier(Scheme(s), v),),
                    confidence=9,
                )
            ]
        return []

    def get_company(self, provider_id: str) -> CompanyCandidate | None:
        return None

    def assess(self, provider_id: str) -> Assessment | None:
        return Assessment(self.name, provider_id, None, "A-E", band="B")

    def close(self) -> None:
        pass


def outcome(ledger: Ledger) -> dict[str, Any]:
    """The ledger after a resolution, as plain data (ids included: the order of writes)."""
    with ledger.reading() as s:
        return {
            "accounts": sorted(
                [a, b] for a, b in s.execute(select(ErpAccountRow.account, ErpAccountRow.buyer_id))
            ),
            "buyers": sorted(s.scalars(select(BuyerRow.id))),
            "identifiers": [
                list(r)
                for r in s.execute(
                    select(
                        BuyerIdentifierRow.id,
                        BuyerIdentifierRow.buyer_id,
                        BuyerIdentifierRow.scheme,
                        BuyerIdentifierRow.issuer,
                        BuyerIdentifierRow.value,
                        BuyerIdentifierRow.source,
                    ).order_by(BuyerIdentifierRow.id)
                )
            ],
            "reviews": [
                [r.id, r.account_a, r.account_b, str(r.score), r.reason]
                for r in s.scalars(select(ReviewItemRow).order_by(ReviewItemRow.id))
            ],
            "parents": [
                [r.id, r.buyer_id, r.relation.value, r.scheme, r.value, r.source]
                for r in s.scalars(select(BuyerParentRow).order_by(BuyerParentRow.id))
            ],
            "assessments": [
                [r.id, r.buyer_id, r.provider, r.provider_id]
                for r in s.scalars(select(AssessmentRow).order_by(AssessmentRow.id))
            ],
        }
