"""Limits in force kept as data: changes by sync and by date reach the ERP's cursor;
the conservative rule in exposure, export and alerts (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from tci_adapters.atradius.mapping import map_cover
from tci_adapters.atradius.wire import Cover
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.money import Money
from tci_gateway.errors import ConfigError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow, LimitChangeRow, LimitInForceRow
from tci_gateway.scheduler.jobs import JobContext
from tci_gateway.scheduler.jobs import limit_sync as limit_sync_job
from tci_gateway.services.export import LimitRow, export_limits
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.importing import import_buyers
from tci_gateway.services.limits import roll_limits
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import make_policy
from .fakes import FakeInsurer, decision, entry

POLICY = make_policy()
POLICIES = {"main": POLICY}
DAY0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # business date 2026-11-29 in Paris


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def business(n: int) -> date:
    return POLICY.terms.business_date(day(n))


@pytest.fixture
def buyers(ledger: Ledger, tmp_path: Path) -> Ledger:
    (tmp_path / "b.csv").write_text(
        "erp_account,name,country,vat,insurer_ids\n"
        "A1,Alpha GmbH,DE,,atradius:1\n"
        "B1,Beta Ltd,GB,,atradius:2\n"
        "C1,Gamma SA,FR,,\n",
        encoding="utf-8",
    )
    import_buyers(ledger, tmp_path / "b.csv", policies=POLICIES, now=DAY0)
    return ledger


def sync(ledger: Ledger, now: datetime, *entries: Any) -> None:
    report = sync_limits(ledger, FakeInsurer(items=list(entries)), POLICY, now=now)
    assert report.ok, report.errors


def stored_alerts(ledger: Ledger) -> list[tuple[str, str, dict[str, Any]]]:
    with ledger.unit_of_work() as session:
        return [
            (a.kind, a.message, a.details)
            for a in session.scalars(select(AlertRow).order_by(AlertRow.id))
        ]


def eur(value: int) -> Money:
    return Money(Decimal(value), "EUR")


def amounts(rows: list[LimitRow]) -> dict[str, tuple[str, Decimal, date | None]]:
    return {r.buyer_name: (r.status, r.covered_amount, r.valid_to) for r in rows}


def atradius(**fields: Any) -> CoverDecision:
    record: dict[str, Any] = {
        "coverId": 7,
        "policyId": "5550001",
        "customerId": "1000123",
        "buyerId": 1,
        "buyerName": "Alpha GmbH",
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "decisionCode": "DC01",
        "totalDecision": {"decisionAmtInPolicyCurrency": Decimal("50000.00")},
        "applicationDate": "2026-01-10T08:00:00Z",
        "decisionDate": "2026-01-15T10:00:00+01:00",
        "effectFromDate": "2026-01-15",
    }
    record.update(fields)
    return map_cover(Cover.from_record(record), "EUR")


def test_a_reduction_announced_on_day_0_reaches_the_erp_on_day_7(buyers: Ledger) -> None:
    sync(buyers, day(-10), entry("1", decision("100000", ref="X1")))
    reduction = decision(
        "40000",
        status=CoverStatus.REDUCED,
        ref="X1",
        start=business(7),
        changed=day(0) - timedelta(hours=1),
    )
    sync(buyers, day(0), entry("1", reduction))
    full = export_limits(buyers, POLICIES, now=day(0))
    assert amounts(full.rows)["Alpha GmbH"] == ("APPROVED", Decimal("100000.00"), business(7))
    cursor = full.cursor
    for n in range(1, 7):
        changed = export_limits(buyers, POLICIES, now=day(n), changed_since=cursor)
        assert changed.rows == [], n
        cursor = changed.cursor
    on_day_7 = export_limits(buyers, POLICIES, now=day(7), changed_since=cursor)
    assert amounts(on_day_7.rows) == {"Alpha GmbH": ("REDUCED", Decimal("40000.00"), None)}
    assert on_day_7.rows[0].valid_from == business(7)
    assert on_day_7.cursor > cursor
    again = export_limits(buyers, POLICIES, now=day(7), changed_since=on_day_7.cursor)
    assert again.rows == []


def test_an_announced_withdrawal_takes_effect_by_date(buyers: Ledger) -> None:
    notice = CoverDecision(
        "X1",
        CoverStatus.APPROVED,
        "EUR",
        eur(60_000),
        date(2026, 1, 1),
        tranches=(Tranche(eur(60_000), date(2026, 1, 1)),),
        pending_action=PendingAction.WITHDRAWAL_NOTICE,
        effective_to=business(3),
    )
    sync(buyers, day(0), entry("1", notice))
    start = export_limits(buyers, POLICIES, now=day(0))
    assert amounts(start.rows)["Alpha GmbH"][1:] == (Decimal("60000.00"), business(3))
    assert export_limits(buyers, POLICIES, now=day(2), changed_since=start.cursor).rows == []
    ended = export_limits(buyers, POLICIES, now=day(3), changed_since=start.cursor)
    assert amounts(ended.rows) == {"Alpha GmbH": ("WITHDRAWN", Decimal("0.00"), None)}


def test_a_tranche_expiry_sets_valid_to_and_is_a_change(buyers: Ledger) -> None:
    seasonal = CoverDecision(
        "X1",
        CoverStatus.APPROVED,
        "EUR",
        eur(130_000),
        date(2026, 1, 1),
        tranches=(
            Tranche(eur(100_000), date(2026, 1, 1)),
            Tranche(eur(20_000), date(2026, 1, 1), business(5)),
            Tranche(eur(10_000), date(2026, 1, 1), business(40)),
        ),
    )
    sync(buyers, day(0), entry("1", seasonal))
    full = export_limits(buyers, POLICIES, now=day(0))
    # the first tranche end, not the later one
    assert amounts(full.rows)["Alpha GmbH"] == ("APPROVED", Decimal("130000.00"), business(5))
    changed = export_limits(buyers, POLICIES, now=day(5), changed_since=full.cursor)
    assert amounts(changed.rows) == {"Alpha GmbH": ("APPROVED", Decimal("110000.00"), business(40))}


def test_the_roll_is_idempotent_and_logs_each_change(buyers: Ledger) -> None:
    sync(buyers, day(0), entry("1", decision("100000", ref="X1")))
    with buyers.unit_of_work() as session:
        changes = session.scalar(select(func.count()).select_from(LimitChangeRow))
        (row,) = session.scalars(select(LimitInForceRow)).all()
    assert changes == 1 and row.amount == Decimal("100000") and row.business_date == business(0)
    first = roll_limits(buyers, POLICIES, day(1))
    assert first.total_changed == 0 and first.computed == {"main": 1}  # another day: looked at
    second = roll_limits(buyers, POLICIES, day(1))
    assert second.total_changed == 0 and second.computed == {"main": 0}  # nothing to do
    with buyers.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(LimitChangeRow)) == 1
        assert session.scalar(select(LimitInForceRow.business_date)) == business(1)


def test_full_export_keeps_no_cover_rows_and_changed_since_lists_new_decisions(
    buyers: Ledger,
) -> None:
    sync(buyers, day(0), entry("1", decision("70000", ref="X1")))
    full = export_limits(buyers, POLICIES, now=day(0))
    assert amounts(full.rows) == {
        "Alpha GmbH": ("APPROVED", Decimal("70000.00"), None),
        "Beta Ltd": ("NO_COVER", Decimal("0.00"), None),
        "Gamma SA": ("NO_COVER", Decimal("0.00"), None),
    }
    assert full.rows[0].raw_codes == {"decisionCode": "DC01"}
    sync(
        buyers,
        day(1),
        entry("1", decision("70000", ref="X1")),
        entry("2", decision("5000", ref="X2")),
    )
    changed = export_limits(buyers, POLICIES, now=day(1), changed_since=full.cursor)
    assert amounts(changed.rows) == {"Beta Ltd": ("APPROVED", Decimal("5000.00"), None)}


def test_an_unknown_atradius_code_never_counts_as_covered(buyers: Ledger) -> None:
    unknown = atradius(
        decisionCode="DC99", totalDecision={"decisionAmtInPolicyCurrency": Decimal("97000")}
    )
    assert unknown.status is CoverStatus.PENDING and unknown.unknown_codes == ("DC99",)
    sync(buyers, day(0), entry("2", unknown))  # a buyer with no earlier decision
    known = atradius(coverId=8)
    sync(buyers, day(0), entry("1", known))
    later_unknown = atradius(
        coverId=8,
        decisionCode="DC99",
        totalDecision={"decisionAmtInPolicyCurrency": Decimal("278000")},
        decisionDate="2026-11-20T10:00:00+01:00",
    )
    sync(buyers, day(1), entry("1", later_unknown), entry("2", unknown))
    rows = {r.buyer_name: r.exposure for r in exposure_report(buyers, POLICIES, now=day(1))}
    assert rows["Beta Ltd"].limit == eur(0) and rows["Beta Ltd"].status is CoverStatus.PENDING
    assert rows["Alpha GmbH"].limit == eur(50_000)
    assert (rows["Alpha GmbH"].raw_codes or {})["decisionCode"] == "DC99"  # shown, not counted
    export = amounts(export_limits(buyers, POLICIES, now=day(1)).rows)
    assert export["Beta Ltd"] == ("PENDING", Decimal("0.00"), None)
    assert export["Alpha GmbH"] == ("APPROVED", Decimal("50000.00"), None)
    alerts = [a for a in stored_alerts(buyers) if a[0] == AlertKind.UNKNOWN_STATUS_CODE]
    texts = sorted(m for _, m, _ in alerts)
    assert any("stays at 50,000.00 EUR until a status override maps" in t for t in texts)
    assert any("stays at 0.00 EUR until a status override maps" in t for t in texts)
    assert all(d["raw_codes"]["decisionCode"] == "DC99" for _, _, d in alerts)


def test_dc05_raises_one_alert_then_follows_the_kept_amount(buyers: Ledger) -> None:
    kept = atradius(
        decisionCode="DC05", creditLimitApplicationAmountInPolicyCurrency=Decimal("90000")
    )
    assert kept.status is CoverStatus.REFUSED
    sync(buyers, day(0), entry("1", kept))
    lowered = atradius(
        decisionCode="DC05",
        totalDecision={"decisionAmtInPolicyCurrency": Decimal("45000")},
        decisionDate="2026-11-29T08:00:00+01:00",
    )
    sync(buyers, day(1), entry("1", lowered))
    alerts = stored_alerts(buyers)
    kinds = sorted(k for k, _, _ in alerts if k != AlertKind.UNKNOWN_BUYER)
    assert kinds == [AlertKind.COVER_REDUCED, AlertKind.COVER_REFUSED]
    refused = next(m for k, m, _ in alerts if k == AlertKind.COVER_REFUSED)
    assert "increase of cover for" in refused
    assert "to 90,000.00 EUR refused: the existing cover of 50,000.00 EUR stands" in refused
    reduced = next((m, d) for k, m, d in alerts if k == AlertKind.COVER_REDUCED)
    assert "reduced from 50,000.00 EUR to 45,000.00 EUR" in reduced[0]
    assert reduced[1] is not None and reduced[1]["raw_codes"]["decisionCode"] == "DC05"
    rows = {r.buyer_name: r.exposure for r in exposure_report(buyers, POLICIES, now=day(1))}
    assert rows["Alpha GmbH"].limit == eur(45_000)


def announced_reduction(ledger: Ledger) -> None:
    sync(ledger, day(-10), entry("1", decision("100000", ref="X1")))
    reduction = decision(
        "40000",
        status=CoverStatus.REDUCED,
        ref="X1",
        start=business(7),
        changed=day(0) - timedelta(hours=1),
    )
    sync(ledger, day(0), entry("1", reduction))


ANNOUNCED = [("sync", Decimal("100000")), ("sync", Decimal("100000"))]
"""The first decision, then the same amount with ``valid_to`` set by the announcement."""


def reasons(ledger: Ledger) -> list[tuple[str, Decimal]]:
    with ledger.unit_of_work() as session:
        return [
            (r.reason, r.amount)
            for r in session.scalars(select(LimitChangeRow).order_by(LimitChangeRow.id))
        ]


def test_the_nightly_job_rolls_the_limits_before_syncing(buyers: Ledger) -> None:
    announced_reduction(buyers)
    context = JobContext(
        ledger=buyers,
        adapters={},  # no insurer connected: the sync fails, the roll has run
        policies=POLICIES,
        now=day(7),
        business_date=business(7),
        job="limit_sync",
    )
    summary = limit_sync_job(context)
    assert summary["limits_changed_by_date"] == 1 and summary["failed"] == ["main"]
    assert reasons(buyers) == [*ANNOUNCED, ("date", Decimal("40000"))]


def test_concurrent_rolls_record_each_change_once(buyers: Ledger) -> None:
    many = range(100, 400)  # enough buyers for the rolls to overlap
    sync(buyers, day(-10), *(entry(str(n), decision("100000", ref=f"X{n}")) for n in many))
    later = day(0) - timedelta(hours=1)
    reduced = [
        entry(
            str(n),
            decision(
                "40000", status=CoverStatus.REDUCED, ref=f"X{n}", start=business(7), changed=later
            ),
        )
        for n in many
    ]
    sync(buyers, day(0), *reduced)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def roll() -> None:
        barrier.wait()
        try:
            results.append(roll_limits(buyers, POLICIES, day(7)).total_changed)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=roll) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, 0, len(many)]
    dated = [r for r in reasons(buyers) if r[0] == "date"]
    assert dated == [("date", Decimal("40000"))] * len(many)


def test_a_cursor_ahead_of_the_ledger_is_refused(buyers: Ledger) -> None:
    sync(buyers, day(0), entry("1", decision("70000", ref="X1")))
    full = export_limits(buyers, POLICIES, now=day(0))
    with pytest.raises(ConfigError, match=f"cursor {full.cursor + 500} is ahead"):
        export_limits(buyers, POLICIES, now=day(0), changed_since=full.cursor + 500)
    assert export_limits(buyers, POLICIES, now=day(0), changed_since=full.cursor).rows == []


def test_the_roll_computes_limits_the_ledger_does_not_hold_yet(buyers: Ledger) -> None:
    sync(buyers, day(0), entry("1", decision("70000", ref="X1")), entry("2", decision("5000")))
    with buyers.unit_of_work() as session:  # e.g. a ledger from before limits were kept
        session.execute(delete(LimitInForceRow).where(LimitInForceRow.buyer_id == 1))
    assert roll_limits(buyers, POLICIES, day(0)).computed == {"main": 1}
    rows = amounts(export_limits(buyers, POLICIES, now=day(0)).rows)
    assert rows["Alpha GmbH"] == ("APPROVED", Decimal("70000.00"), None)
    assert roll_limits(buyers, POLICIES, day(0)).computed == {"main": 0}
