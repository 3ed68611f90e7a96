"""``GET /v1/exposure`` (the figures of ``tci exposure --json``) and ``GET /v1/alerts``
(after a cursor, a page at a time), restricted to a key's policies."""

from __future__ import annotations

from typing import Any

from tci_gateway.cli.output import exposure_json
from tci_gateway.services.exposure import exposure_report

from .conftest import ApiHarness
from .erp_setup import MAIN, OTHER, seed


def _pages(
    api: ApiHarness, path: str, key: str, headers: dict[str, str], **params: Any
) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = api.client.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        out += answer.json()[key]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return out


def test_exposure_has_the_figures_of_the_cli(api: ApiHarness) -> None:
    admin = seed(api)
    rows = _pages(api, "/v1/exposure", "exposure", admin, limit=2)
    options = api.ctx.wiring.exposure_options(api.ledger)
    report = exposure_report(
        api.ledger, api.ctx.settings.domain_policies(), now=api.ctx.now(), convert=options.convert
    )
    cli = {(r["policy"], r["buyer_id"]): r for r in exposure_json(report)}
    assert [(r["policy"], r["buyer_id"]) for r in rows] == sorted(cli)
    for row in rows:
        want = cli[(row["policy"], row["buyer_id"])]
        for name in ("invoices", "credits", "disputed", "exposure", "covered", "uncovered"):
            assert row[name] == str(want[name]), name
        assert row["limit"] == (str(want["limit"]) if want["limit"] is not None else None)
        assert row["alerts"] == want["alerts"] and row["status"] == want["status"]
        assert row["currency"] == "EUR"
    alpha = next(r for r in rows if r["buyer_name"] == "Alpha GmbH")
    # 60,000 + 25,000 open against a limit of 70,000
    assert (alpha["exposure"], alpha["covered"], alpha["uncovered"]) == (
        "85000.00",
        "70000.00",
        "15000.00",
    )
    over = _pages(api, "/v1/exposure", "exposure", admin, over_limit="true")
    assert {r["buyer_name"] for r in over} == {"Alpha GmbH", "=Beta Ltd"}
    found = _pages(api, "/v1/exposure", "exposure", admin, buyer="a2")
    assert [r["erp_accounts"] for r in found] == [["A1", "A2"]]


def test_exposure_for_a_restricted_key(api: ApiHarness) -> None:
    seed(api)
    key = api.key("limits:read", policies=[OTHER])
    rows = _pages(api, "/v1/exposure", "exposure", key)
    assert {r["policy"] for r in rows} == {OTHER}
    bad = api.client.get("/v1/exposure", params={"cursor": "e30"}, headers=key)
    assert bad.status_code == 400


def test_alerts_after_a_cursor_a_page_at_a_time(api: ApiHarness) -> None:
    admin = seed(api)
    everything = api.client.get("/v1/alerts", headers=admin).json()
    alerts = everything["alerts"]
    assert len(alerts) >= 3 and everything["next_cursor"] is None
    ids = [a["id"] for a in alerts]
    assert ids == sorted(ids) and everything["since"] == ids[-1]
    assert {a["kind"] for a in alerts} >= {"cover_new", "cover_refused"}
    seen: list[int] = []
    since = 0
    while True:
        page = api.client.get("/v1/alerts", params={"since": since, "limit": 2}, headers=admin)
        body = page.json()
        seen += [a["id"] for a in body["alerts"]]
        since = body["since"]
        if body["next_cursor"] is None:
            break
        assert body["next_cursor"] == str(since)
    assert seen == ids
    after = api.client.get("/v1/alerts", params={"since": since}, headers=admin).json()
    assert after == {"alerts": [], "next_cursor": None, "since": since}
    other = api.key("limits:read", policies=[OTHER])
    assert api.client.get("/v1/alerts", headers=other).json()["alerts"] == []
    main = api.key("limits:read", policies=[MAIN])
    assert [a["id"] for a in api.client.get("/v1/alerts", headers=main).json()["alerts"]] == ids
