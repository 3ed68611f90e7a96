"""One buyer: identity with provenance, covers with their history, open items,
exposure, alerts, cases; 404s."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tci_gateway.domain.cover import Tranche
from tci_gateway.domain.identifiers import parse_identifier
from tci_gateway.domain.identity import ParentRelation
from tci_gateway.domain.money import Money
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.services.claims import run_claims

from .conftest import ApiHarness
from .risk_seed import add_cover, seed_demo


def test_identity_with_the_provenance_of_each_identifier(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    sgn = ids["Société Générale de Négoce SAS"]
    with api.ledger.unit_of_work() as session:
        parent = parse_identifier("LEI", "529900T8BM49AURSDO55")
        identity_repo.store_parent(
            session, sgn, ParentRelation.ULTIMATE, parent, "gleif", api.ctx.now()
        )
    body = api.client.get(f"/v1/buyers/{sgn}", headers=key).json()
    assert body["name"] == "Société Générale de Négoce SAS" and body["country"] == "FR"
    assert body["tier"] == "growth" and body["tier_set"] is False
    assert [(i["scheme"], i["issuer"], i["value"], i["source"]) for i in body["identifiers"]] == [
        ("FR_SIREN", None, "552100554", "erp:C1003"),
        ("INSURER", "atradius", "100003", "erp:C1003"),
    ]
    assert all(i["added_at"] == "2026-12-01T12:00:00Z" for i in body["identifiers"])
    assert [(a["account"], a["policy"]) for a in body["erp_accounts"]] == [
        ("C1003", "atradius-main"),
        ("C1004", "atradius-main"),
    ]
    assert [(p["relation"], p["scheme"], p["value"], p["source"]) for p in body["parents"]] == [
        ("ULTIMATE", "LEI", "529900T8BM49AURSDO55", "gleif")
    ]
    # a buyer the sync created from the insurer's portfolio
    danube = api.client.get(f"/v1/buyers/{ids['Danube Logistics Kft']}", headers=key).json()
    assert [(i["scheme"], i["value"], i["source"]) for i in danube["identifiers"]] == [
        ("INSURER", "100099", "sync:atradius")
    ]
    assert danube["erp_accounts"] == []
    missing = api.client.get("/v1/buyers/999999", headers=key)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["detail"] == "no buyer 999999 in the ledger"
    for path in ("/v1/buyers/0", "/v1/buyers/99999999999", "/v1/buyers/x"):
        assert api.client.get(path, headers=key).status_code == 422, path


def test_covers_with_the_effective_dated_history(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    mueller = ids["Müller Maschinenbau GmbH"]
    (cover,) = api.client.get(f"/v1/buyers/{mueller}/covers", headers=key).json()["covers"]
    assert (cover["policy"], cover["insurer"], cover["currency"]) == (
        "atradius-main",
        "atradius",
        "EUR",
    )
    (first,) = cover["versions"]
    assert first["status"] == "REDUCED" and first["raw_codes"]["decisionCode"] == "DC09"
    assert (first["granted_amount"], first["requested_amount"]) == ("40000.00", "60000.00")
    assert cover["in_force"]["amount"] == "40000.00"
    assert cover["in_force"]["decision_id"] == first["id"]
    start = date(2026, 11, 30)
    eur = lambda s: Money(Decimal(s), "EUR")  # noqa: E731
    second = add_cover(
        api,
        mueller,
        amount="60000",
        effective_from=start,
        ref="T-2",
        tranches=(Tranche(eur("25000"), start), Tranche(eur("35000"), start, date(2027, 1, 1))),
    )
    # a future decision: history, not yet in force
    third = add_cover(api, mueller, amount="90000", effective_from=date(2027, 3, 1), ref="T-3")
    (cover,) = api.client.get(f"/v1/buyers/{mueller}/covers", headers=key).json()["covers"]
    assert [v["id"] for v in cover["versions"]] == [first["id"], second, third]
    assert [t["amount"] for t in cover["versions"][1]["tranches"]] == ["25000.00", "35000.00"]
    assert cover["versions"][1]["tranches"][1]["expires_on"] == "2027-01-01"
    assert cover["in_force"] == {
        "status": "APPROVED",
        "amount": "60000.00",
        "currency": "EUR",
        "decision_id": second,
        "valid_from": "2026-11-30",
        "valid_to": "2027-01-01",
        "next_amount": "25000.00",
    }
    assert [(c["amount"], c["reason"]) for c in cover["limit_changes"]] == [
        ("40000.00", "sync"),
        ("60000.00", "sync"),
    ]
    alpine = ids["Alpine Retail AG"]  # no cover anywhere
    assert api.client.get(f"/v1/buyers/{alpine}/covers", headers=key).json()["covers"] == []
    assert api.client.get("/v1/buyers/4242/covers", headers=key).status_code == 404


def test_open_items_exposure_and_alerts_pages(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    van_dijk = ids["Bouwbedrijf Van Dijk B.V."]
    pages, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        body = api.client.get(
            f"/v1/buyers/{van_dijk}/open-items?limit=3{suffix}", headers=key
        ).json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    items = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [3, 1]
    assert len({i["id"] for i in items}) == 4
    assert {(i["document_number"], i["kind"], i["open_amount"]) for i in items} == {
        ("INV-1001-01", "INVOICE", "40000.00"),
        ("INV-1001-02", "INVOICE", "30000.00"),
        ("CN-1001-01", "CREDIT_NOTE", "2500.00"),
        ("PAY-1001-01", "PAYMENT", "3000.00"),
    }
    assert all(i["erp_account"] == "C1001" and i["policy"] == "atradius-main" for i in items)
    (position,) = api.client.get(f"/v1/buyers/{van_dijk}/exposure", headers=key).json()["positions"]
    assert (position["exposure"], position["limit"], position["uncovered"]) == (
        "64500.00",
        "100000.00",
        "0.00",
    )
    assert position["credits"] == "5500.00"

    danube = ids["Danube Logistics Kft"]
    first = api.client.get(f"/v1/buyers/{danube}/alerts?limit=1", headers=key).json()
    second = api.client.get(
        f"/v1/buyers/{danube}/alerts?limit=1&cursor={first['next_cursor']}", headers=key
    ).json()
    assert second["next_cursor"] is None
    alerts = first["alerts"] + second["alerts"]
    assert [a["kind"] for a in alerts] == ["cover_new", "unknown_buyer"]  # newest first
    assert alerts[0]["id"] > alerts[1]["id"]
    assert alerts[1]["severity"] == "warning" and alerts[1]["policy"] == "atradius-main"
    only = api.client.get(f"/v1/buyers/{danube}/alerts?kind=unknown_buyer", headers=key).json()
    assert [a["kind"] for a in only["alerts"]] == ["unknown_buyer"]
    for suffix in ("open-items", "exposure", "alerts", "cases"):
        assert api.client.get(f"/v1/buyers/777/{suffix}", headers=key).status_code == 404


def test_cases_of_a_buyer(api: ApiHarness) -> None:
    ids = seed_demo(api)
    key = api.key("buyers:read")
    settings = api.ctx.settings
    report = run_claims(
        api.ledger,
        settings.domain_policies(),
        settings.escalation_paths(),
        {},
        default_tier=settings.escalation.default_tier,
        now=api.ctx.now(),
    )
    assert not report.errors
    van_dijk = ids["Bouwbedrijf Van Dijk B.V."]
    (case,) = api.client.get(f"/v1/buyers/{van_dijk}/cases", headers=key).json()["cases"]
    assert (case["policy"], case["state"], case["currency"]) == ("atradius-main", "OPEN", "EUR")
    assert (case["due_date"], case["cover_stop"]) == ("2026-11-14", "2027-01-13")
    assert Decimal(case["indemnity"]) > 0
    closed = api.client.get(f"/v1/buyers/{van_dijk}/cases?state=CLOSED", headers=key).json()
    assert closed["cases"] == []
    mueller = ids["Müller Maschinenbau GmbH"]
    assert api.client.get(f"/v1/buyers/{mueller}/cases", headers=key).json()["cases"] == []
    page = api.client.get(f"/v1/buyers/{van_dijk}/cases?limit=1", headers=key).json()
    assert [c["id"] for c in page["cases"]] == [case["id"]] and page["next_cursor"] is None
    assert api.client.get(f"/v1/buyers/{van_dijk}/cases?state=nope", headers=key).status_code == 422
