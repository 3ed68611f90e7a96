"""GET /v1/buyers: the filters, keyset paging, the figures of the demo, scopes and
policy restrictions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tci_gateway.domain.cover import Tranche
from tci_gateway.domain.money import Money
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.fx import NewRate, upsert_rates
from tci_gateway.services.importing import import_open_items

from .conftest import ApiHarness
from .risk_seed import add_cover, seed_demo


def names(api: ApiHarness, headers: dict[str, str], query: str) -> set[str]:
    response = api.client.get(f"/v1/buyers?{query}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return {b["name"] for b in body["buyers"]}


def walk(api: ApiHarness, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    """Every page of a query, following next_cursor."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        suffix = f"&cursor={cursor}" if cursor else ""
        response = api.client.get(f"/v1/buyers?{query}{suffix}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(body["buyers"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


def test_the_demo_figures_and_the_exposure_filters(api: ApiHarness) -> None:
    seed_demo(api)
    key = api.key("buyers:read")
    everyone = walk(api, key, "limit=500")
    assert len(everyone) == 9
    positions = [p for b in everyone for p in b["positions"]]
    assert {p["policy"] for p in positions} == {"atradius-main"}
    # fixtures/demo/README.md, "Expected results, by hand"
    assert sum(Decimal(p["exposure"]) for p in positions) == Decimal("282000")
    assert sum(Decimal(p["covered"]) for p in positions) == Decimal("222500")
    assert sum(Decimal(p["uncovered"]) for p in positions) == Decimal("59500")
    mueller = next(b for b in everyone if b["name"] == "Müller Maschinenbau GmbH")
    (position,) = mueller["positions"]
    assert position | {"business_date": None} == position | {
        "business_date": None,
        "currency": "EUR",
        "exposure": "55000.00",
        "disputed": "20000.00",
        "limit": "40000.00",
        "covered": "40000.00",
        "uncovered": "15000.00",
        "status": "REDUCED",
        "alerts": ["over_limit"],
    }
    assert position["business_date"] == "2026-12-01"
    assert names(api, key, "over_limit=true") == {
        "Müller Maschinenbau GmbH",
        "Société Générale de Négoce SAS",
    }
    assert names(api, key, "uncovered=true") == {
        "Harbour Freight Supplies Ltd",
        "Iberia Componentes S.L.",
        "Alpine Retail AG",
    }
    assert names(api, key, "uncovered=true&over_limit=true") == set()
    assert names(api, key, "pending_decision=true") == {"Iberia Componentes S.L."}


def test_text_identifier_tier_insurer_and_policy_filters(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    assert names(api, key, "q=nordic") == {"Nordic Timber AB"}
    assert names(api, key, "q=C1004") == {"Société Générale de Négoce SAS"}  # an ERP account
    assert names(api, key, "q=de136695976") == {"Müller Maschinenbau GmbH"}  # a VAT number
    assert names(api, key, "q=100%25") == set()  # LIKE wildcards are literal
    assert names(api, key, "identifier=FR_SIREN:552 100 554") == {"Société Générale de Négoce SAS"}
    assert names(api, key, "identifier=INSURER:atradius:100099") == {"Danube Logistics Kft"}
    bad = api.client.get("/v1/buyers?identifier=FR_SIREN:123", headers=key)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "identifier"

    with api.ledger.unit_of_work() as session:
        buyer_repo.set_tier(session, ids["Müller Maschinenbau GmbH"], "watch", api.ctx.now())
    assert names(api, key, "tier=watch") == {"Müller Maschinenbau GmbH"}
    growth = names(api, key, "tier=growth&limit=500")  # the default tier: buyers without one
    assert len(growth) == 8 and "Müller Maschinenbau GmbH" not in growth
    assert api.client.get("/v1/buyers?tier=platinum", headers=key).status_code == 422

    assert len(names(api, key, "insurer=atradius&limit=500")) == 9
    assert names(api, key, "insurer=coface") == set()  # configured, no buyer there
    assert names(api, key, "policy=coface-main") == set()
    for query, field in (("insurer=nobody", "insurer"), ("policy=nothing", "policy")):
        response = api.client.get(f"/v1/buyers?{query}", headers=key)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


def test_expiring_is_a_limit_that_drops_within_the_horizon(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    assert names(api, key, "expiring_within_days=365") == set()
    eur = lambda s: Money(Decimal(s), "EUR")  # noqa: E731
    start = date(2026, 11, 30)
    van_dijk = ids["Bouwbedrijf Van Dijk B.V."]
    add_cover(
        api,
        van_dijk,
        amount="100000",
        effective_from=start,
        tranches=(
            Tranche(eur("70000"), start),
            Tranche(eur("30000"), start, date(2026, 12, 20)),  # last day covered: 19 Dec
        ),
    )
    # a limit that rises is not expiring
    add_cover(
        api,
        ids["Alpine Retail AG"],
        amount="10000",
        effective_from=start,
        tranches=(Tranche(eur("10000"), start, date(2026, 12, 10)),),
    )
    add_cover(api, ids["Alpine Retail AG"], amount="50000", effective_from=date(2026, 12, 10))
    assert names(api, key, "expiring_within_days=30") == {"Bouwbedrijf Van Dijk B.V."}
    assert names(api, key, "expiring_within_days=19") == {"Bouwbedrijf Van Dijk B.V."}
    assert names(api, key, "expiring_within_days=18") == set()
    (buyer,) = api.client.get("/v1/buyers?expiring_within_days=30", headers=key).json()["buyers"]
    (position,) = buyer["positions"]
    assert position["limit"] == "100000.00"
    assert position["limit_next_change"] == "2026-12-20"
    assert position["limit_next_amount"] == "70000.00"


def test_paging_walks_every_buyer_once_without_gaps(api: ApiHarness) -> None:
    seed_demo(api)
    key = api.key("buyers:read")
    full = [b["id"] for b in walk(api, key, "limit=500")]
    assert full == sorted(full) and len(full) == 9
    for size in (1, 2, 4, 8, 9):
        paged = [b["id"] for b in walk(api, key, f"limit={size}")]
        assert paged == full
    uncovered = [b["id"] for b in walk(api, key, "uncovered=true&limit=500")]
    assert [b["id"] for b in walk(api, key, "uncovered=true&limit=1")] == uncovered
    first = api.client.get("/v1/buyers?limit=9", headers=key).json()
    assert first["next_cursor"] is None  # an exactly full last page says so
    for cursor in ("nope", "djI6MQ", "djE6LTE", "djE6OTk5OTk5OTk5OTk5"):
        response = api.client.get(f"/v1/buyers?cursor={cursor}", headers=key)
        assert response.status_code == 422, cursor
        assert response.json()["errors"][0]["field"] == "cursor"
    assert api.client.get("/v1/buyers?limit=0", headers=key).status_code == 422
    assert api.client.get("/v1/buyers?limit=501", headers=key).status_code == 422


def test_scopes_and_policy_restricted_keys(api: ApiHarness) -> None:
    ids = seed_demo(api)
    buyer = ids["Müller Maschinenbau GmbH"]
    assert api.client.get("/v1/buyers").status_code == 401
    erp = api.key("limits:read")
    for path in ("/v1/buyers", f"/v1/buyers/{buyer}", f"/v1/buyers/{buyer}/covers"):
        response = api.client.get(path, headers=erp)
        assert response.status_code == 403, path
        assert "buyers:read" in response.json()["detail"]
    other = api.key("buyers:read", policies=["coface-main"])
    assert names(api, other, "") == set()
    assert api.client.get("/v1/buyers?policy=atradius-main", headers=other).status_code == 403
    for suffix in ("", "/covers", "/open-items", "/exposure", "/alerts", "/cases"):
        response = api.client.get(f"/v1/buyers/{buyer}{suffix}", headers=other)
        assert response.status_code == 404, suffix
    mine = api.key("buyers:read", policies=["atradius-main"])
    assert len(names(api, mine, "limit=500")) == 9
    assert api.client.get(f"/v1/buyers/{buyer}", headers=mine).status_code == 200
    admin = api.key("admin")
    assert len(names(api, admin, "policy=atradius-main&limit=500")) == 9


def test_an_invoice_in_another_currency_counts_at_its_rate(api: ApiHarness, tmp_path: Path) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    with api.ledger.unit_of_work() as session:
        rate = NewRate(date(2026, 11, 20), "USD", Decimal("1.10"))
        upsert_rates(session, "EUR", [rate], source="test", now=api.ctx.now())
    items = tmp_path / "items.csv"
    items.write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to\n"
        "C1001,INV-USD-1,INVOICE,2026-11-20,2026-11-20,2027-01-19,USD,44000.00,44000.00,false,\n"
        "C1007,INV-GBP-1,INVOICE,2026-11-20,2026-11-20,2027-01-19,GBP,1000.00,1000.00,false,\n",
        encoding="utf-8",
    )
    import_open_items(api.ledger, items, now=api.ctx.now())
    # Van Dijk: 64,500 EUR + 44,000 USD at 1.10 = 104,500 EUR against 100,000
    assert names(api, key, "over_limit=true") == {
        "Bouwbedrijf Van Dijk B.V.",
        "Müller Maschinenbau GmbH",
        "Société Générale de Négoce SAS",
    }
    van_dijk = api.client.get(
        f"/v1/buyers/{ids['Bouwbedrijf Van Dijk B.V.']}/exposure", headers=key
    )
    (position,) = van_dijk.json()["positions"]
    assert (position["exposure"], position["uncovered"]) == ("104500.00", "4500.00")
    # no GBP rate: the invoice is left out, and said so
    shenzhen = api.client.get(f"/v1/buyers/{ids['深圳华强电子有限公司']}/exposure", headers=key)
    (position,) = shenzhen.json()["positions"]
    assert position["unconverted"] == ["INV-GBP-1"] and "fx_rate_missing" in position["alerts"]
    assert position["exposure"] == "25000.00"
