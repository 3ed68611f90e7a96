"""Payment behaviour over the API on a hand-made ledger with figures computed by hand:
per buyer, tier, policy and the portfolio, the trend from the nightly snapshots, the
buyer's credit position, scopes, and bad input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, OpenItemRow
from tci_gateway.services.behaviour import take_snapshots

from .conftest import ApiHarness
from .risk_seed import import_csv

SQLITE_ONLY = True
"""The behaviour service has PostgreSQL tests of its own (SQL aggregates)."""

D = Decimal
URL = "/v1/behaviour"


@pytest.fixture
def buyer(api: ApiHarness, tmp_path: Path) -> int:
    """Buyer B1 (no tier: the default, growth) under atradius-main, with on the API's
    business date 1 Dec 2026:

    - invoice 10,000 due 1 Oct, settled 1 Oct: 0 days beyond terms, on time;
    - invoice 25,000 due 15 Oct, settled 27 Oct: 12 days;
    - invoice 5,000 due 21 Oct, settled 30 Nov: 40 days;
    - invoice 2,000 of 1 Oct due 31 Oct, open, disputed since 11 Nov: 31 days (31-60);
    - invoice 8,000 of 20 Nov due 20 Dec, open: current.

    Receivables 10,000; sales Dec (1 day) 0, Nov (30) 8,000, Oct (31) 2,000.
    DSO simple 10,000 / 10,000 x 62 = 62.00; best possible 8,000 / 10,000 x 62 = 49.60;
    average days delinquent 12.40. DBT average (0 + 12 + 40 + 31) / 4 = 20.75; weighted
    (12 x 25,000 + 40 x 5,000 + 31 x 2,000) / 42,000 = 13.38. Paid on time 10,000 /
    40,000 = 0.2500. Disputed 2,000, one, 20 days old."""
    import_csv(
        api,
        tmp_path,
        "erp_account,name,country,policy\nB1,Behaviour BV,NL,atradius-main\n"
        "A1,Alpha Oy,FI,coface-main\n",
    )
    d = date
    items = [
        ("I1", "10000", "0", d(2026, 9, 1), d(2026, 10, 1), d(2026, 10, 1), None),
        ("I2", "25000", "0", d(2026, 9, 15), d(2026, 10, 15), d(2026, 10, 27), None),
        ("I3", "5000", "0", d(2026, 9, 21), d(2026, 10, 21), d(2026, 11, 30), None),
        ("I5", "2000", "2000", d(2026, 10, 1), d(2026, 10, 31), None, d(2026, 11, 11)),
        ("I4", "8000", "8000", d(2026, 11, 20), d(2026, 12, 20), None, None),
    ]
    with api.ledger.unit_of_work() as s:
        account = s.scalar(select(ErpAccountRow.id).where(ErpAccountRow.account == "B1"))
        buyer_id = s.scalar(select(BuyerRow.id).where(BuyerRow.name == "Behaviour BV"))
        s.execute(
            insert(OpenItemRow),
            [
                {
                    "erp_account_id": account,
                    "document_number": number,
                    "kind": "INVOICE",
                    "currency": "EUR",
                    "amount": D(amount),
                    "open_amount": D(open_amount),
                    "document_date": document,
                    "due_date": due,
                    "disputed": since is not None,
                    "disputed_since": since,
                    "settled_on": settled,
                    "updated_at": api.ctx.now(),
                    "source": "default",
                }
                for number, amount, open_amount, document, due, settled, since in items
            ],
        )
    assert buyer_id is not None
    return int(buyer_id)


def _figures(item: dict[str, object]) -> dict[str, object]:
    keys = (
        "receivables",
        "dso_countback",
        "dso_simple",
        "best_possible_dso",
        "average_days_delinquent",
        "dbt_average",
        "dbt_weighted",
        "paid_on_time_share",
        "invoices_settled",
        "invoices_overdue",
        "disputed_amount",
        "disputed_count",
        "disputed_oldest_days",
        "ageing",
    )
    return {k: item[k] for k in keys}


GOLDEN = {
    "receivables": "10000.00",
    "dso_countback": "62.00",
    "dso_simple": "62.00",
    "best_possible_dso": "49.60",
    "average_days_delinquent": "12.40",
    "dbt_average": "20.75",
    "dbt_weighted": "13.38",
    "paid_on_time_share": "0.2500",
    "invoices_settled": 3,
    "invoices_overdue": 1,
    "disputed_amount": "2000.00",
    "disputed_count": 1,
    "disputed_oldest_days": 20,
    "ageing": {
        "current": "8000.00",
        "days_1_30": "0.00",
        "days_31_60": "2000.00",
        "days_61_90": "0.00",
        "days_over_90": "0.00",
        "overdue": "2000.00",
        "total": "10000.00",
    },
}


def test_the_figures_of_every_scope(api: ApiHarness, buyer: int) -> None:
    headers = api.key("buyers:read")
    portfolio = api.client.get(URL, headers=headers)
    assert portfolio.status_code == 200, portfolio.text
    body = portfolio.json()
    assert body["as_of"] == "2026-12-01" and body["scope"] == "portfolio"
    (item,) = body["items"]
    assert item["key"] == "all" and item["currency"] == "EUR"
    assert _figures(item) == GOLDEN
    assert [(m["month"], m["days"], m["sales"]) for m in item["sales"][:3]] == [
        ("2026-12-01", 1, "0.00"),
        ("2026-11-01", 30, "8000.00"),
        ("2026-10-01", 31, "2000.00"),
    ]
    for scope, key in (("buyer", str(buyer)), ("tier", "growth"), ("policy", "atradius-main")):
        answer = api.client.get(URL, headers=headers, params={"scope": scope, "key": key})
        assert answer.status_code == 200, (scope, answer.text)
        (one,) = answer.json()["items"]
        assert one["scope"] == scope and one["key"] == key
        assert _figures(one) == GOLDEN, scope
    (named,) = api.client.get(URL, headers=headers, params={"scope": "buyer"}).json()["items"]
    assert named["label"] == "Behaviour BV"
    # before the last settlement: 30 Nov, the 5,000 invoice is open and 40 days late
    earlier = api.client.get(URL, headers=headers, params={"as_of": "2026-11-29"}).json()
    assert earlier["items"][0]["receivables"] == "15000.00"

    credit = api.client.get(f"/v1/buyers/{buyer}/credit", headers=headers).json()
    assert credit["tier"] == "growth" and credit["tier_set"] is False
    assert credit["lines"] == [] and credit["plan"] is None
    assert _figures(credit["behaviour"]) == GOLDEN


def test_the_trend_from_snapshots(api: ApiHarness, buyer: int) -> None:
    headers = api.key("buyers:read")
    empty = api.client.get(f"{URL}/trend", headers=headers).json()
    assert empty == {"scope": "portfolio", "key": "all", "months": 24, "points": []}
    options = api.ctx.credit_options().behaviour
    take_snapshots(api.ledger, date(2026, 11, 30), options, now=api.ctx.now())
    take_snapshots(api.ledger, date(2026, 12, 1), options, now=api.ctx.now())
    found = api.client.get(
        f"{URL}/trend", headers=headers, params={"scope": "buyer", "key": str(buyer)}
    ).json()
    points = found["points"]
    assert [p["day"] for p in points] == ["2026-11-30", "2026-12-01"]
    assert points[-1]["dbt_weighted"] == "13.38" and points[-1]["receivables"] == "10000.00"
    portfolio = api.client.get(f"{URL}/trend", headers=headers).json()
    assert [p["key"] for p in portfolio["points"]] == ["all", "all"]


def test_bad_input_scopes_and_unknowns(api: ApiHarness, buyer: int) -> None:
    headers = api.key("buyers:read")
    get = api.client.get
    assert get(URL, headers=headers, params={"scope": "buyer", "key": "999999"}).status_code == 404
    assert get(URL, headers=headers, params={"scope": "buyer", "key": "B1"}).status_code == 422
    huge = {"scope": "buyer", "key": "99999999999999999999"}
    assert get(URL, headers=headers, params=huge).status_code == 404
    assert get(f"{URL}/trend", headers=headers, params=huge).status_code == 404
    assert get(URL, headers=headers, params={"scope": "tier", "key": "gold"}).status_code == 422
    assert get(URL, headers=headers, params={"scope": "policy", "key": "nope"}).status_code == 422
    assert get(URL, headers=headers, params={"scope": "galaxy"}).status_code == 422
    assert get(URL, headers=headers, params={"as_of": "2027-01-01"}).status_code == 422
    assert get(f"{URL}/trend", headers=headers, params={"scope": "tier"}).status_code == 422
    assert get(f"{URL}/trend", headers=headers, params={"months": 0}).status_code == 422
    assert get(URL, headers=api.key("limits:read")).status_code == 403
    assert get(URL).status_code == 401
    restricted = api.key("buyers:read", policies=["atradius-main"])
    assert get(URL, headers=restricted).status_code == 403  # the portfolio spans policies
    mine = get(URL, headers=restricted, params={"scope": "policy", "key": "atradius-main"})
    assert mine.status_code == 200
    other = get(URL, headers=restricted, params={"scope": "policy", "key": "coface-main"})
    assert other.status_code == 403
    credit = get(f"/v1/buyers/{buyer}/credit", headers=restricted)
    assert credit.status_code == 200 and credit.json()["behaviour"] is None
    assert get("/v1/buyers/999999/credit", headers=headers).status_code == 404


def test_every_buyer_paged_by_label(api: ApiHarness, buyer: int, tmp_path: Path) -> None:
    """Alpha Oy (no items) is left out; one buyer a page, then none."""
    headers = api.key("buyers:read")
    with api.ledger.unit_of_work() as s:
        account = s.scalar(select(ErpAccountRow.id).where(ErpAccountRow.account == "A1"))
        s.execute(
            insert(OpenItemRow).values(
                erp_account_id=account,
                document_number="X1",
                kind="INVOICE",
                currency="EUR",
                amount=D(100),
                open_amount=D(100),
                document_date=date(2026, 11, 2),
                due_date=date(2026, 12, 2),
                disputed=False,
                updated_at=api.ctx.now(),
                source="default",
            )
        )
    params: dict[str, str | int] = {"scope": "buyer", "limit": 1}
    first = api.client.get(URL, headers=headers, params=params).json()
    assert [i["label"] for i in first["items"]] == ["Alpha Oy"]
    second = api.client.get(
        URL, headers=headers, params={**params, "cursor": first["next_cursor"]}
    ).json()
    assert [i["label"] for i in second["items"]] == ["Behaviour BV"]
    assert second["next_cursor"] is None
    wrong = api.client.get(URL, headers=headers, params={**params, "cursor": "nobody"})
    assert wrong.status_code == 422
