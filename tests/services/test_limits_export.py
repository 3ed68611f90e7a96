"""The covered-limits export streamed from ``limits_in_force`` (SQLite and PostgreSQL):
the same rows as the API's pages, in (policy, buyer name, buyer id) code point order,
quantized per currency, the buyers without cover kept, the CSV cells as ``write_csv``
writes them; the date roll read a page of buyers at a time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.erp.export import write_csv
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids, upsert_policies
from tci_gateway.ledger.tables import (
    BuyerRow,
    CoverDecisionRow,
    CoverTrancheRow,
    ErpAccountRow,
    LimitInForceRow,
)
from tci_gateway.services.export import (
    LIMIT_COLUMNS,
    export_limits,
    limits_page,
    open_limits,
    write_limits_csv,
)
from tci_gateway.services.limits import refresh, roll_limits

from ..erp.conftest import make_policy

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # business date 2026-11-29 in Paris
POLICIES = {
    "main": make_policy("main", "atradius", "EUR"),
    "yen": make_policy("yen", "coface", "JPY"),
    "absent": make_policy("absent", "allianz", "EUR"),  # configured, not in the ledger
}
HIDDEN = {"hidden": make_policy("hidden", "credendo", "EUR")}  # in the ledger, not exported

BUYERS = {
    1: "Alpha GmbH",
    2: "alpha klein",
    3: "Ärger AG",
    4: "=Beta Ltd",
    5: "Zeta",
    6: "Alpha GmbH",  # the same name as buyer 1: ordered by id
    7: "Gamma SA",  # accounts, no decision: NO_COVER
    8: "Ωmega",  # an account under yen only, no decision there
    9: "Delta",  # a decision, no ERP account
}
ACCOUNTS = [
    ("A2", 1, "main"),
    ("A10", 1, "main"),
    ("Y1", 1, "yen"),
    ("B1", 2, "main"),
    ("C1", 3, "main"),
    ("Y3", 3, "yen"),
    ("=D1", 4, "main"),
    ("E1", 5, "main"),
    ("F1", 6, "main"),
    ("G1", 7, "main"),
    ("Y8", 8, "yen"),
    ("H1", 5, "hidden"),
]
# (buyer, policy, status, amount, currency, effective_to)
DECISIONS = [
    (1, "main", "APPROVED", "70000.005", "EUR", None),  # half-even: 70000.00
    (2, "main", "REFUSED", "0", "EUR", None),
    (3, "main", "APPROVED", "1234.5", "EUR", None),
    (4, "main", "APPROVED", "5000", "EUR", None),
    (5, "main", "APPROVED", "8000", "EUR", date(2026, 12, 20)),  # valid_to
    (6, "main", "APPROVED", "9000", "EUR", None),
    (9, "main", "APPROVED", "100", "EUR", None),
    (1, "yen", "APPROVED", "1000000.4", "JPY", None),  # JPY: no minor units
    (3, "yen", "APPROVED", "2500000", "JPY", None),
    (5, "hidden", "APPROVED", "1", "EUR", None),
]


def _decision(did: int, pid: int, buyer: int, status: str, amount: str, currency: str,
              to: date | None) -> dict[str, Any]:  # fmt: skip
    return {
        "id": did,
        "policy_id": pid,
        "buyer_id": buyer,
        "insurer_cover_ref": f"R{did}",
        "status": status,
        "is_preliminary": False,
        "currency": currency,
        "granted_amount": Decimal(amount),
        "requested_amount": None,
        "effective_from": date(2026, 1, 1),
        "effective_to": to,
        "pending_action": None,
        "raw_codes": {"decisionCode": f"DC{did:02d}"},
        "unknown_codes": [],
        "conditions": [],
        "decided_at": NOW - timedelta(days=30),
        "source_changed_at": NOW - timedelta(days=30),
        "recorded_at": NOW - timedelta(days=30),
        "sync_run_id": None,
    }


def _add_decision(
    ledger: Ledger, did: int, buyer: int, key: str, status: str, amount: str, currency: str,
    to: date | None = None,
) -> None:  # fmt: skip
    with ledger.unit_of_work() as s:
        pid = policy_ids(s)[key]
        s.execute(
            insert(CoverDecisionRow), [_decision(did, pid, buyer, status, amount, currency, to)]
        )
        if Decimal(amount):
            s.execute(
                insert(CoverTrancheRow),
                [
                    {
                        "decision_id": did,
                        "position": 0,
                        "amount": Decimal(amount),
                        "valid_from": date(2026, 1, 1),
                        "expires_on": None,
                    }
                ],
            )


@pytest.fixture
def portfolio(ledger: Ledger) -> Ledger:
    with ledger.unit_of_work() as s:
        ids = upsert_policies(
            s, {k: p for k, p in {**POLICIES, **HIDDEN}.items() if k != "absent"}, NOW
        )
        s.execute(
            insert(BuyerRow),
            [
                {"id": b, "name": n, "country": "DE", "created_at": NOW, "updated_at": NOW}
                for b, n in BUYERS.items()
            ],
        )
        s.execute(
            insert(ErpAccountRow),
            [
                {"account": a, "name": BUYERS[b], "buyer_id": b, "policy_id": ids[k],
                 "created_at": NOW, "updated_at": NOW}
                for a, b, k in ACCOUNTS
            ],
        )  # fmt: skip
    for did, (buyer, key, status, amount, currency, to) in enumerate(DECISIONS, start=1):
        _add_decision(ledger, did, buyer, key, status, amount, currency, to)
    roll_limits(ledger, {**POLICIES, **HIDDEN}, NOW)
    return ledger


def _all_pages(ledger: Ledger, **kwargs: Any) -> list[Any]:
    rows, after, cursor = [], None, None
    while True:
        page = limits_page(ledger, POLICIES, limit=2, after=after, cursor=cursor, **kwargs)
        rows += page.rows
        after, cursor = page.after, page.cursor
        if after is None:
            return rows


def test_the_streamed_export_has_the_api_pages_rows_in_name_order(portfolio: Ledger) -> None:
    export = export_limits(portfolio, POLICIES, now=NOW)
    rows = export.rows
    # code point order of the names on both backends ("Z" < "a" < "Ä" < "Ω")
    assert rows == sorted(rows, key=lambda r: (r.policy, r.buyer_name, r.buyer_id))
    assert [(r.policy, r.buyer_id) for r in rows] == [
        ("main", 4), ("main", 1), ("main", 6), ("main", 9), ("main", 7), ("main", 5),
        ("main", 2), ("main", 3), ("yen", 1), ("yen", 3), ("yen", 8),
    ]  # fmt: skip
    # the API's pages build their rows the way the export did before it was streamed
    assert sorted(rows, key=lambda r: (r.policy, r.buyer_id)) == _all_pages(portfolio)
    by_key = {(r.policy, r.buyer_id): r for r in rows}
    alpha = by_key[("main", 1)]
    assert alpha.erp_accounts == ("A10", "A2") and alpha.covered_amount == Decimal("70000.00")
    assert str(alpha.covered_amount) == "70000.00" and alpha.insurer == "atradius"
    assert alpha.raw_codes == {"decisionCode": "DC01"} and alpha.decision_reference == "R1"
    assert by_key[("main", 5)].valid_to == date(2026, 12, 20)
    assert by_key[("main", 9)].erp_accounts == ()
    assert str(by_key[("yen", 1)].covered_amount) == "1000000"
    assert by_key[("yen", 1)].currency == "JPY" and by_key[("yen", 1)].insurer == "coface"
    gamma, omega = by_key[("main", 7)], by_key[("yen", 8)]
    assert (gamma.status, str(gamma.covered_amount), gamma.currency) == ("NO_COVER", "0.00", "EUR")
    assert (omega.status, str(omega.covered_amount), omega.currency) == ("NO_COVER", "0", "JPY")
    assert gamma.changed_at is None and gamma.raw_codes == {} and omega.erp_accounts == ("Y8",)


def test_the_csv_cells_are_what_write_csv_writes_of_the_rows(portfolio: Ledger) -> None:
    rows = export_limits(portfolio, POLICIES, now=NOW, raw_codes=False).rows
    expected = io.StringIO()
    write_csv((r.as_dict() for r in rows), LIMIT_COLUMNS, expected)
    written = io.StringIO()
    with open_limits(portfolio, POLICIES, now=NOW, raw_codes=False) as stream:
        assert write_limits_csv(stream, written) == len(rows) == 11
    assert written.getvalue() == expected.getvalue()
    parsed = list(csv.DictReader(io.StringIO(written.getvalue())))
    beta = next(r for r in parsed if r["buyer_id"] == "4")
    assert (beta["buyer_name"], beta["erp_accounts"]) == ("'=Beta Ltd", "'=D1")
    assert next(r for r in parsed if r["buyer_id"] == "1")["erp_accounts"] == "A10;A2"
    assert parsed[0]["changed_at"] == rows[0].changed_at.isoformat()  # type: ignore[union-attr]


def test_changed_since_streams_only_the_changed_limits(portfolio: Ledger) -> None:
    with open_limits(portfolio, POLICIES, now=NOW) as stream:
        cursor = stream.cursor
        assert len(list(stream.rows())) == 11
    _add_decision(portfolio, 100, 3, "yen", "APPROVED", "3000000", "JPY")
    with portfolio.unit_of_work() as s:
        pid = policy_ids(s)["yen"]
        refresh(s, POLICIES["yen"], pid, [3], now=NOW, reason=LimitChangeReason.SYNC)
    with open_limits(portfolio, POLICIES, now=NOW, changed_since=cursor) as stream:
        changed = list(stream.rows())
        assert stream.cursor == cursor + 1
    assert [(r.policy, r.buyer_id, str(r.covered_amount)) for r in changed] == [
        ("yen", 3, "3000000")
    ]
    assert _all_pages(portfolio, changed_since=cursor) == changed


def test_the_roll_reads_the_due_buyers_a_page_at_a_time(
    portfolio: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = export_limits(portfolio, POLICIES, now=NOW).rows
    day = NOW.date()
    with portfolio.unit_of_work() as s:
        pid = policy_ids(s)["main"]
        # due two ways, interleaved: computed for another day (1, 5), never stored (2, 4)
        s.execute(
            update(LimitInForceRow)
            .where(LimitInForceRow.policy_id == pid, LimitInForceRow.buyer_id.in_([1, 5]))
            .values(business_date=day - timedelta(days=1))
        )
        s.execute(
            delete(LimitInForceRow).where(
                LimitInForceRow.policy_id == pid, LimitInForceRow.buyer_id.in_([2, 4])
            )
        )
        assert list(limit_repo.due_buyer_pages(s, pid, day, size=2)) == [[1, 2], [4, 5]]
        assert list(limit_repo.due_buyer_pages(s, pid, day, size=3)) == [[1, 2, 4], [5]]
        assert limit_repo.due_buyers(s, pid, day) == {1, 2, 4, 5}
    monkeypatch.setattr(limit_repo, "PAGE", 2)
    assert roll_limits(portfolio, POLICIES, NOW).computed == {"main": 4, "yen": 0}
    assert export_limits(portfolio, POLICIES, now=NOW).rows == expected
    tomorrow = roll_limits(portfolio, POLICIES, NOW + timedelta(days=1))
    assert tomorrow.computed == {"main": 7, "yen": 2}  # every buyer with history
    assert tomorrow.total_changed == 0
    assert roll_limits(portfolio, POLICIES, NOW + timedelta(days=1)).computed == {
        "main": 0,
        "yen": 0,
    }
    with portfolio.reading() as s:
        assert list(limit_repo.policy_buyer_pages(s, pid, size=3)) == [[1, 2, 3], [4, 5, 6], [9]]
