"""The portfolio page (``/``): figures against the demo's expected ones, the service's
SQL figures against the exposure report's, alerts and their acknowledgement."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tci_gateway.api.routes.buyers import reader
from tci_gateway.cli.output import exposure_totals
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverAction, CoverRequestState
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.runs import add_alerts, alert_values
from tci_gateway.ledger.tables import AlertRow, AuditRow, CoverRequestRow
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.importing import import_open_items
from tci_gateway.services.portfolio import compute_portfolio

from ..api.risk_seed import add_cover, import_csv, seed_demo
from .conftest import WebHarness


def _report_totals(web: WebHarness) -> dict[str, dict[str, Decimal]]:
    ctx = web.api.ctx
    options = ctx.wiring.exposure_options(ctx.ledger)
    rows = exposure_report(
        ctx.ledger,
        ctx.settings.domain_policies(),
        now=ctx.now(),
        convert=options.convert,
        expiring_within_days=options.expiring_within_days,
        inactive_days=options.inactive_days,
    )
    return {cur: {k: m.amount for k, m in t.items()} for cur, t in exposure_totals(rows).items()}


def _service_totals(web: WebHarness) -> dict[str, dict[str, Decimal]]:
    ctx = web.api.ctx
    with ctx.ledger.reading() as session:
        p = compute_portfolio(session, reader(ctx, None))
    return {
        t.currency: {"exposure": t.exposure, "covered": t.covered, "uncovered": t.uncovered}
        for t in p.totals
    }


def test_service_figures_match_the_exposure_report(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    expected = {
        "EUR": {
            "exposure": Decimal("282000"),
            "covered": Decimal("222500"),
            "uncovered": Decimal("59500"),
        }
    }
    assert _report_totals(web) == expected
    assert _service_totals(web) == expected
    # a reduction announced for later: the stored limit is due to change, decided exactly
    add_cover(
        web.api,
        ids["Nordic Timber AB"],
        amount="10000",
        effective_from=date(2026, 12, 1),
        ref="T-9",
    )
    assert _service_totals(web) == _report_totals(web)


def _kpi(text: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">([^<]+)<', text)
    assert found, name
    return found.group(1)


def test_page_shows_the_demo_figures(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    page = web.sign_in("viewer").get("/")
    assert page.status_code == 200, page.text
    text = page.text
    assert _kpi(text, "exposure") == "EUR 282,000.00"
    assert _kpi(text, "covered") == "EUR 222,500.00"
    assert _kpi(text, "uncovered") == "EUR 59,500.00"
    assert _kpi(text, "over-limit") == "2 buyers"
    # the policy's line: exposure, covered limit (the export's 315,000), covered, uncovered
    line = re.search(r'<tr data-policy="atradius-main">(.*?)</tr>', text, re.S)
    assert line
    amounts = re.findall(r"EUR [\d,.]+", line.group(1))
    assert amounts == ["EUR 282,000.00", "EUR 315,000.00", "EUR 222,500.00", "EUR 59,500.00"]
    # the chart draws the same figures, with a title
    assert '<title id="bars-title">Exposure against cover' in text
    assert 'data-group="atradius-main" data-series="exposure" data-amount="282000' in text
    assert 'data-group="atradius-main" data-series="limit" data-amount="315000' in text
    # largest uncovered first, each linked to its page
    top = re.search(r'<table class="top-uncovered">(.*?)</table>', text, re.S)
    assert top
    linked = [int(i) for i in re.findall(r'<a href="/buyers/(\d+)">', top.group(1))]
    assert linked == [
        ids["Iberia Componentes S.L."],  # 20,000
        ids["Müller Maschinenbau GmbH"],  # 15,000
        ids["Harbour Freight Supplies Ltd"],  # 12,000
        ids["Alpine Retail AG"],  # 7,500
        ids["Société Générale de Négoce SAS"],  # 5,000
    ]
    over = re.search(r'<table class="over-limit">(.*?)</table>', text, re.S)
    assert over
    assert "EUR 15,000.00" in over.group(1) and "EUR 5,000.00" in over.group(1)
    # the uncertain figure is said: Iberia's referred application adds no cover
    assert 'data-caveat="pending"' in text and "1 buyer has a decision pending" in text


def test_figures_follow_the_ledger(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    viewer = web.sign_in("viewer")
    assert _kpi(viewer.get("/").text, "uncovered") == "EUR 59,500.00"
    # Alpine gets 10,000 of cover: 2,500 uncovered instead of 7,500
    add_cover(web.api, ids["Alpine Retail AG"], amount="5000", effective_from=date(2026, 11, 1))
    text = viewer.get("/").text
    assert _kpi(text, "uncovered") == "EUR 54,500.00"
    assert _kpi(text, "covered") == "EUR 227,500.00"


def test_missing_fx_rate_is_said_and_never_added(web: WebHarness, tmp_path: Path) -> None:
    ids = seed_demo(web.api)
    path = tmp_path / "usd.csv"
    path.write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to\n"
        "C1001,INV-USD-1,INVOICE,2026-11-20,2026-11-20,2027-01-20,USD,9000.00,9000.00,false,\n",
        encoding="utf-8",
    )
    ctx = web.api.ctx
    import_open_items(ctx.ledger, path, now=ctx.now())
    assert _service_totals(web) == _report_totals(web)
    text = web.sign_in("viewer").get("/").text
    assert _kpi(text, "exposure") == "EUR 282,000.00"  # the USD invoice is not added
    assert 'data-caveat="fx"' in text
    assert (
        f'<a href="/buyers/{ids["Bouwbedrijf Van Dijk B.V."]}">Bouwbedrijf Van Dijk B.V.</a>'
        in text
    )
    assert "tci fx import" in text


def test_empty_book(web: WebHarness) -> None:
    text = web.sign_in("viewer").get("/").text
    assert "No open items or covers yet" in text and "tci import receivables" in text
    assert "No alert waiting to be acknowledged" in text


def _open_alert_ids(text: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-alert="(\d+)">', text)]


def _audits(web: WebHarness, action: str) -> list[tuple[str, int | None, dict[str, object]]]:
    with web.ledger.reading() as session:
        return [
            (a.actor, a.user_id, a.detail)
            for a in session.scalars(select(AuditRow).where(AuditRow.action == action))
        ]


def test_acknowledge_an_alert(web: WebHarness) -> None:
    seed_demo(web.api)
    alice = web.sign_in("analyst")
    text = alice.get("/").text
    alerts = _open_alert_ids(text)
    assert alerts == sorted(alerts, reverse=True) and len(alerts) == 10  # newest first
    newest = alerts[0]
    assert f'action="/alerts/{newest}/ack"' in text
    answer = alice.post(f"/alerts/{newest}/ack")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/?acknowledged={newest}#alerts"
    after = alice.get(answer.headers["location"]).text
    assert f"Alert {newest} acknowledged." in after
    assert _open_alert_ids(after) == alerts[1:]
    with web.ledger.reading() as session:
        row = session.get(AlertRow, newest)
        assert row is not None and row.acknowledged_by == alice.name
        assert row.acknowledged_at is not None
    ((actor, user_id, detail),) = _audits(web, "web_alert_acknowledged")
    assert actor == alice.name and user_id is not None
    assert detail == {"alert_id": newest}
    # a second click changes nothing and audits nothing
    assert alice.post(f"/alerts/{newest}/ack").status_code == 303
    assert len(_audits(web, "web_alert_acknowledged")) == 1
    assert alice.post("/alerts/999999/ack").status_code == 404


def test_acknowledging_needs_an_analyst_and_the_token(web: WebHarness) -> None:
    seed_demo(web.api)
    viewer = web.sign_in("viewer")
    text = viewer.get("/").text
    assert "/ack" not in text  # no button for a viewer
    target = _open_alert_ids(text)[0]
    refused = viewer.post(f"/alerts/{target}/ack")
    assert refused.status_code == 403
    assert "this needs the analyst role" in refused.text
    alice = web.sign_in("analyst")
    forged = alice.post(f"/alerts/{target}/ack", csrf=False)
    assert forged.status_code == 403
    assert "security token" in forged.text
    assert _audits(web, "web_alert_acknowledged") == []
    assert target in _open_alert_ids(alice.get("/").text)


def test_alerts_are_paged(web: WebHarness) -> None:
    ctx = web.api.ctx
    with web.ledger.unit_of_work() as session:
        add_alerts(
            session,
            [
                alert_values(
                    kind=AlertKind.UNKNOWN_BUYER,
                    message=f"alert {i}",
                    business_date=date(2026, 12, 1),
                    dedupe_key=f"t:{i}",
                    now=ctx.now(),
                )
                for i in range(55)
            ],
        )
    viewer = web.sign_in("viewer")
    first = viewer.get("/").text
    assert len(_open_alert_ids(first)) == 50 and "55 open" in first
    older = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert older
    rest = viewer.get(older.group(1).replace("&amp;", "&")).text
    assert len(_open_alert_ids(rest)) == 5
    assert set(_open_alert_ids(rest)).isdisjoint(_open_alert_ids(first))


def test_accounts_under_no_policy_are_shown_apart(web: WebHarness, tmp_path: Path) -> None:
    seed_demo(web.api)
    import_csv(web.api, tmp_path, "erp_account,name,country,policy\nX1,Loose Ends Ltd,GB,\n")
    path = tmp_path / "loose.csv"
    path.write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to\n"
        "X1,INV-X-1,INVOICE,2026-11-20,2026-11-20,2027-01-20,GBP,4000.00,4000.00,false,\n",
        encoding="utf-8",
    )
    ctx = web.api.ctx
    import_open_items(ctx.ledger, path, now=ctx.now())
    assert _service_totals(web) == _report_totals(web)
    text = web.sign_in("viewer").get("/").text
    assert "No configured policy (not insured)" in text
    assert _kpi(text, "exposure") == "EUR 282,000.00"  # GBP is never added to EUR
    assert 'aria-label="Totals in GBP"' in text


def test_waiting_cover_requests_are_said(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    ctx = web.api.ctx
    with web.ledger.unit_of_work() as session:
        session.add(
            CoverRequestRow(
                client_reference="TEST-REQ-1",
                policy_id=policy_ids(session)["atradius-main"],
                buyer_id=ids["Alpine Retail AG"],
                insurer="atradius",
                insurer_buyer_id="100009",
                action=CoverAction.NEW,
                cover_type="credit-limit",
                amount=Decimal("10000"),
                currency="EUR",
                urgent=False,
                state=CoverRequestState.QUEUED,
                attempts=0,
                created_at=ctx.now(),
                updated_at=ctx.now(),
            )
        )
    text = web.sign_in("viewer").get("/").text
    assert 'data-caveat="requests"' in text
    assert "1 cover request for 1 buyer not decided yet" in text
    assert _kpi(text, "uncovered") == "EUR 59,500.00"  # a request adds no cover
    assert web.sign_in("viewer").get("/buyers?pending=1").text.count("data-buyer=") == 2
