"""Tiers evaluated over the ledger (SQLite and PostgreSQL: the rules' SQL is the point):
each rule fires from its data, a rerun on the same date changes nothing, a pinned buyer is
left alone until unpinned, alerts are raised once, reviews fall due."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tci_gateway.domain.money import Money
from tci_gateway.domain.tiers import TierRules
from tci_gateway.errors import InputError
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    CreditApplicationRow,
    TierChangeRow,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    AlertRow,
    AssessmentRow,
    BuyerRow,
    CoverDecisionRow,
    ErpAccountRow,
    OpenItemRow,
    PolicyRow,
)
from tci_gateway.services.behaviour import BehaviourOptions
from tci_gateway.services.tiers import (
    TierOptions,
    evaluate_tiers,
    pin_tier,
    tier_history,
    tier_status,
    unpin_tier,
)

D = Decimal
DAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
KNOWN = frozenset({"strategic", "growth", "watch", "key_account"})


def no_usd(amount: Money, currency: str, on: date) -> Money | None:
    """EUR only, plus GBP at 1.2 (USD has no rate)."""
    if amount.currency == currency:
        return amount
    if amount.currency == "GBP" and currency == "EUR":
        return Money(amount.amount * D("1.2"), "EUR")
    return None


OPTIONS = TierOptions(
    rules=TierRules(D(5_000_000), D(30), D(10)),
    behaviour=BehaviourOptions(reporting_currency="EUR", convert=no_usd),
    insurer_months=6,
    review_months={"strategic": 12, "growth": 6, "watch": 3},
    known_tiers=KNOWN,
)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def ago(days: int) -> date:
    return DAY - timedelta(days=days)


class Seed:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.policy = PolicyRow(
            key="main",
            insurer="atradius",
            currency="EUR",
            insured_percentage=D(90),
            max_credit_period_days=120,
            max_extension_days=60,
            overdue_notification_days=90,
            waiting_days=180,
            claim_filing_days=360,
            discretionary_limit=D(10000),
            claim_threshold=D(1000),
            deductible=D(0),
            timezone="Europe/Paris",
            external_ref={},
            updated_at=NOW,
        )
        session.add(self.policy)
        session.flush()
        self.accounts: dict[str, int] = {}

    def buyer(self, account: str, name: str, *, tier: str | None = None, seen: int = 30) -> int:
        buyer = BuyerRow(
            name=name, country="DE", tier=tier, created_at=at(ago(seen)), updated_at=NOW
        )
        self.s.add(buyer)
        self.s.flush()
        acc = ErpAccountRow(
            account=account,
            name=name,
            buyer_id=buyer.id,
            policy_id=self.policy.id,
            created_at=NOW,
            updated_at=NOW,
        )
        self.s.add(acc)
        self.s.flush()
        self.accounts[account] = acc.id
        return buyer.id

    def invoice(
        self, account: str, number: str, amount: str, *, dated: int, due: int, currency: str = "EUR"
    ) -> None:
        self.s.add(
            OpenItemRow(
                erp_account_id=self.accounts[account],
                document_number=number,
                kind="INVOICE",
                currency=currency,
                amount=D(amount),
                open_amount=D(amount),
                document_date=ago(dated),
                due_date=ago(due),
                disputed=False,
                updated_at=NOW,
            )
        )

    def score(self, buyer_id: int, provider: str, value: str | None, *, as_of: int) -> None:
        dnb = provider == "dnb"
        self.s.add(
            AssessmentRow(
                buyer_id=buyer_id,
                provider=provider,
                provider_id=f"{provider}-{buyer_id}",
                scale="D&B failure class 1-5" if dnb else "A-E / 0-100",
                score_raw="2" if dnb else value,
                failure_score=value if dnb else None,
                as_of=ago(as_of),
                missing=[],
                fetched_at=at(ago(as_of)),
            )
        )

    def cover(self, buyer_id: int, status: str, granted: str, *, recorded: int) -> None:
        self.s.add(
            CoverDecisionRow(
                policy_id=self.policy.id,
                buyer_id=buyer_id,
                insurer_cover_ref=f"R{buyer_id}",
                status=status,
                is_preliminary=False,
                currency="EUR",
                granted_amount=D(granted),
                effective_from=ago(recorded),
                raw_codes={},
                unknown_codes=[],
                conditions=[],
                decided_at=at(ago(recorded)),
                recorded_at=at(ago(recorded)),
            )
        )

    def application(self, buyer_id: int, *, decided: int) -> None:
        self.s.add(
            CreditApplicationRow(
                reference=f"CA-{buyer_id}",
                buyer_id=buyer_id,
                policy_id=self.policy.id,
                amount=D(1000),
                currency="EUR",
                requested_by="test",
                channel="cli",
                tier="growth",
                state=ApplicationState.GRANTED,
                route=ApplicationRoute.DCL,
                scorecard={},
                conditions=[],
                evidence={},
                received_at=at(ago(decided)),
                decided_at=at(ago(decided)),
                updated_at=NOW,
            )
        )


def seed(ledger: Ledger) -> dict[str, int]:
    with ledger.unit_of_work() as session:
        s = Seed(session)
        ids = {
            "big": s.buyer("A1", "Alpha Big", tier="growth"),
            "late": s.buyer("B1", "Beta Late", tier="growth"),
            "drop": s.buyer("C1", "Gamma Drop"),
            "cut": s.buyer("D1", "Delta Cut", tier="strategic"),
            "old_refusal": s.buyer("E1", "Epsilon Old", tier="growth"),
            "plain": s.buyer("F1", "Zeta Plain"),
            "fallen": s.buyer("G1", "Eta Fallen", tier="strategic"),
            "dollars": s.buyer("H1", "Theta Dollars"),
            "reviewed": s.buyer("I1", "Iota Reviewed", tier="growth", seen=400),
        }
        # Strategic: 4,000,000 EUR + 900,000 GBP (1,080,000 EUR) in the last 12 months
        # = 5,080,000; an older invoice (13 months) does not count.
        s.invoice("A1", "A-1", "4000000", dated=40, due=-20)
        s.invoice("A1", "A-2", "900000", dated=100, due=-10, currency="GBP")
        s.invoice("A1", "A-3", "9000000", dated=400, due=-1)
        s.score(ids["big"], "creditsafe", "70", as_of=300)
        s.score(ids["big"], "creditsafe", "65", as_of=20)  # 5 points: no drop
        # Watch by days beyond terms: open and 60 days past due.
        s.invoice("B1", "B-1", "10000", dated=120, due=60)
        # Watch by rating: D&B percentile 80 -> 60 (class 2 both times is ignored); the
        # newest Creditsafe text is not a number and is passed over (72 -> 71).
        s.score(ids["drop"], "dnb", "80", as_of=200)
        s.score(ids["drop"], "dnb", "60", as_of=10)
        s.score(ids["drop"], "creditsafe", "72", as_of=200)
        s.score(ids["drop"], "creditsafe", "71", as_of=100)
        s.score(ids["drop"], "creditsafe", "n/a", as_of=5)
        # Watch by insurer: 100,000 then 40,000 within 6 months.
        s.cover(ids["cut"], "APPROVED", "100000", recorded=300)
        s.cover(ids["cut"], "APPROVED", "40000", recorded=20)
        # A refusal eight months ago is outside the window.
        s.cover(ids["old_refusal"], "REFUSED", "0", recorded=240)
        # Purchases only in USD (no rate): left out, named.
        s.invoice("H1", "H-1", "9000000", dated=30, due=-30, currency="USD")
        s.application(ids["reviewed"], decided=100)
    return ids


def alerts(ledger: Ledger, kind: str) -> list[tuple[int | None, str]]:
    with ledger.reading() as session:
        rows = session.execute(
            select(AlertRow.buyer_id, AlertRow.message)
            .where(AlertRow.kind == kind)
            .order_by(AlertRow.id)
        )
        return [(r[0], r[1]) for r in rows]


def tiers(ledger: Ledger) -> dict[str, tuple[str | None, bool]]:
    with ledger.reading() as session:
        rows = session.execute(select(BuyerRow.name, BuyerRow.tier, BuyerRow.tier_pinned))
        return {r[0]: (r[1], bool(r[2])) for r in rows}


def test_rules_fire_and_a_rerun_changes_nothing(ledger: Ledger) -> None:
    ids = seed(ledger)
    report = evaluate_tiers(ledger, DAY, OPTIONS, now=NOW)
    assert report.ok, report.errors
    changed = {c.buyer: (c.old, c.new) for c in report.changed}
    assert changed == {
        "Alpha Big": ("growth", "strategic"),
        "Beta Late": ("growth", "watch"),
        "Gamma Drop": (None, "watch"),
        "Delta Cut": ("strategic", "watch"),
        "Eta Fallen": ("strategic", "growth"),
    }
    reasons = {c.buyer: c.reason for c in report.changed}
    assert reasons["Alpha Big"] == (
        "strategic: purchases over 12 months 5,080,000.00 over 5,000,000.00"
    )
    assert reasons["Beta Late"] == "watch: days beyond terms 60.00 (weighted) over 30.00"
    assert reasons["Gamma Drop"] == (
        "watch: dnb score fell 80.00 -> 60.00 (20.00 points, at least 10.00)"
    )
    assert reasons["Delta Cut"] == (
        "watch: insurer reduced 100,000.00 -> 40,000.00 EUR on main (2026-11-10)"
    )
    assert report.evaluated == 9 and report.pinned == 0
    assert report.counts == {"strategic": 1, "watch": 3, "growth": 5}
    assert report.notes == [
        "no EUR rate for USD on 2026-11-30: the USD purchases of 1 buyer(s) were left out"
    ]
    assert tiers(ledger)["Zeta Plain"] == (None, False)  # default tier: nothing written
    assert tiers(ledger)["Theta Dollars"] == (None, False)
    first = alerts(ledger, "tier_changed")
    assert {b for b, _ in first} == {ids[k] for k in ("big", "late", "drop", "cut", "fallen")}
    assert len(first) == 5
    assert "Beta Late: tier growth -> watch: watch: days beyond terms" in dict(first)[ids["late"]]
    history = tier_history(ledger, ids["cut"])
    assert [(h.old, h.new, h.source) for h in history] == [("strategic", "watch", "rules")]
    assert history[0].details["insurer_reductions"] == [
        "reduced 100,000.00 -> 40,000.00 EUR on main (2026-11-10)"
    ]

    again = evaluate_tiers(ledger, DAY, OPTIONS, now=NOW + timedelta(hours=1))
    assert again.changed == [] and again.alerts == 0
    assert alerts(ledger, "tier_changed") == first
    with ledger.reading() as session:
        assert session.scalar(select(func.count()).select_from(TierChangeRow)) == 5


def test_pin_survives_evaluation_and_unpin_lets_the_rules_apply(ledger: Ledger) -> None:
    ids = seed(ledger)
    pin = pin_tier(
        ledger,
        "B1",
        "Key_Account",
        by="rita",
        reason="board decision",
        now=NOW,
        known_tiers=KNOWN,
    )
    assert (pin.old, pin.new, pin.source, pin.by) == ("growth", "key_account", "pin", "rita")
    again = pin_tier(
        ledger,
        str(ids["late"]),
        "key_account",
        by="rita",
        reason="again",
        now=NOW,
        known_tiers=KNOWN,
    )
    assert again.reason == "board decision"  # already pinned so: nothing written
    report = evaluate_tiers(ledger, DAY, OPTIONS, now=NOW)
    assert report.pinned == 1 and report.evaluated == 8
    assert "Beta Late" not in {c.buyer for c in report.changed}
    assert tiers(ledger)["Beta Late"] == ("key_account", True)
    # key_account has no review frequency in [credit.tier_rules]: named, not guessed.
    assert report.errors == [
        "1 buyer(s) of tier 'key_account': no review frequency "
        "([credit.tier_rules.key_account] review_months)"
    ]

    unpinned = unpin_tier(ledger, "B1", by="rita", now=NOW)
    assert unpinned is not None and unpinned.source == "unpin"
    assert unpin_tier(ledger, "B1", by="rita", now=NOW) is None
    after = evaluate_tiers(ledger, DAY, OPTIONS, now=NOW + timedelta(hours=1))
    assert [(c.buyer, c.old, c.new) for c in after.changed] == [
        ("Beta Late", "key_account", "watch")
    ]
    status = tier_status(ledger, "B1")
    assert (status.tier, status.pinned) == ("watch", False)
    assert [h.source for h in status.history] == ["rules", "unpin", "pin"]
    messages = [m for b, m in alerts(ledger, "tier_changed") if b == ids["late"]]
    assert messages == [
        "Beta Late: tier growth -> key_account (pinned by rita: board decision)",
        "Beta Late: tier key_account -> watch: watch: days beyond terms 60.00 (weighted) "
        "over 30.00",
    ]


def test_unknown_tier_or_buyer_is_one_clear_error(ledger: Ledger) -> None:
    seed(ledger)
    with pytest.raises(InputError) as bad:
        pin_tier(ledger, "B1", "gold", by="x", reason="y", now=NOW, known_tiers=KNOWN)
    assert str(bad.value) == (
        "command line, column 'tier': unknown tier 'gold': the known tiers are growth, "
        "key_account, strategic, watch"
    )
    with pytest.raises(InputError, match="no ERP account or buyer id 'ZZ'"):
        pin_tier(ledger, "ZZ", "watch", by="x", reason="y", now=NOW, known_tiers=KNOWN)
    with pytest.raises(InputError, match="reason"):
        pin_tier(ledger, "B1", "watch", by="x", reason=" ", now=NOW, known_tiers=KNOWN)
    assert tiers(ledger)["Beta Late"] == ("growth", False)


def test_reviews_fall_due_once_a_month(ledger: Ledger) -> None:
    ids = seed(ledger)
    with ledger.unit_of_work() as session:  # first seen 200 days ago, growth (6 months)
        row = session.get_one(BuyerRow, ids["plain"])
        row.created_at = at(ago(200))
    first = DAY - timedelta(days=5)
    report = evaluate_tiers(ledger, first, OPTIONS, now=at(first))
    due: dict[int | None, str] = dict(alerts(ledger, "credit_review_due"))
    # On 25 November: Iota's application was decided 95 days before -> not due; the
    # changed ones were reviewed that day; Zeta: never reviewed, first seen 2026-05-14,
    # 6 months -> due since 14 November.
    assert set(due) == {ids["plain"]} and report.review_due == 1
    assert due[ids["plain"]] == (
        "Zeta Plain: credit review due (growth: every 6 months; never reviewed (first seen "
        "2026-05-14))"
    )
    again = evaluate_tiers(ledger, DAY, OPTIONS, now=NOW)
    assert again.review_due == 1 and again.alerts == 0  # same month: raised once
    later = evaluate_tiers(ledger, date(2027, 1, 4), OPTIONS, now=at(date(2027, 1, 4)))
    keys = [b for b, _ in alerts(ledger, "credit_review_due")]
    assert keys.count(ids["plain"]) == 2  # a new month: raised again
    assert later.ok


def test_purchases_and_details_of_a_change(ledger: Ledger) -> None:
    ids = seed(ledger)
    evaluate_tiers(ledger, DAY, OPTIONS, now=NOW)
    (change,) = tier_history(ledger, ids["big"])
    details: dict[str, Any] = change.details
    assert details["purchases_12m"] == "5080000.00"
    assert details["fired"] == ["strategic_purchases"]
    assert details["ratings"] == [{"provider": "creditsafe", "previous": "70", "latest": "65"}]
    assert (change.date, change.at) == (DAY, NOW)
    # Without review frequencies reviews are not checked (and nothing is an error).
    off = evaluate_tiers(ledger, DAY, replace(OPTIONS, review_months={}), now=NOW)
    assert (off.review_due, off.errors, off.changed) == (0, [], [])
