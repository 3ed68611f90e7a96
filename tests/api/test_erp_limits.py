"""``GET /v1/limits``: the export's rows a page at a time, changed-since (changes by date
included), ETag and 304, CSV escaped as the export's file, keys restricted to policies."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tci_gateway.erp.export import write_csv
from tci_gateway.services.export import LIMIT_COLUMNS, export_limits

from ..services.fakes import decision, entry
from .conftest import ApiHarness
from .erp_setup import MAIN, OTHER, portfolio, seed, sync

CSV = {"Accept": "text/csv"}


def _all_pages(
    api: ApiHarness, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], int, int]:
    """Every row over the pages, the changed-since cursor and how many pages."""
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = api.client.get("/v1/limits", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages += 1
        rows += page["covered_limits"]
        assert answer.headers["X-Changed-Since-Cursor"] == str(page["changed_since_cursor"])
        cursor = page["next_cursor"]
        if cursor is None:
            assert "X-Next-Cursor" not in answer.headers
            return rows, page["changed_since_cursor"], pages
        assert answer.headers["X-Next-Cursor"] == cursor


def test_pages_give_the_exports_rows_once_each_in_policy_and_buyer_order(
    api: ApiHarness,
) -> None:
    admin = seed(api)
    rows, cursor, pages = _all_pages(api, admin, limit=2)
    assert pages == 3  # six rows, two a page: the last page says so without a seventh read
    export = export_limits(api.ledger, api.ctx.settings.domain_policies(), now=api.ctx.now())
    assert cursor == export.cursor == 3
    keys = [(r["policy"], r["buyer_id"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == len(export.rows)
    expected = {(r.policy, r.buyer_id): r for r in export.rows}
    for row in rows:
        want = expected[(row["policy"], row["buyer_id"])]
        assert row["status"] == want.status
        assert Decimal(row["covered_amount"]) == want.covered_amount
        assert row["covered_amount"] == format(want.covered_amount, "f")  # a string, 2 places
        assert row["currency"] == want.currency
        assert row["erp_accounts"] == list(want.erp_accounts)
        assert row["valid_to"] == (want.valid_to.isoformat() if want.valid_to else None)
        assert row["raw_codes"] == dict(want.raw_codes)
    statuses = {r["buyer_name"]: r["status"] for r in rows}
    assert statuses["Delta BV"] == "NO_COVER" and statuses["Epsilon Srl"] == "NO_COVER"
    assert statuses["Alpha GmbH"] == "APPROVED" and statuses["=Beta Ltd"] == "REFUSED"


def test_changed_since_sends_decisions_and_changes_by_date_and_nothing_else(
    api: ApiHarness,
) -> None:
    admin = seed(api)
    _, cursor, _ = _all_pages(api, admin)
    again, same, _ = _all_pages(api, admin, changed_since=cursor)
    assert again == [] and same == cursor
    # a new decision for Alpha (sync), then Gamma's cover ends on 20 December (by date)
    insurer = portfolio()
    insurer.items[0] = entry("1", decision("90000", ref="X1b"))
    sync(api, insurer)
    changed, cursor2, _ = _all_pages(api, admin, changed_since=cursor)
    assert [(r["buyer_name"], r["covered_amount"]) for r in changed] == [("Alpha GmbH", "90000.00")]
    api.ctx.as_of = api.ctx.now() + timedelta(days=20)  # 21 December in Paris
    by_date, cursor3, _ = _all_pages(api, admin, changed_since=cursor2)
    assert [(r["buyer_name"], r["covered_amount"]) for r in by_date] == [("Gamma SA", "0.00")]
    assert cursor3 > cursor2
    # the CLI's export agrees: same rows changed since the same cursor
    export = export_limits(
        api.ledger, api.ctx.settings.domain_policies(), now=api.ctx.now(), changed_since=cursor2
    )
    assert [r.buyer_name for r in export.rows] == ["Gamma SA"]


def test_changed_since_pages_keep_the_cursor_of_their_first_page(api: ApiHarness) -> None:
    admin = seed(api)
    first = api.client.get("/v1/limits", params={"limit": 1, "changed_since": 0}, headers=admin)
    page = first.json()
    assert page["changed_since_cursor"] == 3 and page["next_cursor"]
    insurer = portfolio()
    insurer.items[0] = entry("1", decision("90000", ref="X1b"))
    sync(api, insurer)  # a change while the ERP pages: sent as it is now, and next time
    rows, cursor, _ = _all_pages(api, admin, limit=1, changed_since=0)
    assert cursor == 4 and len(rows) == 3  # every stored limit; no NO_COVER row in changes
    second = api.client.get(
        "/v1/limits", params={"cursor": page["next_cursor"], "limit": 1}, headers=admin
    ).json()
    assert second["changed_since_cursor"] == 3  # the first page's, carried by the cursor
    again, _, _ = _all_pages(api, admin, changed_since=3)
    assert [r["buyer_name"] for r in again] == ["Alpha GmbH"]


def test_etag_and_if_none_match_answer_304_until_something_changes(api: ApiHarness) -> None:
    admin = seed(api)
    first = api.client.get("/v1/limits", headers=admin)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Vary"] == "Accept"
    same = api.client.get("/v1/limits", headers={**admin, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == etag
    listed = api.client.get("/v1/limits", headers={**admin, "If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    as_csv = api.client.get("/v1/limits", headers={**admin, **CSV, "If-None-Match": etag})
    assert as_csv.status_code == 200 and as_csv.headers["ETag"] != etag
    insurer = portfolio()
    insurer.items[1] = entry("2", decision("5000", ref="X2b"))
    sync(api, insurer)
    changed = api.client.get("/v1/limits", headers={**admin, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_csv_is_the_exports_file_formula_escaped(api: ApiHarness) -> None:
    admin = seed(api)
    answer = api.client.get("/v1/limits", headers={**admin, **CSV})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    export = export_limits(
        api.ledger, api.ctx.settings.domain_policies(), now=api.ctx.now(), raw_codes=False
    )
    ordered = sorted(export.rows, key=lambda r: (r.policy, r.buyer_id))
    expected = io.StringIO()
    write_csv((r.as_dict() for r in ordered), LIMIT_COLUMNS, expected)
    assert answer.text == expected.getvalue()
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert "'=Beta Ltd" in {r["buyer_name"] for r in rows}  # never a formula
    assert {r["erp_accounts"] for r in rows} >= {"A1;A2"}


def test_a_key_restricted_to_a_policy_sees_only_its_limits(api: ApiHarness) -> None:
    seed(api)
    restricted = api.key("limits:read", policies=[OTHER])
    rows, _, _ = _all_pages(api, restricted)
    assert {r["policy"] for r in rows} == {OTHER} and len(rows) == 2
    main_only = api.key("limits:read", policies=[MAIN])
    rows, _, _ = _all_pages(api, main_only, limit=1)
    assert {r["policy"] for r in rows} == {MAIN} and len(rows) == 4
    nothing = api.key("limits:read", policies=["no-such-policy"])
    assert _all_pages(api, nothing)[0] == []
    assert api.client.get("/v1/limits", headers=api.key("items:write")).status_code == 403


def test_bad_cursors_and_media_types_are_refused(api: ApiHarness) -> None:
    admin = seed(api)
    for bad in ("nonsense!", "eyJ1IjogLTF9", "e30"):
        answer = api.client.get("/v1/limits", params={"cursor": bad}, headers=admin)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    ahead = api.client.get("/v1/limits", params={"changed_since": 99}, headers=admin)
    assert ahead.status_code == 400 and "ahead of this ledger" in ahead.json()["detail"]
    page = api.client.get("/v1/limits", params={"limit": 1}, headers=admin).json()
    mixed = api.client.get(
        "/v1/limits", params={"cursor": page["next_cursor"], "changed_since": 1}, headers=admin
    )
    assert mixed.status_code == 400
    xml = api.client.get("/v1/limits", headers={**admin, "Accept": "application/xml"})
    assert xml.status_code == 406
    either = api.client.get(
        "/v1/limits", headers={**admin, "Accept": "application/json;q=0.5, text/csv"}
    )
    assert either.headers["content-type"].startswith("text/csv")


def test_the_roll_before_a_read_happens_once_per_business_date(api: ApiHarness) -> None:
    admin = seed(api, portfolio(gamma_ends=None))
    _, cursor, _ = _all_pages(api, admin)
    gate = api.client.app.state.limits_roll_gate  # type: ignore[attr-defined]
    before = gate._last
    api.client.get("/v1/limits", headers=admin)
    assert gate._last == before  # same day, within the minute: no roll
    api.ctx.as_of = api.ctx.now() + timedelta(days=1)
    rows, cursor2, _ = _all_pages(api, admin, changed_since=cursor)
    assert gate._last != before and rows == [] and cursor2 == cursor
