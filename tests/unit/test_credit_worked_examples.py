"""The worked examples docs/credit.md quotes: the default scorecard and the DCL pre-screen
for a buyer within the DCL and one above it, and a progressive plan from start to target.

Everything here is pure and uses the default ``[credit]`` settings (a policy DCL of
EUR 10,000; provisional lines enabled at 50 %, at most EUR 5,000, for the second buyer).
If a figure here changes, change docs/credit.md with it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tci_gateway.config.credit import CreditSettings, ProvisionalSettings
from tci_gateway.domain.credit import Route
from tci_gateway.domain.prescreen import ScreenInputs, screen
from tci_gateway.domain.progressive import (
    PaymentRecord,
    PlanPosition,
    next_step,
    start_amount,
)
from tci_gateway.domain.scorecard import score

D = Decimal
SETTINGS = CreditSettings()
FACTORS = SETTINGS.scorecard.domain_factors()
THRESHOLD = SETTINGS.scorecard.threshold  # 60
DAY = date(2026, 11, 30)
RULES = SETTINGS.dcl.rules(
    D(10_000),
    "DE",
    tier_prescreen=SETTINGS.tier_rules["growth"].prescreen,
    provisional=ProvisionalSettings(enabled=True, share=D("0.5"), maximum=D(5_000)),
)
REPORTS = (("creditsafe", date(2026, 9, 15)), ("dnb", date(2026, 10, 2)))


def application(amount: int) -> ScreenInputs:
    return ScreenInputs(
        day=DAY,
        amount=D(amount),
        country="DE",
        reports=REPORTS,
        paid_within_terms=3,
        highest_month_end_balance=D(9_000),
        adverse=(),
        insurer_refusals=(),
        insurer_limit=None,
        currency="EUR",
        tier="growth",
    )


def test_buyer_a_within_the_dcl_is_granted_at_once() -> None:
    # Buyer A applies for EUR 8,000; policy DCL EUR 10,000.
    # factor (weight)            value  points                           x weight
    # Bureau score (30)          65     50 + (65-50)/(80-50) x 50 = 75.00   2,250.00
    # Failure percentile (20)    70     60 + (70-50)/(90-50) x 40 = 80.00   1,600.00
    # PAYDEX (10)                75     60 + (75-70)/(80-70) x 40 = 80.00     800.00
    # DBT weighted (20)          12.5  100 - 12.5/15 x 40 = 66.666 -> 66.66 1,333.20
    # Paid on time (10)          0.92   80 + 0.02/0.10 x 20 = 84.00         840.00
    # Months of trading (10)     24     70 + (24-12)/(36-12) x 30 = 85.00    850.00
    # score = 7,673.20 / 100 = 76.732 -> 76.73 (down) >= 60
    card = score(
        FACTORS,
        {
            "bureau.creditsafe.score": D(65),
            "bureau.dnb.failure_score": D(70),
            "bureau.dnb.paydex": D(75),
            "behaviour.dbt_weighted": D("12.5"),
            "behaviour.paid_on_time_share": D("0.92"),
            "trading.months": D(24),
        },
        THRESHOLD,
    )
    assert card.score == D("76.73") and card.passed
    assert [f.contribution for f in card.factors] == [
        D("22.50"),
        D("16.00"),
        D("8.00"),
        D("13.33"),
        D("8.40"),
        D("8.50"),
    ]
    result = screen(application(8_000), RULES, card)
    assert result.route is Route.DCL
    assert (result.granted, result.provisional) == (D(8_000), D(0))
    assert [(c.name, c.passed, c.detail) for c in result.conditions] == [
        ("within_dcl", True, "EUR 8,000 requested, DCL EUR 10,000."),
        ("no_named_limit", True, "The insurer has no decision on the buyer."),
        ("evidence", True, "dnb report of 2026-10-02 (1 month old, at most 6)."),
        ("no_adverse_information", True, "No negative information on the buyer in 12 months."),
        (
            "no_insurer_refusal",
            True,
            "No refusal, reduction or withdrawal by the insurer in 12 months.",
        ),
        ("country_listed", True, "DE: the DCL applies in every country."),
        ("tier_prescreen", True, "Tier growth lets the pre-screen decide."),
        ("score", True, "Score 76.73 at or above the pass mark 60."),
    ]
    assert result.reason == "Within the DCL: EUR 8,000 granted at once, every condition holds."


def test_buyer_b_above_the_dcl_goes_to_the_insurer_with_a_provisional_line() -> None:
    # Buyer B applies for EUR 25,000; policy DCL EUR 10,000.
    # factor (weight)            value  points                           x weight
    # Bureau score (30)          62     50 + (62-50)/(80-50) x 50 = 70.00   2,100.00
    # Failure percentile (20)    45      0 + (45-10)/(50-10) x 60 = 52.50   1,050.00
    # PAYDEX (10)                72     60 + (72-70)/(80-70) x 40 = 68.00     680.00
    # DBT weighted (20)          20     60 - (20-15)/(45-15) x 60 = 50.00   1,000.00
    # Paid on time (10)          0.85    0 + 0.35/0.40 x 80 = 70.00         700.00
    # Months of trading (10)     18     70 + (18-12)/(36-12) x 30 = 77.50    775.00
    # score = 6,305.00 / 100 = 63.05 >= 60
    # provisional = min(25,000 x 50 % = 12,500, maximum 5,000) = 5,000
    card = score(
        FACTORS,
        {
            "bureau.creditsafe.score": D(62),
            "bureau.dnb.failure_score": D(45),
            "bureau.dnb.paydex": D(72),
            "behaviour.dbt_weighted": D(20),
            "behaviour.paid_on_time_share": D("0.85"),
            "trading.months": D(18),
        },
        THRESHOLD,
    )
    assert card.score == D("63.05") and card.passed
    assert [f.points for f in card.factors] == [D(70), D("52.5"), D(68), D(50), D(70), D("77.5")]
    result = screen(application(25_000), RULES, card)
    assert result.route is Route.INSURER
    assert (result.granted, result.provisional) == (D(0), D(5_000))
    assert [(c.name, c.detail) for c in result.failed] == [
        ("within_dcl", "EUR 25,000 requested, EUR 15,000 above the DCL of EUR 10,000."),
    ]
    assert result.reason == (
        "Sent to the insurer: EUR 25,000 requested, EUR 15,000 above the DCL of EUR 10,000."
        " Provisional internal line EUR 5,000 while the insurer decides."
    )


def test_a_progressive_plan_from_start_to_target() -> None:
    # Target EUR 20,000, default plan: start 25 % = 5,000; a step is 25 % = 5,000; a step
    # up after 3 invoices paid within terms or 3 whole months without late payment.
    rules = SETTINGS.progressive.rules()
    assert start_amount(D(20_000), rules) == D(5_000)
    plan = PlanPosition(D(20_000), D(5_000), 0, DAY, frozen=False, currency="EUR")
    # 2027-01-20: 3 invoices paid within terms since 2026-11-30 -> 10,000
    got = next_step(plan, PaymentRecord(3, (), None), rules, date(2027, 1, 20))
    assert (got.action, got.amount) == ("step_up", D(10_000))
    plan = PlanPosition(D(20_000), D(10_000), 1, date(2027, 1, 20), frozen=False, currency="EUR")
    # 2027-02-10: an invoice 9 days late -> the plan freezes at 10,000
    late = PaymentRecord(1, ("INV-1042 9 days late",), date(2027, 2, 10))
    got = next_step(plan, late, rules, date(2027, 2, 10))
    assert (got.action, got.amount) == ("freeze", D(10_000))
    frozen = PlanPosition(D(20_000), D(10_000), 1, date(2027, 1, 20), frozen=True, currency="EUR")
    # 2027-05-09: still frozen (3 clean months end on 2027-05-10), whatever was paid
    got = next_step(frozen, PaymentRecord(6, late.late, late.last_late_on), rules, date(2027, 5, 9))
    assert (got.action, got.amount) == ("hold", D(10_000))
    assert got.next_condition == (
        "No late payment until 2027-05-10 (3 months clean), or a person unfreezes the plan."
    )
    # 2027-05-10: 3 months clean since the late payment -> 15,000, unfrozen
    got = next_step(
        frozen, PaymentRecord(6, late.late, late.last_late_on), rules, date(2027, 5, 10)
    )
    assert (got.action, got.amount) == ("step_up", D(15_000))
    # 2027-08-10: 3 months clean since that step -> 20,000, then complete
    plan = PlanPosition(D(20_000), D(15_000), 2, date(2027, 5, 10), frozen=False, currency="EUR")
    got = next_step(plan, PaymentRecord(1, (), None), rules, date(2027, 8, 10))
    assert (got.action, got.amount) == ("step_up", D(20_000))
    plan = PlanPosition(D(20_000), D(20_000), 3, date(2027, 8, 10), frozen=False, currency="EUR")
    assert next_step(plan, PaymentRecord(0, (), None), rules, date(2027, 8, 11)).action == (
        "complete"
    )
