"""The cover requests pages: the list (newest first, by state, paged) and one request,
which reloads itself while the insurer has not decided and then shows the decision with
the insurer's raw codes. Requests are queued through the API and carried to the
Allianz sandbox's decision by the relay (ticked by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tci_gateway.domain.cover import CoverRequestState
from tci_gateway.ledger.tables import CoverRequestRow
from tci_gateway.web.routes import cover_requests as page_module

from ..api.cover_helpers import add_buyers, body, decide, later, post, rows
from .conftest import WebHarness

RELAY = "cover_requests"
REFRESH = '<section class="waiting" data-refresh="3"'


@pytest.fixture
def risk(web: WebHarness, tmp_path: Path) -> dict[str, str]:
    """Buyers the Allianz sandbox knows, and an API key that requests cover."""
    add_buyers(web.api, tmp_path)
    return web.api.key("cover:request", name="risk-desk")


def _decided(web: WebHarness) -> None:
    """The relay sends what is queued, the sandbox decides, the relay polls."""
    web.api.tick(RELAY)
    decide(web.api)
    later(web.api, web.api.ctx.settings.api.cover_poll_seconds)
    web.api.tick(RELAY)


def _rows(html: str) -> list[str]:
    """The table's rows, as the request numbers they start with."""
    return re.findall(r'<th scope="row"><a href="/cover-requests/(\d+)">', html)


def test_empty_state_says_what_to_do(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    page = viewer.get("/cover-requests")
    assert page.status_code == 200
    assert "No cover request yet." in page.text
    assert "POST /v1/cover-requests" in page.text
    filtered = viewer.get("/cover-requests?state=DECIDED")
    assert "No cover request matches these filters." in filtered.text


def test_a_request_is_followed_to_the_decision_with_the_raw_codes(
    web: WebHarness, risk: dict[str, str]
) -> None:
    made = post(web.api, risk, body(urgent=True)).json()
    viewer = web.sign_in("viewer")
    url = f"/cover-requests/{made['id']}"
    queued = viewer.get(url)
    assert queued.status_code == 200
    assert REFRESH in queued.text and "QUEUED" in queued.text
    assert f'<a href="/buyers/{made["buyer_id"]}">Buyer 400000009 SA</a>' in queued.text
    assert "EUR 30,000.00" in queued.text and "urgent" in queued.text
    # times in the policy's zone (Europe/Paris: 12:00 UTC is 13:00 CET)
    assert "2026-12-01 13:00 CET" in queued.text

    web.api.tick(RELAY)
    sent = viewer.get(url)
    assert REFRESH in sent.text and "Waiting for allianz" in sent.text
    assert "PENDING" in sent.text and "1 attempt" in sent.text
    [row] = rows(web.api)
    assert row.insurer_request_ref and row.insurer_request_ref in sent.text

    decide(web.api)
    later(web.api, web.api.ctx.settings.api.cover_poll_seconds)
    web.api.tick(RELAY)
    decided = viewer.get(url)
    assert "data-refresh" not in decided.text
    assert "allianz decided: APPROVED" in decided.text
    figures = re.search(r'<dl class="decision-figures">(.*?)</dl>', decided.text, re.S)
    assert figures
    granted = re.search(r"<dt>Granted</dt><dd[^>]*>([^<]+)</dd>", figures.group(1))
    assert granted and granted.group(1) == "EUR 30,000.00"
    [row] = rows(web.api)
    assert row.outcome_raw_codes and "Agreement" in row.outcome_raw_codes.values()
    for code, value in row.outcome_raw_codes.items():
        assert f'<th scope="row"><code>{code}</code></th><td><code>{value}</code></td>' in (
            decided.text
        )
    # the list shows the same outcome and codes
    listed = viewer.get("/cover-requests")
    assert _rows(listed.text) == [str(made["id"])]
    assert "APPROVED" in listed.text and "Agreement" in listed.text
    assert "EUR 30,000.00</span> granted" in listed.text


def test_list_is_newest_first_filtered_by_state_and_paged(
    web: WebHarness, risk: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = post(web.api, risk, body(buyer="B9")).json()["id"]
    _decided(web)
    second = post(web.api, risk, body(buyer="B10")).json()["id"]
    third = post(web.api, risk, body(buyer="B12", action="cancel", amount=None)).json()["id"]
    analyst = web.sign_in("analyst")
    listed = analyst.get("/cover-requests")
    assert _rows(listed.text) == [str(third), str(second), str(first)]
    assert "cancel" in listed.text and "request" in listed.text
    decided = analyst.get("/cover-requests?state=DECIDED")
    assert _rows(decided.text) == [str(first)]
    assert 'aria-current="page">Decided</a>' in decided.text
    queued = analyst.get("/cover-requests?state=QUEUED")
    assert _rows(queued.text) == [str(third), str(second)]
    b10 = web.api.client.get(f"/v1/cover-requests/{second}", headers=risk).json()["buyer_id"]
    assert _rows(analyst.get(f"/cover-requests?buyer_id={b10}").text) == [str(second)]
    assert _rows(analyst.get("/cover-requests?policy=atradius-main").text) == []
    # two a page: the next page goes on below the last id shown
    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    one = analyst.get("/cover-requests")
    assert _rows(one.text) == [str(third), str(second)]
    older = re.search(r'<a href="([^"]+)" rel="next">', one.text)
    assert older and older.group(1) == f"/cover-requests?cursor={second}"
    two = analyst.get(older.group(1).replace("&amp;", "&"))
    assert _rows(two.text) == [str(first)] and 'rel="next"' not in two.text
    assert '<a href="/cover-requests">← Newest</a>' in two.text


def test_a_request_the_insurer_refused_shows_why_and_stops_refreshing(
    web: WebHarness, risk: dict[str, str]
) -> None:
    made = post(web.api, risk, body()).json()
    # as the relay records a 4xx from the insurer (cover_requests.advance)
    with web.ledger.unit_of_work() as session:
        row = session.get_one(CoverRequestRow, made["id"])
        row.state, row.last_error = CoverRequestState.REJECTED, "400: unknown buyer id"
    viewer = web.sign_in("viewer")
    page = viewer.get(f"/cover-requests/{made['id']}")
    assert "data-refresh" not in page.text
    assert "Refused by allianz" in page.text
    assert "The insurer refused the request itself: 400: unknown buyer id" in page.text
    listed = viewer.get("/cover-requests?state=REJECTED")
    assert _rows(listed.text) == [str(made["id"])]
    assert '<span class="bad">400: unknown buyer id</span>' in listed.text


def test_unknown_request_and_bad_filters_are_error_pages(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    missing = viewer.get("/cover-requests/4711")
    assert missing.status_code == 404
    assert "error: no cover request 4711" in missing.text
    assert viewer.get("/cover-requests?state=LOST").status_code == 422
    assert viewer.get("/cover-requests?cursor=abc").status_code == 422
    assert "Traceback" not in missing.text


def test_pages_need_a_session(web: WebHarness) -> None:
    answer = web.client.get("/cover-requests/1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/cover-requests/1"


# Reads the same on both ledgers: SQLite only (CI time).
for _test in (
    test_empty_state_says_what_to_do,
    test_a_request_the_insurer_refused_shows_why_and_stops_refreshing,
    test_unknown_request_and_bad_filters_are_error_pages,
    test_pages_need_a_session,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
