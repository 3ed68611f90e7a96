"""The credit pages: the applications list with the apply form, an application's page
(scorecard with missing inputs named, conditions, steps, the decision form for a referred
one), and the buyer's "Credit" panel (tier and why, pin/unpin for managers, credit lines,
plan, behaviour). Applications go through the same service as the API, on the demo's
ledger and the bureau sandboxes of config/sandbox.toml."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.credit import FactorScore, Scorecard
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.credit_tables import CreditApplicationRow
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.services import credit_apply
from tci_gateway.services.credit_evidence import scorecard_json
from tci_gateway.services.progressive import start_plan
from tci_gateway.web import render
from tci_gateway.web.credit_view import helpers
from tci_gateway.web.routes import credit as credit_routes

from ..api.risk_seed import seed_demo
from .conftest import AS_OF, WebHarness

SQLITE_ONLY = True
"""The services behind these pages have PostgreSQL tests of their own."""

WATCHED = "C1009"
"""Alpine Retail AG: no insurer decision; pinned to watch, its applications go to a person."""


@pytest.fixture
def demo(web: WebHarness) -> dict[str, int]:
    return seed_demo(web.api)


def _token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "no apply form on the page"
    return found.group(1)


def _apply(person, account: str, amount: str, token: str | None = None):  # type: ignore[no-untyped-def]
    if token is None:
        token = _token(person.get("/credit").text)
    return person.post(
        "/credit/apply",
        {"buyer": account, "amount": amount, "currency": "EUR", "form_token": token},
    )


def _audits(web: WebHarness, action: str) -> list[dict[str, object]]:
    with web.ledger.reading() as session:
        return list(session.scalars(select(AuditRow.detail).where(AuditRow.action == action)))


def _count_applications(web: WebHarness) -> int:
    with web.ledger.reading() as session:
        return int(session.scalar(select(func.count()).select_from(CreditApplicationRow)) or 0)


def test_empty_list_and_a_viewer_sees_no_form(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    page = viewer.get("/credit")
    assert page.status_code == 200
    assert "No credit application yet." in page.text
    assert 'action="/credit/apply"' not in page.text
    assert '<a href="/credit"' in page.text and '<a href="/behaviour"' in page.text  # nav
    analyst = web.sign_in("analyst")
    assert 'action="/credit/apply"' in analyst.get("/credit").text
    refused = viewer.post(
        "/credit/apply",
        {"buyer": "C1001", "amount": "1000", "currency": "EUR", "form_token": "x" * 24},
    )
    assert refused.status_code == 403
    assert "needs the analyst role" in refused.text
    no_token = analyst.post(
        "/credit/apply",
        {"buyer": "C1001", "amount": "1000", "currency": "EUR", "form_token": "x" * 24},
        csrf=False,
    )
    assert no_token.status_code == 403
    assert _count_applications(web) == 0


def test_an_application_is_decided_and_shown_with_its_evidence(
    web: WebHarness, demo: dict[str, int]
) -> None:
    analyst = web.sign_in("analyst")
    token = _token(analyst.get("/credit").text)
    answer = _apply(analyst, "C1004", "8,000.00", token)
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    assert re.fullmatch(r"/credit/CA-\d{8}-\d{6,}", url)
    # the same form submitted again: to the same application, nothing new
    again = _apply(analyst, "C1004", "8,000.00", token)
    assert again.headers["location"] == url
    assert _count_applications(web) == 1
    reference = url.rsplit("/", 1)[1]
    view = credit_apply.get_application(web.ledger, reference)

    page = analyst.get(url)
    assert page.status_code == 200
    text = page.text
    assert reference in text
    assert "EUR 8,000.00" in text
    assert helpers()["state_text"][str(view.state)] in text
    if view.route is not None:
        assert credit_routes.ROUTE_TEXT[str(view.route)] in text
    # every factor of the scorecard, a missing input named "missing", never 0
    assert view.scorecard["factors"]
    for f in view.scorecard["factors"]:
        row = re.search(rf'<tr[^>]*data-factor="{re.escape(f["input"])}">(.*?)</tr>', text, re.S)
        assert row, f["input"]
        if f["missing"]:
            assert ">missing<" in row.group(1)
    for c in view.conditions:
        assert f'data-condition="{c["name"]}"' in text
    assert 'data-step="received"' in text
    assert "Time to decision" in text

    listed = analyst.get("/credit").text
    assert f'data-reference="{reference}"' in listed
    assert "Time from application to decision" in listed
    audit = _audits(web, "web_credit_applied")
    assert len(audit) == 1 and audit[0]["reference"] == reference
    assert audit[0]["buyer"] == "C1004"

    bad = _apply(analyst, "C1004", "12.345")
    assert bad.status_code == 422
    assert "decimal places" in bad.text


def test_a_referred_application_is_decided_by_a_person(
    web: WebHarness, demo: dict[str, int]
) -> None:
    manager = web.sign_in("manager")
    analyst = web.sign_in("analyst")
    buyer_id = demo["Alpine Retail AG"]
    # an analyst may not pin; a manager pins the buyer to watch (no automatic pre-screen)
    assert (
        analyst.post(f"/buyers/{buyer_id}/tier", {"tier": "watch", "reason": "x"}).status_code
        == 403
    )
    pinned = manager.post(
        f"/buyers/{buyer_id}/tier", {"tier": "watch", "reason": "profit warning in the press"}
    )
    assert pinned.status_code == 303, pinned.text
    panel = manager.get(f"/buyers/{buyer_id}").text
    assert 'data-tier="watch"' in panel
    assert "pinned by hand" in panel
    assert "profit warning in the press" in panel
    assert f'action="/buyers/{buyer_id}/tier/unpin"' in panel
    # an analyst sees the panel without the manager's forms
    seen = analyst.get(f"/buyers/{buyer_id}").text
    assert 'id="credit-title"' in seen
    assert f'action="/buyers/{buyer_id}/tier"' not in seen

    answer = _apply(analyst, WATCHED, "5000")
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    page = analyst.get(url).text
    assert "referred to a person" in page
    assert 'action="' + url + '/decision"' in page
    assert manager.get(url).status_code == 200
    viewer = web.sign_in("viewer")
    assert "/decision" not in viewer.get(url).text.split('id="score-title"')[0]

    decided = analyst.post(
        url + "/decision", {"decision": "grant", "amount": "4000", "reason": "known for years"}
    )
    assert decided.status_code == 303, decided.text
    after = analyst.get(url).text
    assert "EUR 4,000.00 granted" in after
    assert 'data-step="person_decided"' in after
    assert f'action="{url}/decision"' not in after
    audit = _audits(web, "web_credit_decided")
    assert audit and audit[-1]["decision"] == "grant" and audit[-1]["amount"] == "4000"

    # a second one the analyst sends to the insurer: the insurer does not know the buyer
    # yet, which the page says (nothing queued, the application still referred)
    second = _apply(analyst, WATCHED, "6000").headers["location"]
    sent = analyst.post(
        second + "/decision", {"decision": "send_to_insurer", "reason": "above our appetite"}
    )
    assert sent.status_code == 422, sent.text
    assert "has no atradius buyer id yet" in sent.text
    assert 'data-step="cover_request_queued"' not in analyst.get(second).text

    unpinned = manager.post(f"/buyers/{buyer_id}/tier/unpin", {})
    assert unpinned.status_code == 303
    assert "pinned by hand" not in manager.get(f"/buyers/{buyer_id}").text
    assert _audits(web, "web_tier_pinned") and _audits(web, "web_tier_unpinned")


def test_a_manager_sets_an_internal_line(web: WebHarness, demo: dict[str, int]) -> None:
    buyer_id = demo["Alpine Retail AG"]
    form = {"policy": "atradius-main", "amount": "15000", "reason": "long-standing customer"}
    analyst = web.sign_in("analyst")
    assert analyst.post(f"/buyers/{buyer_id}/credit-line", form).status_code == 403
    manager = web.sign_in("manager")
    done = manager.post(f"/buyers/{buyer_id}/credit-line", form)
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/buyers/{buyer_id}")
    page = manager.get(f"/buyers/{buyer_id}").text
    row = re.search(r'<tr data-policy="atradius-main">(.*?)</tr>', page, re.S)
    assert row, page
    assert "EUR 15,000.00" in row.group(1)
    assert _audits(web, "web_credit_line_set")[0]["amount"] == "15000"


def test_missing_inputs_read_missing_never_zero() -> None:
    """The application page drawn from a view whose bureau input was missing."""
    factors = (
        FactorScore(
            "Bureau score", "bureau.creditsafe.score", Decimal(30), None, Decimal(0), Decimal(0)
        ),
        FactorScore(
            "Paid on time",
            "behaviour.paid_on_time_share",
            Decimal(10),
            Decimal("0.95"),
            Decimal(90),
            Decimal("22.50"),
        ),
    )
    view = SimpleNamespace(
        reference="CA-20261201-000001",
        buyer_id=1,
        buyer_name="Alpine Retail AG",
        policy="atradius-main",
        amount=Decimal(5000),
        currency="EUR",
        tier="growth",
        state="referred",
        route="person",
        reason="a required input is missing: Bureau score",
        granted_amount=None,
        provisional_amount=None,
        cover_request_id=None,
        scorecard=scorecard_json(Scorecard(Decimal("22.50"), Decimal(60), factors)),
        conditions=[{"name": "score", "passed": False, "detail": "22.50 below 60"}],
        evidence={
            "dcl_limit": "10000",
            "country": "CH",
            "insurer_limit": None,
            "bureaus": {"creditsafe": {"source": "missing", "note": "no report", "duration_ms": 3}},
            "adverse": [],
            "insurer_refusals": [],
        },
        requested_by="anna",
        channel="web",
        plan_id=None,
        received_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        decided_at=None,
        decided_by=None,
        events=[
            SimpleNamespace(step="received", at=datetime(2026, 12, 1, 12, tzinfo=UTC), detail={})
        ],
    )
    html = render.render(
        "credit_application.html",
        me=None,
        csrf_token="t",
        nav=[],
        here="/credit/x",
        title="",
        request_id="",
        Role=None,
        a=view,
        state_value="referred",
        may_decide=False,
        may_set_line=False,
        decisions=credit_routes.DECISIONS,
        now=datetime(2026, 12, 1, 15, tzinfo=UTC),
        **credit_routes._common(),
    )
    row = re.search(r'data-factor="bureau.creditsafe.score">(.*?)</tr>', html, re.S)
    assert row
    assert '<span class="missing">missing</span>' in row.group(1)
    assert ">0<" not in row.group(1)
    assert "Missing input: Bureau score" in html
    assert "pending for 3 h 00 min" in html
    assert "does not hold" in html
    bureau = re.search(r'data-bureau="creditsafe">(.*?)</tr>', html, re.S)
    assert bureau and bureau.group(1).count('"missing">missing<') == 3  # score, failure, PAYDEX
    assert "EUR 10,000.00" in html  # the DCL


def test_took_reads_as_a_person_would() -> None:
    t0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert credit_routes.took(t0, t0.replace(second=0, microsecond=400_000)) == "0.4 s"
    assert credit_routes.took(t0, t0.replace(minute=3, second=20)) == "3 min 20 s"
    assert credit_routes.took(t0, t0.replace(hour=20, minute=5)) == "8 h 05 min"
    assert credit_routes.took(t0, datetime(2026, 12, 4, 13, tzinfo=UTC)) == "3 d 1 h"
    assert credit_routes.took(None, t0) == "—"


def test_the_panel_shows_the_plan_and_its_next_step(web: WebHarness, demo: dict[str, int]) -> None:
    buyer_id = demo["Alpine Retail AG"]
    with web.ledger.unit_of_work() as session:
        start_plan(
            session,
            buyer_id=buyer_id,
            policy_id=policy_ids(session)["atradius-main"],
            target=Decimal(20000),
            currency="EUR",
            day=AS_OF.date(),
            now=AS_OF,
            current=Decimal(5000),
        )
    viewer = web.sign_in("viewer")
    page = viewer.get(f"/buyers/{buyer_id}").text
    plan = re.search(r"<dl class=\"facts\" data-plan=\"\d+\">(.*?)</dl>", page, re.S)
    assert plan, "no plan in the panel"
    assert "EUR 5,000.00 of a target of EUR 20,000.00" in plan.group(1)
    assert "Next step" in plan.group(1)
    # a viewer sees the panel, never its forms
    assert 'id="credit-title"' in page
    assert "/credit-line" not in page and f"/buyers/{buyer_id}/tier" not in page
    assert "Apply for credit for this buyer" not in page
