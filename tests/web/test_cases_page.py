"""Cases in the workspace: the list, a case's itemised indemnity, deadlines and actions
(the figures of `GET /v1/cases/{id}`), the filing pack download (the CLI's renderer),
and the confirmation of a manual filing (analysts, CSRF, audited)."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.web_tables import UserRow
from tci_gateway.services import case_views
from tci_gateway.services.pack_render import render_pack
from tci_gateway.web.routes import cases as cases_route

from ..api.risk_seed import POLICY, seed_demo
from ..api.test_cases_api import SGN, VAN_DIJK, run_claims
from .conftest import WebHarness


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


def table_rows(fragment: str) -> list[list[str]]:
    """Each body row's cells (th and td), as text."""
    body = fragment[fragment.index("<tbody>") : fragment.index("</tbody>")]
    return [
        [text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def seeded(web: WebHarness) -> dict[str, int]:
    seed_demo(web.api)
    run_claims(web.api)
    return {c.buyer_name: c.id for c in case_views.list_cases(web.ledger, state=None)}


def audit_rows(web: WebHarness, action: str) -> list[AuditRow]:
    with web.ledger.reading() as session:
        rows = list(session.scalars(select(AuditRow).where(AuditRow.action == action)))
        session.expunge_all()
    return rows


def test_the_list_newest_first_by_state(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    empty = viewer.get("/cases")
    assert empty.status_code == 200 and "No case yet." in empty.text
    assert "tci claims run" in empty.text

    cases = seeded(web)
    page = viewer.get("/cases")
    rows = table_rows(page.text)
    assert [r[0] for r in rows] == [f"Case {cases[SGN]}", f"Case {cases[VAN_DIJK]}"]
    van_dijk = rows[1]
    assert van_dijk[1:5] == [VAN_DIJK, POLICY, "open", "2026-12-01"]
    assert van_dijk[7:9] == ["EUR 37,000.00", "EUR 58,050.00"]
    assert van_dijk[9] == "Overdue notification: manual"  # waits for a person
    assert rows[0][9] == "no"
    assert f'href="/cases/{cases[VAN_DIJK]}"' in page.text

    opened = viewer.get("/cases", params={"state": "open", "policy": POLICY})
    assert len(table_rows(opened.text)) == 2
    closed = viewer.get("/cases", params={"state": "closed"})
    assert "No closed case yet." in closed.text and "<tbody>" not in closed.text
    assert viewer.get("/cases", params={"state": "bogus"}).status_code == 422
    assert viewer.get("/cases", params={"policy": "nope"}).status_code == 422


def test_a_case_shows_its_itemised_indemnity_deadlines_and_actions(web: WebHarness) -> None:
    cases = seeded(web)
    case_id = cases[VAN_DIJK]
    page = web.sign_in("viewer").get(f"/cases/{case_id}")
    assert page.status_code == 200, page.text
    view = case_views.get_case(web.ledger, case_id)

    lines = table_rows(section(page.text, "indemnity-title"))
    # INV-1001-01 net of the payment, INV-1001-02 net of its credit note, both under
    # the 100,000 limit at delivery (the API test's figures).
    assert [(r[0], r[5], r[6], r[7], r[8]) for r in lines] == [
        ("INV-1001-01", "EUR 3,000.00", "EUR 37,000.00", "EUR 100,000.00", "EUR 37,000.00"),
        ("INV-1001-02", "EUR 2,500.00", "EUR 27,500.00", "EUR 100,000.00", "EUR 27,500.00"),
    ]
    foot = text(section(page.text, "indemnity-title").split("<tfoot>")[1])
    assert "Insured total EUR 64,500.00" in foot
    assert "Insured percentage 90 %" in foot
    assert "Deductible EUR 0.00" in foot
    assert "Indemnity EUR 58,050.00" in foot  # 90 % of 64,500

    deadlines = {r[0]: r[1:] for r in table_rows(section(page.text, "deadlines-title"))}
    assert deadlines == {
        "Cover stop (stop deliveries)": [view.cover_stop.isoformat(), "in 43 days"],
        "Notify by": [view.notify_by.isoformat(), "in 73 days"],
        "Date of loss": [view.date_of_loss.isoformat(), "in 163 days"],
        "Claim by": [view.claim_by.isoformat(), "in 343 days"],
    }
    actions = {r[0]: r for r in table_rows(section(page.text, "actions-title"))}
    assert actions["Reminder"][1:3] == ["internal", "DONE"]
    assert actions["Overdue notification"][1:3] == ["manual", "MANUAL waiting for a person"]
    assert actions["Overdue notification"][4] == view.actions[1].client_reference
    # A viewer sees what to do, not the form.
    assert "An analyst or manager confirms the filing" in page.text
    crafted = web.sign_in("viewer").get(f"/cases/{case_id}", params={"confirmed": "reminder"})
    assert crafted.status_code == 200 and "recorded as filed" not in crafted.text
    assert "/actions/overdue_notification/confirm" not in page.text
    assert f'href="/cases/{case_id}/pack"' in page.text

    missing = web.sign_in("viewer").get("/cases/999")
    assert missing.status_code == 404
    assert "no case 999 in the ledger" in missing.text and "Traceback" not in missing.text


def test_the_filing_pack_downloads_as_the_cli_writes_it(web: WebHarness) -> None:
    cases = seeded(web)
    case_id = cases[VAN_DIJK]
    viewer = web.sign_in("viewer")
    markdown = viewer.get(f"/cases/{case_id}/pack")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == (
        f'attachment; filename="case-{case_id}-filing-pack.md"'
    )
    assert markdown.text == render_pack(case_views.filing_pack(web.ledger, case_id))
    assert "- **indemnity: 58050.00 EUR**" in markdown.text

    as_json = viewer.get(f"/cases/{case_id}/pack", params={"format": "json"})
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.headers["content-disposition"] == (
        f'attachment; filename="case-{case_id}-filing-pack.json"'
    )
    api = web.api.client.get(f"/v1/cases/{case_id}/filing-pack", headers=web.api.key("buyers:read"))
    assert json.loads(as_json.text) == api.json()
    assert viewer.get("/cases/999/pack").status_code == 404
    assert viewer.get(f"/cases/{case_id}/pack", params={"format": "pdf"}).status_code == 422


def test_an_analyst_confirms_a_manual_filing_audited(web: WebHarness) -> None:
    cases = seeded(web)
    case_id = cases[VAN_DIJK]
    alice = web.sign_in("analyst", name="alice")
    page = alice.get(f"/cases/{case_id}")
    url = f"/cases/{case_id}/actions/overdue_notification/confirm"
    assert f'action="{url}"' in page.text
    assert 'for="reference-' in page.text

    answer = alice.post(url, {"reference": " ATR-77 "})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == (
        f"/cases/{case_id}?confirmed=overdue_notification#actions"
    )
    view = case_views.get_case(web.ledger, case_id)
    filed = next(a for a in view.actions if a.action == "OVERDUE_NOTIFICATION")
    assert (filed.state, filed.insurer_reference) == ("FILED_MANUALLY", "ATR-77")

    shown = alice.get(answer.headers["location"])
    assert "Overdue notification recorded as filed in the insurer" in text(shown.text)
    assert "<code>ATR-77</code>" in shown.text
    assert f'action="{url}"' not in shown.text  # nothing waits any more

    (row,) = audit_rows(web, "web_filing_confirmed")
    with web.ledger.reading() as session:
        alice_id = session.scalar(select(UserRow.id).where(UserRow.name == "alice"))
    assert (row.actor, row.user_id, row.api_key_id) == ("alice", alice_id, None)
    assert row.method == "POST" and row.path == url
    assert row.detail == {
        "case": case_id,
        "policy": POLICY,
        "action": "OVERDUE_NOTIFICATION",
        "from": "MANUAL",
        "to": "FILED_MANUALLY",
        "insurer_reference": "ATR-77",
    }

    again = alice.post(url, {"reference": "ATR-78"})
    assert again.status_code == 409
    assert (
        f"case {case_id} overdue_notification is FILED_MANUALLY: only a manual or "
        "rejected filing is confirmed by hand"
    ) in html.unescape(again.text)
    assert len(audit_rows(web, "web_filing_confirmed")) == 1


def test_a_confirmation_is_refused_to_viewers_without_csrf_and_with_bad_input(
    web: WebHarness,
) -> None:
    cases = seeded(web)
    case_id = cases[VAN_DIJK]
    url = f"/cases/{case_id}/actions/overdue_notification/confirm"
    viewer = web.sign_in("viewer")
    refused = viewer.post(url, {"reference": "ATR-1"})
    assert refused.status_code == 403 and "this needs the analyst role" in refused.text
    analyst = web.sign_in("analyst")
    no_token = analyst.post(url, {"reference": "ATR-1"}, csrf=False)
    assert no_token.status_code == 403 and "security token" in no_token.text
    empty = analyst.post(url, {"reference": "   "})
    assert empty.status_code == 422
    assert "the insurer&#39;s reference must not be empty" in empty.text
    # the workspace's error page with the field (not the bare fallback page)
    assert 'class="error-detail"' in empty.text
    assert "<li>reference: the insurer&#39;s reference must not be empty</li>" in empty.text
    control = analyst.post(url, {"reference": "ATR\x00-1"})
    assert control.status_code == 422
    unknown = analyst.post(f"/cases/{case_id}/actions/bogus/confirm", {"reference": "X"})
    assert unknown.status_code == 404 and "unknown action &#39;bogus&#39;" in unknown.text
    nowhere = analyst.post("/cases/999/actions/claim/confirm", {"reference": "X"})
    assert nowhere.status_code == 404
    reminder = analyst.post(f"/cases/{case_id}/actions/reminder/confirm", {"reference": "X"})
    assert reminder.status_code == 409

    view = case_views.get_case(web.ledger, case_id)
    assert next(a for a in view.actions if a.action == "OVERDUE_NOTIFICATION").state == "MANUAL"
    assert audit_rows(web, "web_filing_confirmed") == []


def test_the_list_is_paged_by_case_id(web: WebHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = seeded(web)
    monkeypatch.setattr(cases_route, "PAGE", 1)
    viewer = web.sign_in("viewer")
    first = viewer.get("/cases", params={"state": "open"})
    assert [r[0] for r in table_rows(first.text)] == [f"Case {cases[SGN]}"]
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following and html.unescape(following.group(1)) == (
        f"/cases?state=open&before={cases[SGN]}"
    )
    second = viewer.get(html.unescape(following.group(1)))
    assert [r[0] for r in table_rows(second.text)] == [f"Case {cases[VAN_DIJK]}"]
    assert 'rel="next"' not in second.text
    past = viewer.get("/cases", params={"before": cases[VAN_DIJK]})
    assert "No more cases." in past.text


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
