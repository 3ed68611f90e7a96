"""The deadlines calendar: the dates of the service behind `GET /v1/deadlines` (and one
hand-computed), the 7-day and late marks, each entry opening its case (or its buyer
before a case exists), the policy filter and the empty state."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from tci_gateway.services import case_views
from tci_gateway.services.deadline_views import upcoming_deadlines
from tci_gateway.web.routes import deadlines

from ..api.risk_seed import seed_demo
from ..api.test_cases_api import SGN, VAN_DIJK, run_claims
from .conftest import WebHarness

LABELS = {
    "COVER_STOP": "Cover stop (stop deliveries)",
    "NOTIFY_BY": "Notify by",
    "DATE_OF_LOSS": "Date of loss",
    "CLAIM_BY": "Claim by",
}


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def listed(page: str) -> list[dict[str, str]]:
    """The rows of the list under the calendar: cells by column, the link, the class."""
    section = page[page.index('id="list-title"') :]
    section = section[: section.index("</table>")]
    rows = []
    for cls, body in re.findall(r'<tr class="([^"]*)">(.*?)</tr>', section, re.S):
        cells = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        link = re.search(r'<a href="([^"]+)"', body)
        rows.append(
            {
                "class": cls,
                "date": cells[0],
                "when": cells[1],
                "deadline": cells[2],
                "buyer": cells[3],
                "policy": cells[4],
                "bites": cells[5],
                "case": cells[6],
                "href": link.group(1) if link else "",
            }
        )
    return rows


def day_cell(page: str, month: str, day: int) -> str:
    """The calendar cell of ``day`` in the table captioned ``month`` (e.g. January 2027)."""
    table = page[page.index(f"<caption>{month}") :]
    table = table[: table.index("</table>")]
    for cell in re.findall(r'<td class="day[^"]*"[^>]*>(.*?)</td>', table, re.S):
        if re.search(rf'<span class="date">{day}\b', cell):
            return str(cell)
    raise AssertionError(f"no day {day} in {month}")


def seeded(web: WebHarness) -> dict[str, int]:
    seed_demo(web.api)
    run_claims(web.api)
    return {c.buyer_name: c.id for c in case_views.list_cases(web.ledger, state=None)}


def test_the_calendar_shows_the_service_deadlines_each_opening_its_case(
    web: WebHarness,
) -> None:
    cases = seeded(web)
    page = web.sign_in("viewer").get("/deadlines")
    assert page.status_code == 200, page.text
    rows = listed(page.text)

    ctx = web.api.ctx
    settings = ctx.settings
    service = upcoming_deadlines(
        ctx.ledger,
        settings.domain_policies(),
        settings.escalation_paths(),
        default_tier=settings.escalation.default_tier,
        now=ctx.now(),
        within=90,
        lead_days=tuple(settings.alerts.deadline_lead_days),
    )
    expected = sorted(
        (u.on.isoformat(), LABELS[u.deadline.value], r.buyer.buyer_name)
        for r in service.rows
        for u in r.upcoming
    )
    assert sorted((r["date"], r["deadline"], r["buyer"]) for r in rows) == expected
    assert len(expected) == 4  # two cover stops, two notify-bys
    # By hand: Van Dijk's oldest overdue invoice was due on 14 November 2026; Atradius
    # stops cover 60 days later, on 13 January 2027 (43 days after 1 December).
    van_dijk = [r for r in rows if r["buyer"] == VAN_DIJK]
    assert van_dijk[0]["date"] == "2027-01-13"
    assert van_dijk[0]["deadline"] == "Cover stop (stop deliveries)"
    assert van_dijk[0]["when"] == "in 43 days"
    assert van_dijk[0]["bites"] == "2027-01-13 00:00 CET"
    # Every entry opens its case: Van Dijk's notified case, SGN's open case.
    assert {r["buyer"]: r["href"] for r in rows} == {
        VAN_DIJK: f"/cases/{cases[VAN_DIJK]}",
        SGN: f"/cases/{cases[SGN]}",
    }
    # Nothing within 7 days or late on 1 December.
    assert all(r["class"] == "" for r in rows)
    assert "within 7 days</span>" not in page.text and "Late</h2>" not in page.text

    # The month grid: 13 January holds Van Dijk's cover stop, linked to the case.
    cell = day_cell(page.text, "January 2027", 13)
    assert f'href="/cases/{cases[VAN_DIJK]}"' in cell
    assert f"Cover stop (stop deliveries): {VAN_DIJK}" in text(cell)
    assert "January 2027: 2 deadlines" in page.text
    assert "<li" not in day_cell(page.text, "January 2027", 12)


def test_within_seven_days_is_marked_and_past_deadlines_are_late(web: WebHarness) -> None:
    cases = seeded(web)
    # The clock moves on (a session of that day: sessions expire).
    web.api.ctx.as_of = datetime(2027, 1, 8, 12, tzinfo=UTC)  # Van Dijk's cover stop in 5 days
    page = web.sign_in("viewer").get("/deadlines")
    rows = {(r["buyer"], r["deadline"]): r for r in listed(page.text)}
    soon = rows[(VAN_DIJK, "Cover stop (stop deliveries)")]
    assert soon["class"] == "soon" and soon["when"] == "in 5 days within 7 days"
    later = rows[(SGN, "Cover stop (stop deliveries)")]  # 23 January: 15 days
    assert later["class"] == "" and later["when"] == "in 15 days"
    cell = day_cell(page.text, "January 2027", 13)
    assert 'class="entry soon"' in cell and "soon:" in text(cell)

    web.api.ctx.as_of = datetime(2027, 1, 15, 12, tzinfo=UTC)  # two days after it
    page = web.sign_in("viewer").get("/deadlines")
    rows = {(r["buyer"], r["deadline"]): r for r in listed(page.text)}
    late = rows[(VAN_DIJK, "Cover stop (stop deliveries)")]
    assert late["class"] == "late" and late["when"] == "2 days late late"
    assert late["href"] == f"/cases/{cases[VAN_DIJK]}"
    section = page.text[page.text.index('id="late-title"') : page.text.index('id="calendar-title"')]
    assert "Cover stop (stop deliveries)" in section and VAN_DIJK in html.unescape(section)
    assert SGN not in html.unescape(section)  # SGN's stop is on 23 January: 8 days ahead


def test_an_overdue_buyer_without_a_case_links_the_buyer(web: WebHarness) -> None:
    buyers = seed_demo(web.api)  # no claims run: no case yet
    page = web.sign_in("viewer").get("/deadlines")
    rows = listed(page.text)
    assert rows and {r["href"] for r in rows} == {
        f"/buyers/{buyers[VAN_DIJK]}",
        f"/buyers/{buyers[SGN]}",
    }
    assert all("it opens on the next claims run" in r["case"] for r in rows)


def test_the_policy_filter_and_the_empty_state(web: WebHarness) -> None:
    viewer = web.sign_in("viewer")
    empty = viewer.get("/deadlines")
    assert empty.status_code == 200
    assert "No deadline in the next 90 days" in empty.text
    assert "tci import receivables FILE" in empty.text

    seeded(web)
    mine = viewer.get("/deadlines", params={"policy": "atradius-main"})
    assert len(listed(mine.text)) == 4
    assert '<option value="atradius-main" selected>' in mine.text
    other = viewer.get("/deadlines", params={"policy": "coface-main"})
    assert "No deadline in the next 90 days for coface-main" in other.text
    assert 'id="list-title"' not in other.text
    everyone = viewer.get("/deadlines", params={"policy": ""})
    assert len(listed(everyone.text)) == 4
    unknown = viewer.get("/deadlines", params={"policy": "nope"})
    assert unknown.status_code == 422
    assert "unknown policy &#39;nope&#39;" in unknown.text and "Traceback" not in unknown.text


def test_the_calendar_needs_a_session(web: WebHarness) -> None:
    answer = web.client.get("/deadlines", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/deadlines"


def test_a_full_day_links_to_its_entries_in_the_list(
    web: WebHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(web)
    monkeypatch.setattr(deadlines, "PER_DAY", 0)  # every day with an entry is "full"
    page = web.sign_in("viewer").get("/deadlines").text
    cell = day_cell(page, "January 2027", 13)
    assert '<a href="#on-2027-01-13">1 more on 2027-01-13</a>' in cell
    assert 'href="/cases/' not in cell
    assert page.count('id="on-2027-01-13"') == 1  # the first list row of that day
    months = page[page.index('aria-label="Months"') : page.index("</nav>", page.index("Months"))]
    assert re.findall(r'href="#(month-[0-9-]+)"', months) == [
        "month-2026-12",
        "month-2027-01",
        "month-2027-02",
        "month-2027-03",
    ]
    assert 'id="month-2027-01"' in page and "January 2027 (2)" in months


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
