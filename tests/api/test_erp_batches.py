"""``POST /v1/buyers`` and ``POST /v1/open-items``: validated as file imports, all or
nothing (422 listing every bad record by index and field), complete + scope closing
behind the mass-close guard, idempotent, audited, restricted to a key's policies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.tables import OpenItemRow

from .conftest import ApiHarness
from .erp_setup import BUYERS, OTHER, counts, item

ITEM_HEADER = "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount"


def _buyers(api: ApiHarness) -> dict[str, str]:
    admin = api.key("admin")
    assert api.client.post("/v1/buyers", json=BUYERS, headers=admin).status_code == 200
    return admin


def _open(api: ApiHarness) -> dict[str, Decimal]:
    with api.ledger.reading() as session:
        return {
            number: amount
            for number, amount in session.execute(
                select(OpenItemRow.document_number, OpenItemRow.open_amount)
            )
        }


def _audit(api: ApiHarness) -> list[AuditRow]:
    with api.ledger.reading() as session:
        rows = list(session.scalars(select(AuditRow).order_by(AuditRow.id)))
        session.expunge_all()  # kept as read: the reading transaction rolls back
    return rows


def test_a_json_batch_is_imported_and_audited_as_the_cli_reports_it(api: ApiHarness) -> None:
    writer = api.key("buyers:write", "items:write", name="erp-sap")
    answer = api.client.post("/v1/buyers", json={"buyers": BUYERS}, headers=writer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "kind": "buyers",
        "rows": 7,
        "inserted": 7,
        "updated": 0,
        "unchanged": 0,
        "sha256": answer.json()["sha256"],
    }
    items = [item("A1", "I1", "60000.00"), item("B1", "I2", "8000.50", company_code="1000")]
    answer = api.client.post("/v1/open-items", json=items, headers=writer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rows"], body["inserted"], body["closed"], body["complete"]) == (2, 2, 0, False)
    assert body["scope"] == {"source": "default", "company_codes": ["1000"]}
    assert _open(api) == {"I1": Decimal("60000.00"), "I2": Decimal("8000.50")}
    again = api.client.post("/v1/open-items", json=items, headers=writer).json()
    assert (again["inserted"], again["unchanged"]) == (0, 2)  # upserts, as a file re-import
    audit = _audit(api)
    assert [a.action for a in audit] == ["buyers.import", "open_items.import", "open_items.import"]
    assert {a.actor for a in audit} == {"erp-sap"} and all(a.request_id for a in audit)
    assert audit[1].path == "/v1/open-items" and audit[1].method == "POST"
    assert audit[1].detail["inserted"] == 2 and audit[1].detail["format"] == "json"


def test_a_csv_batch_is_read_as_a_csv_file(api: ApiHarness) -> None:
    admin = _buyers(api)
    body = f"{ITEM_HEADER}\nA1,I9,INVOICE,2026-10-01,2026-12-30,EUR,100.00,40.00\n"
    answer = api.client.post(
        "/v1/open-items",
        content=body.encode(),
        headers={**admin, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert answer.status_code == 200, answer.text
    assert _open(api) == {"I9": Decimal("40.00")}
    assert _audit(api)[-1].detail["format"] == "csv"


def test_every_bad_json_record_is_listed_by_index_and_field_and_nothing_is_written(
    api: ApiHarness,
) -> None:
    admin = _buyers(api)
    before = counts(api)
    items: list[Any] = [
        item("A1", "OK1"),
        item("A1", "BAD1", amount="12,50"),  # index 1: amount and open amount
        item("ZZ", "BAD2"),  # index 2: unknown account
        {**item("A1", "BAD3"), "colour": "red"},  # index 3: unknown field
        item("A1", "BAD4", document_date="2026-02-30", currency="EURO"),  # index 4: two
        item("A1", "OK1"),  # index 5: the same document twice
        "not an object",  # index 6
    ]
    answer = api.client.post("/v1/open-items", json=items, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["detail"].endswith("nothing was written")
    found = {(e["index"], e.get("field")) for e in problem["errors"]}
    assert found == {
        (1, "amount"),
        (1, "open_amount"),
        (2, "erp_account"),
        (3, "colour"),
        (4, "currency"),
        (4, "document_date"),
        (5, "document_number"),
        (6, None),
    }
    assert all("row" not in e for e in problem["errors"])
    assert counts(api) == before  # no item, no import row, no audit row


def test_csv_errors_give_the_row_and_the_records_index(api: ApiHarness) -> None:
    admin = _buyers(api)
    before = counts(api)
    body = (
        f"{ITEM_HEADER}\n"
        "A1,C1,INVOICE,2026-10-01,2026-12-30,EUR,100.00,40.00\n"
        "A1,C2,INVOICE,2026-10-01,2026-12-30,EUR,100.00,400.00\n"
        "A1,C3,BILL,2026-10-01,2026-12-30,EUR,100.00,40.00\n"
    )
    answer = api.client.post(
        "/v1/open-items", content=body.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [(e["index"], e["row"], e["field"]) for e in errors] == [
        (1, 3, "open_amount"),
        (2, 4, "kind"),
    ]
    header = api.client.post(
        "/v1/open-items",
        content=b"erp_account,document_number\nA1,X\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert header.status_code == 422
    assert {(e.get("index"), e["row"]) for e in header.json()["errors"]} == {(None, 1)}
    malformed = api.client.post(
        "/v1/open-items",
        content=b'[{"erp_account": "A1",\n',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["reason"].startswith("line ")
    assert counts(api) == before


def test_unsupported_bodies_are_refused(api: ApiHarness) -> None:
    admin = _buyers(api)
    answer = api.client.post(
        "/v1/open-items", content=b"x", headers={**admin, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 415
    bad_source = api.client.post(
        "/v1/open-items", params={"source": "no spaces"}, json=[], headers=admin
    )
    assert bad_source.status_code == 422
    for code in ("x" * 33, " 1000", ""):
        bad_code = api.client.post(
            "/v1/open-items", params={"company_code": code}, json=[], headers=admin
        )
        assert bad_code.status_code == 422, code
    assert (
        api.client.post("/v1/open-items", json=[], headers=api.key("limits:read")).status_code
        == 403
    )


def test_idempotent_replay_and_a_reused_key_with_another_body(api: ApiHarness) -> None:
    admin = _buyers(api)
    headers = {**admin, "Idempotency-Key": "batch-2026-12-01-1"}
    first = api.client.post("/v1/open-items", json=[item("A1", "I1")], headers=headers)
    assert first.status_code == 200
    before = counts(api)
    replay = api.client.post("/v1/open-items", json=[item("A1", "I1")], headers=headers)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert counts(api) == before  # no second import, no second audit row
    other = api.client.post("/v1/open-items", json=[item("A1", "I2")], headers=headers)
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert "I2" not in _open(api)
    # a refused batch releases its key: the corrected batch goes through under it
    retry = {**admin, "Idempotency-Key": "batch-2"}
    bad = api.client.post("/v1/open-items", json=[item("ZZ", "I3")], headers=retry)
    assert bad.status_code == 422
    good = api.client.post("/v1/open-items", json=[item("A1", "I3")], headers=retry)
    assert good.status_code == 200 and "I3" in _open(api)


def test_a_complete_batch_closes_what_its_scope_no_longer_lists(api: ApiHarness) -> None:
    admin = _buyers(api)
    sap = {"source": "sap", "company_code": ["1000"]}
    first = [item("A1", f"S{n}", company_code="1000") for n in range(10)]
    first.append(item("B1", "T1", company_code="2000"))
    assert (
        api.client.post(
            "/v1/open-items", params={"source": "sap"}, json=first, headers=admin
        ).status_code
        == 200
    )
    assert (
        api.client.post("/v1/open-items", json=[item("A1", "D1")], headers=admin).status_code == 200
    )
    # company code 1000 now lists S0..S7: S8 and S9 close; 2000 and the default source stay
    listed = [item("A1", f"S{n}") for n in range(8)]  # no code: the only declared one
    answer = api.client.post(
        "/v1/open-items", params={**sap, "complete": "true"}, json=listed, headers=admin
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["closed"], body["complete"]) == (2, True)
    assert body["scope"] == {"source": "sap", "company_codes": ["1000"]}
    still_open = {n for n, amount in _open(api).items() if amount > 0}
    assert still_open == {*(f"S{n}" for n in range(8)), "T1", "D1"}
    assert _audit(api)[-1].detail["closed"] == 2
    # a record outside the declared scope is a bad record
    outside = api.client.post(
        "/v1/open-items",
        params={**sap, "complete": "true"},
        json=[*listed, item("B1", "T1", company_code="2000")],
        headers=admin,
    )
    assert outside.status_code == 422
    assert [(e["index"], e["field"]) for e in outside.json()["errors"]] == [(8, "company_code")]


def test_the_mass_close_guard_refuses_until_allowed(api: ApiHarness) -> None:
    admin = _buyers(api)
    items = [item("A1", f"M{n}") for n in range(10)]
    assert api.client.post("/v1/open-items", json=items, headers=admin).status_code == 200
    before = counts(api)
    for listed in ([], items[:2]):
        refused = api.client.post(
            "/v1/open-items", params={"complete": "true"}, json=listed, headers=admin
        )
        assert refused.status_code == 422, refused.text
        assert "allow_mass_close=true" in refused.json()["detail"]
        assert counts(api) == before
    allowed = api.client.post(
        "/v1/open-items",
        params={"complete": "true", "allow_mass_close": "true"},
        json=items[:2],
        headers=admin,
    )
    assert allowed.status_code == 200 and allowed.json()["closed"] == 8


def test_a_key_restricted_to_a_policy_writes_only_its_accounts_items(api: ApiHarness) -> None:
    _buyers(api)
    key = api.key("items:write", policies=[OTHER])
    before = counts(api)
    answer = api.client.post(
        "/v1/open-items", json=[item("E1", "E-1"), item("A1", "A-1")], headers=key
    )
    assert answer.status_code == 422
    assert [(e["index"], e["field"]) for e in answer.json()["errors"]] == [(1, "erp_account")]
    assert counts(api) == before
    assert (
        api.client.post("/v1/open-items", json=[item("E1", "E-1")], headers=key).status_code == 200
    )
    complete = api.client.post(
        "/v1/open-items", params={"complete": "true"}, json=[item("E1", "E-1")], headers=key
    )
    assert complete.status_code == 403
    buyers = api.key("buyers:write", policies=[OTHER])
    refused = api.client.post(
        "/v1/buyers", json=[{**BUYERS[0], "erp_account": "A9"}], headers=buyers
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "policy"
    moved = api.client.post("/v1/buyers", json=[{**BUYERS[0], "policy": OTHER}], headers=buyers)
    assert moved.status_code == 422  # A1 is under atradius-main: not this key's to move
    assert moved.json()["errors"][0]["field"] == "erp_account"
    own = api.client.post("/v1/buyers", json=[{**BUYERS[5], "name": "Epsilon"}], headers=buyers)
    assert own.status_code == 200 and own.json()["updated"] == 1
