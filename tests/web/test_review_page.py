"""The review queue pages: proposed identity links with the evidence side by side,
accepted or rejected by an analyst through the service behind ``/v1/review`` (CSRF,
role, audit, idempotent, a conflict in the API's words), then back to the queue, which
says what happened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.web_tables import UserRow
from tci_gateway.web.routes import review as page_module

from ..api.risk_seed import add_review, buyer_of, import_csv
from .conftest import WebHarness

ACCOUNTS = """erp_account,name,country,policy,duns
R1,Acme Trading GmbH,DE,atradius-main,
R2,ACME Trading,DE,atradius-main,
R3,Beta Handel GmbH,DE,atradius-main,150483782
R4,Beta Handel,AT,atradius-main,123456789
R5,Gamma SARL,FR,coface-main,
R6,Gamma,FR,coface-main,
"""


@pytest.fixture
def links(web: WebHarness, tmp_path: Path) -> list[int]:
    """Three pending links: R1-R2 (no identifiers), R3-R4 (DUNS contradict), R5-R6."""
    import_csv(web.api, tmp_path, ACCOUNTS)
    return [
        add_review(web.api, "R1", "R2"),
        add_review(web.api, "R3", "R4", reason="similar names; same street"),
        add_review(web.api, "R5", "R6"),
    ]


def _items(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article class="review-item" id="item-(\d+)"', html)]


def _audits(web: WebHarness, prefix: str = "web_review") -> list[AuditRow]:
    with web.ledger.reading() as session:
        found = list(
            session.scalars(
                select(AuditRow).where(AuditRow.action.startswith(prefix)).order_by(AuditRow.id)
            )
        )
        session.expunge_all()
    return found


def _user_id(web: WebHarness, name: str) -> int | None:
    with web.ledger.reading() as session:
        return session.scalar(select(UserRow.id).where(UserRow.name == name))


def test_empty_state_says_what_to_do(web: WebHarness) -> None:
    page = web.sign_in("viewer").get("/review")
    assert page.status_code == 200
    assert "Nothing to review: no proposed link is waiting." in page.text
    assert "tci import buyers FILE" in page.text


def test_the_evidence_is_side_by_side(web: WebHarness, links: list[int]) -> None:
    viewer = web.sign_in("viewer")
    page = viewer.get("/review")
    assert page.status_code == 200
    assert _items(page.text) == links
    card = page.text[page.text.index(f'id="item-{links[1]}"') :]
    card = card[: card.index("</article>")]
    a, b = re.findall(r'<section class="side"(.*?)</section>', card, re.S)
    assert "<code>R3</code>" in a and "Beta Handel GmbH" in a
    assert "<code>R4</code>" in b and "Beta Handel</dd>" in b
    assert f'<a href="/buyers/{buyer_of(web.api, "R3")}">' in a
    assert f'<a href="/buyers/{buyer_of(web.api, "R4")}">' in b
    assert "<dt>Country</dt><dd>DE</dd>" in a and "<dt>Country</dt><dd>AT</dd>" in b
    assert "<code>DUNS:150483782</code>" in a and "<code>DUNS:123456789</code>" in b
    assert a.count("contradicts the other side") == b.count("contradicts the other side") == 1
    assert 'match score <span class="score">92.50</span>' in card
    assert "similar names; same street" in card
    assert "Identifiers contradict (DUNS:150483782 vs DUNS:123456789)" in card
    assert "Different countries: DE and AT." in card
    # a viewer sees the decision disabled, and why
    assert "Deciding needs the analyst role; you are a viewer." in card
    assert re.search(r"<button [^>]*disabled>Accept</button>", card)
    one = viewer.get(f"/review/{links[0]}")
    assert one.status_code == 200 and _items(one.text) == [links[0]]
    assert "Same country (DE)." in one.text and "No identifier in common" in one.text


def test_accept_merges_audits_and_goes_back_to_the_queue(web: WebHarness, links: list[int]) -> None:
    analyst = web.sign_in("analyst")
    form = analyst.get("/review").text
    assert f'formaction="/review/{links[0]}/accept"' in form
    assert 'aria-label="Accept link' in form and "you are a" not in form
    r1, r2 = buyer_of(web.api, "R1"), buyer_of(web.api, "R2")
    answer = analyst.post(f"/review/{links[0]}/accept", {"note": " same VAT on invoices "})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/review?done=accepted-{links[0]}"
    assert buyer_of(web.api, "R1") == buyer_of(web.api, "R2") == min(r1, r2)
    back = analyst.get(answer.headers["location"])
    assert f"Review item {links[0]} accepted" in back.text
    assert f'<a href="/buyers/{min(r1, r2)}">buyer {min(r1, r2)}</a>' in back.text
    assert _items(back.text) == links[1:]  # gone from the pending queue
    assert _items(analyst.get("/review?state=ACCEPTED").text) == [links[0]]
    [row] = _audits(web)
    assert (row.action, row.actor, row.user_id, row.api_key_id, row.status) == (
        "web_review_accepted",
        analyst.name,
        _user_id(web, analyst.name),
        None,
        200,
    )
    assert row.path == f"/review/{links[0]}/accept"
    assert row.detail == {
        "review_id": links[0],
        "accounts": ["R1", "R2"],
        "buyer_id": min(r1, r2),
        "merged_buyer_id": max(r1, r2),
        "note": "same VAT on invoices",
    }
    # again the same way: nothing changes, no second audit row
    again = analyst.post(f"/review/{links[0]}/accept", {})
    assert again.headers["location"] == f"/review?done=already-accepted-{links[0]}"
    assert "was accepted already: nothing changed" in analyst.get(again.headers["location"]).text
    assert len(_audits(web)) == 1
    # the other way: the API's conflict, in its words
    conflict = analyst.post(f"/review/{links[0]}/reject", {})
    assert conflict.status_code == 409
    assert (
        f"error: review item {links[0]} was accepted already (on 2026-12-01): "
        "it cannot be rejected now"
    ) in conflict.text
    assert len(_audits(web)) == 1


def test_reject_keeps_them_apart(web: WebHarness, links: list[int]) -> None:
    manager = web.sign_in("manager")
    answer = manager.post(f"/review/{links[2]}/reject", {"note": ""})
    assert answer.headers["location"] == f"/review?done=rejected-{links[2]}"
    assert buyer_of(web.api, "R5") != buyer_of(web.api, "R6")
    back = manager.get(answer.headers["location"])
    assert f"Review item {links[2]} rejected" in back.text and "stay apart" in back.text
    assert _items(back.text) == links[:2]
    rejected = manager.get("/review?state=REJECTED").text
    assert _items(rejected) == [links[2]] and "<form" not in rejected.split("<main")[1]
    assert [(r.action, r.detail["note"]) for r in _audits(web)] == [("web_review_rejected", "")]
    assert _items(manager.get("/review?state=all").text) == links
    accept = manager.post(f"/review/{links[2]}/accept", {})
    assert accept.status_code == 409 and "was rejected already" in accept.text


def test_contradicting_identifiers_refuse_the_merge_in_the_api_words(
    web: WebHarness, links: list[int]
) -> None:
    analyst = web.sign_in("analyst")
    answer = analyst.post(f"/review/{links[1]}/accept", {})
    assert answer.status_code == 409
    assert "error: identifiers contradict (DUNS:" in answer.text
    assert "): correct them first" in answer.text
    assert buyer_of(web.api, "R3") != buyer_of(web.api, "R4")
    assert _items(analyst.get("/review").text) == links  # still pending
    assert _audits(web) == []


def test_a_viewer_and_a_form_without_its_token_are_refused(
    web: WebHarness, links: list[int]
) -> None:
    viewer = web.sign_in("viewer")
    refused = viewer.post(f"/review/{links[0]}/accept", {})
    assert refused.status_code == 403
    assert "is a viewer; this needs the analyst role" in refused.text
    analyst = web.sign_in("analyst")
    no_token = analyst.post(f"/review/{links[0]}/accept", {}, csrf=False)
    assert no_token.status_code == 403 and "security token is missing" in no_token.text
    stranger = analyst.post(f"/review/{links[0]}/reject", {"csrf_token": viewer.csrf})
    assert stranger.status_code == 403
    assert buyer_of(web.api, "R1") != buyer_of(web.api, "R2")
    assert _items(analyst.get("/review").text) == links
    assert _audits(web) == []


def test_unknown_items_and_bad_parameters(web: WebHarness, links: list[int]) -> None:
    analyst = web.sign_in("analyst")
    assert "error: no review item 4711" in analyst.get("/review/4711").text
    assert analyst.get("/review/4711").status_code == 404
    assert analyst.post("/review/4711/accept", {}).status_code == 404
    assert analyst.get("/review?state=LOST").status_code == 422
    assert analyst.get("/review?cursor=nonsense").status_code == 422
    too_long = analyst.post(f"/review/{links[0]}/accept", {"note": "x" * 501})
    assert too_long.status_code == 422 and _audits(web) == []
    # a made-up message names nothing
    assert "flash" not in analyst.get("/review?done=<script>").text


def test_the_queue_is_paged(
    web: WebHarness, links: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    viewer = web.sign_in("viewer")
    first = viewer.get("/review")
    assert _items(first.text) == links[:2]
    more = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert more
    second = viewer.get(more.group(1).replace("&amp;", "&"))
    assert _items(second.text) == links[2:] and 'rel="next"' not in second.text
    assert '<a href="/review">← First page</a>' in second.text


# Reads and refusals that are the same on both ledgers: SQLite only (CI time).
for _test in (
    test_empty_state_says_what_to_do,
    test_unknown_items_and_bad_parameters,
    test_the_queue_is_paged,
    test_a_viewer_and_a_form_without_its_token_are_refused,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
