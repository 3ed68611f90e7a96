"""The buyer page (GET /buyers/{id}) and its cover form (POST /buyers/{id}/cover), on
SQLite and PostgreSQL; and the pure rules it draws with (ageing buckets, exposure over
time, the limit's steps)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tci_gateway.domain.ageing import BUCKETS, Aged, Bucket, age, bucket_of, days_past_due
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.exposure_history import exposure_over_time
from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.tables import BuyerIdentifierRow, CoverRequestRow
from tci_gateway.services.importing import import_open_items

from ..api.cover_helpers import add_buyers
from ..api.risk_seed import add_cover, buyer_of, import_csv, seed_demo
from .conftest import Person, WebHarness

TODAY = date(2026, 12, 1)  # the harness's clock, 12:00 UTC: 13:00 in Europe/Paris
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_POINT = re.compile(r'data-series="(\w+)" data-date="([\d-]+)" data-amount="([\d.]+)"')
_BUCKET = re.compile(r'data-bucket="([\w+-]+)" data-amount="([\d.]+)"')


def _points(html: str, series: str) -> list[tuple[str, str]]:
    return [(d, a) for s, d, a in _POINT.findall(html) if s == series]


def _requests(web: WebHarness) -> int:
    with web.ledger.reading() as session:
        return int(session.scalar(select(func.count()).select_from(CoverRequestRow)) or 0)


def _audits(web: WebHarness) -> list[AuditRow]:
    with web.ledger.reading() as session:
        rows = list(
            session.scalars(select(AuditRow).where(AuditRow.action == "web_cover_requested"))
        )
        session.expunge_all()
    return rows


# -- identity ------------------------------------------------------------------------


def test_identity_shows_identifiers_with_their_source(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    buyer = ids["Harbour Freight Supplies Ltd"]
    with web.ledger.unit_of_work() as session:  # recorded before provenance was kept
        session.add(BuyerIdentifierRow(buyer_id=buyer, scheme="LEI", issuer="", value="X" * 20))
    page = web.sign_in("viewer").get(f"/buyers/{buyer}")
    assert page.status_code == 200
    html = page.text
    assert "<h1" in html and "Harbour Freight Supplies Ltd" in html
    rows = dict(re.findall(r'<tr data-identifier="([^"]+)">(.*?)</tr>', html, re.S))
    assert "DUNS:150483782" in rows and "erp:C1005" in rows["DUNS:150483782"]
    assert "INSURER:atradius:100005" in rows
    assert "source not recorded" in rows["LEI:" + "X" * 20]
    assert "source not recorded" not in rows["DUNS:150483782"]
    assert '<td class="mono">C1005</td>' in html  # the ERP account
    assert "GB" in html and "growth" in html


def test_an_unknown_buyer_is_a_404_in_the_clis_words(web: WebHarness) -> None:
    page = web.sign_in("viewer").get("/buyers/9999")
    assert page.status_code == 404
    assert "error: no buyer 9999 in the ledger" in page.text
    assert "Traceback" not in page.text


def test_a_page_needs_a_session(web: WebHarness) -> None:
    answer = web.client.get("/buyers/1", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


# -- covers: the step chart and the decisions ----------------------------------------------


def test_the_step_chart_steps_at_each_decision_and_ignores_a_pending_one(
    web: WebHarness,
) -> None:
    ids = seed_demo(web.api)
    buyer = ids["Alpine Retail AG"]  # no Atradius cover from the sandbox
    add_cover(web.api, buyer, amount="100000", effective_from=date(2026, 1, 1))
    add_cover(web.api, buyer, amount="40000", effective_from=date(2026, 6, 1))
    add_cover(
        web.api,
        buyer,
        amount="90000",
        effective_from=date(2026, 9, 1),
        status=CoverStatus.PENDING,
    )
    add_cover(web.api, buyer, amount="25000", effective_from=date(2027, 1, 15))  # announced
    html = web.sign_in("viewer").get(f"/buyers/{buyer}").text
    assert _points(html, "limit") == [
        ("2026-01-01", "100000.00"),
        ("2026-06-01", "40000.00"),
        ("2027-01-15", "25000.00"),
    ]
    assert 'data-end="2027-01-15"' in html  # the chart reaches the announced change
    assert "The limit changes to EUR 25,000.00 on 2027-01-15." in html
    titles = re.findall(r"<title>(Covered limit from [^<]+)</title>", html)
    assert titles == [
        "Covered limit from 2026-01-01: EUR 100,000.00",
        "Covered limit from 2026-06-01: EUR 40,000.00",
        "Covered limit from 2027-01-15: EUR 25,000.00",
    ]
    # the decisions beside it, every version (the pending one too), with the status
    decisions = re.findall(r'<tr data-decision="\d+">(.*?)</tr>', html, re.S)
    assert len(decisions) == 4
    assert "APPROVED" in decisions[0] and "EUR 100,000.00" in decisions[0]
    assert "2026-06-01" in decisions[1] and "EUR 40,000.00" in decisions[1]
    assert "PENDING" in decisions[2] and "EUR 90,000.00" in decisions[2]
    # the exposure line: INV-1009-01 (7,500.00, still open) from its document date
    assert _points(html, "exposure") == [("2026-11-12", "7500.00")]
    assert 'data-figure="exposure">EUR 7,500.00' in html
    assert 'data-figure="limit">EUR 40,000.00' in html


def test_the_sandboxs_raw_codes_are_in_the_decisions_table(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    html = web.sign_in("viewer").get(f"/buyers/{ids['Bouwbedrijf Van Dijk B.V.']}").text
    decision = re.search(r'<tr data-decision="\d+">(.*?)</tr>', html, re.S)
    assert decision and "decisionCode=" in decision.group(1)
    # the exposure line ends on the exposure figure: 40,000 + 30,000 - 2,500 - 3,000
    assert _points(html, "exposure")[-1] == ("2026-11-02", "64500.00")
    assert 'data-figure="exposure">EUR 64,500.00' in html


def test_exposure_line_keeps_a_paid_invoice_until_the_ledger_saw_it_paid(
    web: WebHarness, tmp_path: Path
) -> None:
    import_csv(web.api, tmp_path, "erp_account,name,country,policy\nP1,Paid Ltd,GB,atradius-main\n")
    path = tmp_path / "items.csv"
    head = "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount\n"
    path.write_text(head + "P1,I-1,INVOICE,2026-10-01,2026-10-31,EUR,1000.00,1000.00\n")
    import_open_items(web.ledger, path, now=web.api.ctx.now() - timedelta(days=20))
    path.write_text(head + "P1,I-1,INVOICE,2026-10-01,2026-10-31,EUR,1000.00,250.00\n")
    import_open_items(web.ledger, path, now=web.api.ctx.now() - timedelta(days=5))
    html = web.sign_in("viewer").get(f"/buyers/{buyer_of(web.api, 'P1')}").text
    assert _points(html, "exposure") == [("2026-10-01", "1000.00"), ("2026-11-26", "250.00")]


# -- open items and ageing -----------------------------------------------------------------

AGEING_ITEMS = """\
erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount,disputed,applies_to
AG1,D0,INVOICE,2026-11-01,2026-12-01,EUR,100.00,100.00,false,
AG1,D1,INVOICE,2026-10-01,2026-11-30,EUR,200.00,200.00,false,
AG1,D30,INVOICE,2026-10-01,2026-11-01,EUR,300.00,300.00,true,
AG1,D31,INVOICE,2026-09-01,2026-10-31,EUR,400.00,400.00,false,
AG1,D60,INVOICE,2026-09-01,2026-10-02,EUR,500.00,450.00,false,
AG1,D61,INVOICE,2026-08-01,2026-10-01,EUR,600.00,600.00,false,
AG1,D90,INVOICE,2026-07-01,2026-09-02,EUR,700.00,700.00,true,
AG1,D91,INVOICE,2026-07-01,2026-09-01,EUR,800.00,800.00,false,
AG1,CN1,CREDIT_NOTE,2026-11-05,,EUR,75.00,75.00,false,D1
AG1,PAID,INVOICE,2026-06-01,2026-07-01,EUR,999.00,0.00,false,
"""


def _ageing_buyer(web: WebHarness, tmp_path: Path) -> int:
    import_csv(
        web.api, tmp_path, "erp_account,name,country,policy\nAG1,Ageing SA,FR,atradius-main\n"
    )
    path = tmp_path / "items.csv"
    path.write_text(AGEING_ITEMS)
    report = import_open_items(web.ledger, path, now=web.api.ctx.now())
    assert not report.errors
    return buyer_of(web.api, "AG1")


def test_ageing_buckets_by_due_date_on_the_policys_business_date(
    web: WebHarness, tmp_path: Path
) -> None:
    buyer = _ageing_buyer(web, tmp_path)
    html = web.sign_in("viewer").get(f"/buyers/{buyer}").text
    table = re.search(r'<table class="ageing".*?</table>', html, re.S)
    assert table
    # by hand: days past due on 2026-12-01 (Europe/Paris)
    #   current: D0 (0 days) 100;  1-30: D1 200 + D30 300;  31-60: D31 400 +
    #   D60 450 (open);  61-90: D61 600 + D90 700;  90+: D91 800.  The credit note is
    #   not aged, the paid invoice is not open.
    assert dict(_BUCKET.findall(table.group(0))) == {
        "current": "100.00",
        "1-30": "500.00",
        "31-60": "850.00",
        "61-90": "1300.00",
        "90+": "800.00",
        "total": "3550.00",
    }
    assert re.findall(r'data-disputed="([\d.]+)"', table.group(0)) == ["300.00", "700.00"]
    assert "Open credit notes and unapplied payments: EUR 75.00" in html
    # the list: days past due per item, disputed ones marked
    rows = dict(re.findall(r'<tr data-item="([^"]+)" data-bucket="([^"]+)"', html))
    assert rows["D0"] == "current" and rows["D30"] == "1-30" and rows["D31"] == "31-60"
    assert rows["D90"] == "61-90" and rows["D91"] == "90+"
    assert "PAID" not in rows
    disputed = re.search(r'<tr data-item="D30"[^>]*class="disputed">(.*?)</tr>', html, re.S)
    assert disputed and "EUR 300.00 in dispute" in disputed.group(1)


def test_the_items_list_is_limited_with_a_show_all_link(
    web: WebHarness, tmp_path: Path, monkeypatch: object
) -> None:
    from tci_gateway.web.routes import buyer as route

    buyer = _ageing_buyer(web, tmp_path)
    setattr(route, "ITEMS_SHOWN", 3)  # noqa: B010
    try:
        person = web.sign_in("viewer")
        html = person.get(f"/buyers/{buyer}").text
        assert len(re.findall(r"<tr data-item=", html)) == 3
        assert f'href="/buyers/{buyer}?items=all#items-title">Show all' in html
        html = person.get(f"/buyers/{buyer}?items=all").text
        assert len(re.findall(r"<tr data-item=", html)) == 9
        assert "Show all" not in html
    finally:
        setattr(route, "ITEMS_SHOWN", 50)  # noqa: B010


def test_a_buyer_with_nothing_yet_says_what_to_do(web: WebHarness, tmp_path: Path) -> None:
    import_csv(web.api, tmp_path, "erp_account,name,country,policy\nE1,Empty GmbH,DE,\n")
    html = web.sign_in("viewer").get(f"/buyers/{buyer_of(web.api, 'E1')}").text
    assert "No open item for this buyer." in html and "tci import open-items" in html
    assert "No alert about this buyer." in html and "No case for this buyer." in html


# -- the cover form ------------------------------------------------------------------------


def _form(person: Person, buyer: int) -> dict[str, str]:
    html = person.get(f"/buyers/{buyer}").text
    token = _FORM_TOKEN.search(html)
    assert token
    return {
        "policy": "allianz-aci",
        "action": "new",
        "amount": "30000.00",
        "currency": "EUR",
        "form_token": token.group(1),
    }


def test_the_cover_form_queues_one_request_per_form_and_audits_it(
    web: WebHarness, tmp_path: Path
) -> None:
    add_buyers(web.api, tmp_path)
    buyer = buyer_of(web.api, "B9")
    alice = web.sign_in("analyst")
    form = _form(alice, buyer)
    first = alice.post(f"/buyers/{buyer}/cover", form)
    assert first.status_code == 303, first.text
    location = first.headers["location"]
    assert re.fullmatch(r"/cover-requests/\d+", location)
    again = alice.post(f"/buyers/{buyer}/cover", form)  # a double click, a reload
    assert again.status_code == 303 and again.headers["location"] == location
    assert _requests(web) == 1
    with web.ledger.reading() as session:
        row = session.scalars(select(CoverRequestRow)).one()
        assert (row.buyer_id, row.action, row.amount) == (buyer, "NEW", Decimal("30000.00"))
        assert row.client_reference.startswith("tci-")
    audits = _audits(web)
    assert len(audits) == 1
    assert audits[0].actor == alice.name and audits[0].user_id is not None
    assert audits[0].api_key_id is None and audits[0].path == f"/buyers/{buyer}/cover"
    assert audits[0].detail["cover_request_id"] == int(location.rsplit("/", 1)[1])
    assert audits[0].detail["amount"] == "30000.00"
    # a new form (a new token) is a new request
    other = alice.post(f"/buyers/{buyer}/cover", _form(alice, buyer) | {"action": "increase"})
    assert other.status_code == 303 and other.headers["location"] != location
    assert _requests(web) == 2 and len(_audits(web)) == 2


def test_a_refused_form_shows_the_clis_words_and_keeps_its_token(
    web: WebHarness, tmp_path: Path
) -> None:
    add_buyers(web.api, tmp_path)
    buyer = buyer_of(web.api, "B9")
    alice = web.sign_in("analyst")
    form = _form(alice, buyer)
    refused = alice.post(f"/buyers/{buyer}/cover", form | {"action": "cancel"})
    assert refused.status_code == 422
    assert "a CANCEL request takes no amount" in refused.text
    no_amount = alice.post(f"/buyers/{buyer}/cover", form | {"amount": ""})
    assert no_amount.status_code == 422 and "a NEW request needs an amount" in no_amount.text
    assert _requests(web) == 0 and _audits(web) == []
    assert alice.post(f"/buyers/{buyer}/cover", form).status_code == 303  # same token
    assert _requests(web) == 1


def test_a_viewer_sees_the_form_disabled_and_cannot_post_it(
    web: WebHarness, tmp_path: Path
) -> None:
    add_buyers(web.api, tmp_path)
    buyer = buyer_of(web.api, "B9")
    viewer = web.sign_in("viewer")
    html = viewer.get(f"/buyers/{buyer}").text
    assert "<fieldset disabled>" in html
    assert "only analysts and managers can ask an insurer for cover" in html
    answer = viewer.post(f"/buyers/{buyer}/cover", _form(viewer, buyer))
    assert answer.status_code == 403
    assert "this needs the analyst role" in answer.text
    assert _requests(web) == 0 and _audits(web) == []
    analyst_html = web.sign_in("analyst").get(f"/buyers/{buyer}").text
    assert "<fieldset>" in analyst_html and "<fieldset disabled>" not in analyst_html


def test_a_form_without_its_csrf_token_is_refused(web: WebHarness, tmp_path: Path) -> None:
    add_buyers(web.api, tmp_path)
    buyer = buyer_of(web.api, "B9")
    alice = web.sign_in("manager")
    answer = alice.post(f"/buyers/{buyer}/cover", _form(alice, buyer), csrf=False)
    assert answer.status_code == 403
    assert "security token is missing" in answer.text
    assert _requests(web) == 0


def test_cover_for_an_unknown_buyer_is_a_404(web: WebHarness, tmp_path: Path) -> None:
    add_buyers(web.api, tmp_path)
    alice = web.sign_in("analyst")
    form = _form(alice, buyer_of(web.api, "B9"))
    answer = alice.post("/buyers/9999/cover", form)
    assert answer.status_code == 404 and "no buyer 9999 in the ledger" in answer.text
    assert _requests(web) == 0


# -- the pure rules ------------------------------------------------------------------------


def test_bucket_boundaries() -> None:
    assert [bucket_of(d) for d in (0, 1, 30, 31, 60, 61, 90, 91, 5000)] == [
        Bucket.CURRENT,
        Bucket.DAYS_1_30,
        Bucket.DAYS_1_30,
        Bucket.DAYS_31_60,
        Bucket.DAYS_31_60,
        Bucket.DAYS_61_90,
        Bucket.DAYS_61_90,
        Bucket.OVER_90,
        Bucket.OVER_90,
    ]
    assert days_past_due(None, TODAY) == 0
    assert days_past_due(TODAY, TODAY) == 0
    assert days_past_due(TODAY - timedelta(days=1), TODAY) == 1


_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2)


@given(
    st.lists(
        st.tuples(st.integers(-400, 400) | st.none(), _amounts, st.booleans()),
        max_size=40,
    )
)
def test_ageing_totals_add_up_and_each_item_is_in_its_days_bucket(
    rows: list[tuple[int | None, Decimal, bool]],
) -> None:
    items = [
        Aged(None if d is None else TODAY - timedelta(days=d), Money(a, "EUR"), disputed)
        for d, a, disputed in rows
    ]
    totals = age(items, TODAY)
    if not items:
        assert totals == {}
        return
    t = totals["EUR"]
    assert t.total.amount == sum((a for _, a, _ in rows), Decimal(0))
    assert sum(t.counts.values()) == len(rows)
    limits = {
        Bucket.CURRENT: (None, 0),
        Bucket.DAYS_1_30: (1, 30),
        Bucket.DAYS_31_60: (31, 60),
        Bucket.DAYS_61_90: (61, 90),
        Bucket.OVER_90: (91, None),
    }
    for b in BUCKETS:
        low, high = limits[b]
        expected = sum(
            (
                a
                for d, a, _ in rows
                if (max(d or 0, 0) >= (low or 0)) and (high is None or max(d or 0, 0) <= high)
            ),
            Decimal(0),
        )
        assert t.amounts[b].amount == expected
        assert t.disputed[b].amount <= t.amounts[b].amount


def test_ageing_keeps_currencies_apart() -> None:
    totals = age([Aged(TODAY, Money.of("10", "EUR")), Aged(TODAY, Money.of("7", "USD"))], TODAY)
    assert {c: t.total.amount for c, t in totals.items()} == {
        "EUR": Decimal("10"),
        "USD": Decimal("7"),
    }


def _invoice(
    number: str, on: date, amount: str, open_: str, kind: ItemKind = ItemKind.INVOICE
) -> OpenItem:
    return OpenItem(
        erp_account="A",
        document_number=number,
        kind=kind,
        amount=Money.of(amount, "EUR"),
        open_amount=Money.of(open_, "EUR"),
        document_date=on,
    )


def test_exposure_over_time_rules() -> None:
    d = date(2026, 1, 1)
    steps = exposure_over_time(
        [
            (_invoice("I1", d, "100", "100"), None),
            (_invoice("I2", d + timedelta(days=5), "50", "0"), d + timedelta(days=20)),
            (_invoice("C1", d + timedelta(days=10), "30", "30", ItemKind.CREDIT_NOTE), None),
            (_invoice("C2", d + timedelta(days=11), "40", "0", ItemKind.PAYMENT), None),
        ],
        "EUR",
    )
    assert [(p.isoformat(), m.amount) for p, m in steps.points] == [
        ("2026-01-01", Decimal("100")),
        ("2026-01-06", Decimal("150")),
        ("2026-01-11", Decimal("120")),
        ("2026-01-21", Decimal("70")),
    ]
    assert steps.on(d - timedelta(days=1)).is_zero()
    assert steps.on(d + timedelta(days=12)).amount == Decimal("120")
    usd = exposure_over_time([(_invoice("U", d, "5", "5"), None)], "USD")
    assert usd.points == [] and usd.unconverted == ("U",)


def test_two_submits_of_one_form_at_once_queue_one_request(web: WebHarness, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    add_buyers(web.api, tmp_path)
    buyer = buyer_of(web.api, "B9")
    alice = web.sign_in("analyst")
    form = _form(alice, buyer)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: alice.post(f"/buyers/{buyer}/cover", form), range(4)))
    assert [a.status_code for a in answers] == [303] * 4, [a.text[-300:] for a in answers]
    assert len({a.headers["location"] for a in answers}) == 1
    assert _requests(web) == 1 and len(_audits(web)) == 1


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True


test_two_submits_of_one_form_at_once_queue_one_request.both_backends = True  # type: ignore[attr-defined]  # the lock matters on PostgreSQL
