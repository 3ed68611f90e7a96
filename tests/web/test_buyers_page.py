"""The buyers list (``/buyers``): search (name, identifier value, SCHEME:VALUE), the
filters against the demo's figures, sorting, keyset paging, the empty states."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from sqlalchemy import select

from tci_gateway.domain.cover import CoverStatus
from tci_gateway.ledger.tables import BuyerRow

from ..api.risk_seed import add_cover, import_csv, seed_demo
from .conftest import Person, WebHarness

_ROW = re.compile(r'<tr data-buyer="(\d+)">')
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def _ids(page_text: str) -> list[int]:
    return [int(i) for i in _ROW.findall(page_text)]


def _names(web: WebHarness) -> dict[str, int]:
    with web.ledger.reading() as session:
        return {n: i for i, n in session.execute(select(BuyerRow.id, BuyerRow.name))}


def _get(person: Person, path: str) -> str:
    answer = person.get(path)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_filters_match_the_demo(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    alice = web.sign_in("viewer")
    every = _ids(_get(alice, "/buyers?sort=id"))
    assert every == sorted(ids.values())
    # over limit: Müller (55,000 against 40,000) and SGN (80,000 against 75,000)
    over = _get(alice, "/buyers?over_limit=1")
    assert set(_ids(over)) == {
        ids["Müller Maschinenbau GmbH"],
        ids["Société Générale de Négoce SAS"],
    }
    assert "EUR 55,000.00" in over and "EUR 40,000.00" in over
    # uncovered: Harbour (refused), Iberia (pending), Alpine (no cover)
    uncovered = set(_ids(_get(alice, "/buyers?uncovered=1")))
    assert uncovered == {
        ids["Harbour Freight Supplies Ltd"],
        ids["Iberia Componentes S.L."],
        ids["Alpine Retail AG"],
    }
    # pending decision: Iberia's referred application
    assert _ids(_get(alice, "/buyers?pending=1")) == [ids["Iberia Componentes S.L."]]
    # the form keeps what was asked, every control labelled
    page = _get(alice, "/buyers?pending=1&over_limit=1")
    assert 'id="f-pending" type="checkbox" name="pending" value="1" checked' in page
    for control in (
        "f-q",
        "f-over",
        "f-uncovered",
        "f-pending",
        "f-expiring",
        "f-tier",
        "f-insurer",
        "f-sort",
    ):
        assert f'<label for="{control}"' in page
    assert "No buyer matches" in page  # none both pending and over limit
    # insurer: every demo buyer is under the Atradius policy, none under Coface
    assert len(_ids(_get(alice, "/buyers?insurer=atradius"))) == len(ids)
    assert _ids(_get(alice, "/buyers?insurer=coface")) == []


def test_expiring_and_search(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    alice = web.sign_in("viewer")
    van_dijk = ids["Bouwbedrijf Van Dijk B.V."]
    assert van_dijk not in _ids(_get(alice, "/buyers?expiring=30"))
    # a reduction to 10,000 from 2026-12-20: the limit drops within 30 days, not within 10
    add_cover(web.api, van_dijk, amount="100000", effective_from=date(2026, 1, 1), ref="T-1")
    add_cover(web.api, van_dijk, amount="10000", effective_from=date(2026, 12, 20), ref="T-1")
    assert van_dijk in _ids(_get(alice, "/buyers?expiring=30"))
    assert van_dijk not in _ids(_get(alice, "/buyers?expiring=10"))
    # name (any case), identifier value, SCHEME:VALUE, ERP account
    assert _ids(_get(alice, "/buyers?q=m%C3%BCller")) == [ids["Müller Maschinenbau GmbH"]]
    assert _ids(_get(alice, "/buyers?q=DE136695976")) == [ids["Müller Maschinenbau GmbH"]]
    sgn = _get(alice, "/buyers?q=FR_SIREN:552100554")
    assert _ids(sgn) == [ids["Société Générale de Négoce SAS"]]
    assert "Searching the identifier" in sgn
    assert _ids(_get(alice, "/buyers?q=C1005")) == [ids["Harbour Freight Supplies Ltd"]]
    # each row links to the buyer's page
    assert f'<a href="/buyers/{van_dijk}">Bouwbedrijf Van Dijk B.V.</a>' in _get(alice, "/buyers")


def test_sorting_and_keyset_paging(web: WebHarness, tmp_path: Path) -> None:
    rows = ["erp_account,name,country,policy"] + [
        f"P{i:03d},Buyer {chr(ord('A') + (i * 7) % 26)}{i:03d},DE,atradius-main" for i in range(120)
    ]
    import_csv(web.api, tmp_path, "\n".join(rows) + "\n")
    names = _names(web)
    alice = web.sign_in("viewer")
    for sort, expected in (
        ("name", sorted(names.items())),
        ("-name", sorted(names.items(), reverse=True)),
        ("id", sorted(names.items(), key=lambda kv: kv[1])),
        ("-id", sorted(names.items(), key=lambda kv: -kv[1])),
    ):
        seen: list[int] = []
        path: str | None = f"/buyers?sort={sort}"
        pages = 0
        while path:
            text = _get(alice, path.replace("&amp;", "&"))
            page_ids = _ids(text)
            assert 0 < len(page_ids) <= 50
            seen.extend(page_ids)
            found = _NEXT.search(text)
            path = found.group(1) if found else None
            pages += 1
        assert pages == 3
        assert seen == [i for _, i in expected], sort
    # a cursor this page did not give is refused in words
    bad = alice.get("/buyers?cursor=not-a-cursor")
    assert bad.status_code == 422
    assert "start again from the first page" in bad.text


def test_unknown_filter_and_empty_states(web: WebHarness) -> None:
    alice = web.sign_in("viewer")
    empty = _get(alice, "/buyers")
    assert "No buyers yet" in empty and "tci import buyers" in empty
    bad = alice.get("/buyers?tier=platinum")
    assert bad.status_code == 422
    assert "unknown tier" in bad.text
    assert alice.get("/buyers?expiring=soon").status_code == 422
    seed_demo(web.api)
    nothing = _get(alice, "/buyers?q=no+such+buyer")
    assert "No buyer matches" in nothing


def test_needs_a_session(web: WebHarness) -> None:
    answer = web.client.get("/buyers", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_pending_decision_counts_a_pending_version(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    alice = web.sign_in("viewer")
    harbour = ids["Harbour Freight Supplies Ltd"]
    add_cover(
        web.api,
        harbour,
        amount="0",
        effective_from=date(2026, 12, 1),
        ref="T-7",
        status=CoverStatus.PENDING,
    )
    assert set(_ids(_get(alice, "/buyers?pending=1"))) == {ids["Iberia Componentes S.L."], harbour}


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
