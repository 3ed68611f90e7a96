"""Insured amount and indemnity (docs/domain.md, section 7).

Golden tests are computed by hand; each shows its arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.indemnity import (
    Exclusion,
    IndemnityResult,
    InvoiceLine,
    compute_indemnity,
)
from tci_gateway.domain.money import CurrencyMismatchError, Money
from tci_gateway.domain.policy import PolicyTerms
from tci_gateway.domain.receivables import ItemKind, OpenItem

from .policy_terms import atradius_terms

JAN1 = date(2026, 1, 1)
JUN1 = date(2026, 6, 1)


def eur(value: int | str | Decimal) -> Money:
    return Money(Decimal(value), "EUR")


def terms(**changes: Any) -> PolicyTerms:
    return atradius_terms(**({"claim_threshold": eur(0)} | changes))


def steps(
    *changes: tuple[date, int | str | Decimal], currency: str = "EUR"
) -> Callable[[date], Money]:
    """A limit in force from each date until the next change; zero before the first."""

    def limit_on(day: date) -> Money:
        amount: int | str | Decimal = 0
        for start, value in sorted(changes):
            if start <= day:
                amount = value
        return Money(Decimal(amount), currency)

    return limit_on


def invoice(
    number: str,
    amount: int | str | Decimal,
    delivered: date | None,
    *,
    open_amount: int | str | Decimal | None = None,
    currency: str = "EUR",
    disputed: bool = False,
    document_date: date | None = None,
    due_date: date | None = None,
) -> OpenItem:
    full = Money(Decimal(amount), currency)
    return OpenItem(
        erp_account="C100",
        document_number=number,
        kind=ItemKind.INVOICE,
        amount=full,
        open_amount=full if open_amount is None else Money(Decimal(open_amount), currency),
        document_date=document_date or delivered or JAN1,
        delivery_date=delivered,
        due_date=due_date,
        disputed=disputed,
    )


def credit(
    number: str,
    amount: int | str | Decimal,
    dated: date,
    *,
    kind: ItemKind = ItemKind.CREDIT_NOTE,
    applies_to: str | None = None,
    currency: str = "EUR",
) -> OpenItem:
    money = Money(Decimal(amount), currency)
    return OpenItem(
        erp_account="C100",
        document_number=number,
        kind=kind,
        amount=money,
        open_amount=money,
        document_date=dated,
        applies_to=applies_to,
    )


def payment(number: str, amount: int | str | Decimal, dated: date, **kw: Any) -> OpenItem:
    return credit(number, amount, dated, kind=ItemKind.PAYMENT, **kw)


def line(result: IndemnityResult, number: str) -> InvoiceLine:
    (found,) = [x for x in result.lines if x.number == number]
    return found


# -- golden: the DESIGN example --------------------------------------------------------------


DESIGN_LIMIT = steps((JAN1, 100_000), (JUN1, 40_000))


def test_design_example_both_unpaid() -> None:
    items = [
        invoice("B", 30_000, date(2026, 6, 15)),
        invoice("A", 70_000, date(2026, 5, 10)),
    ]
    result = compute_indemnity(items, terms(), DESIGN_LIMIT)
    # A: min(70,000, 100,000 - 0) = 70,000
    # B: max(0, min(30,000, 40,000 - 70,000 = -30,000)) = 0
    # 90% x 70,000.00 = 63,000.00
    assert [x.number for x in result.lines] == ["A", "B"]
    assert line(result, "A").limit_at_delivery == eur(100_000)
    assert line(result, "B").limit_at_delivery == eur(40_000)
    assert line(result, "A").insured == eur(70_000)
    assert line(result, "B").insured == eur(0)
    assert result.insured_total == eur(70_000)
    assert result.gross_indemnity == eur("63000.00")
    assert result.indemnity == eur("63000.00")
    assert str(result.indemnity.amount) == "63000.00"
    assert not result.below_threshold
    assert result.unapplied_credits == eur(0)
    assert result.disputed == ()


def test_design_example_a_paid_down() -> None:
    items = [
        invoice("A", 70_000, date(2026, 5, 10), open_amount=20_000),
        invoice("B", 30_000, date(2026, 6, 15)),
    ]
    result = compute_indemnity(items, terms(), DESIGN_LIMIT)
    # A: min(20,000, 100,000 - 0) = 20,000
    # B: min(30,000, 40,000 - 20,000) = 20,000
    # 90% x 40,000.00 = 36,000.00
    assert line(result, "A").open_amount == eur(20_000)
    assert line(result, "A").insured == eur(20_000)
    assert line(result, "B").insured == eur(20_000)
    assert result.insured_total == eur(40_000)
    assert result.indemnity == eur("36000.00")


# -- golden: a reduction between two deliveries ----------------------------------------------


def test_reduction_between_two_deliveries_with_odd_cents() -> None:
    limit = steps((JAN1, 50_000), (date(2026, 4, 1), 30_000))
    items = [
        invoice("INV-1", "12345.67", date(2026, 3, 3)),
        invoice("INV-2", "25000.00", date(2026, 4, 20)),
    ]
    result = compute_indemnity(items, terms(insured_percentage=Decimal("85")), limit)
    # INV-1: min(12,345.67, 50,000.00 - 0) = 12,345.67
    # INV-2: min(25,000.00, 30,000.00 - 12,345.67 = 17,654.33) = 17,654.33
    # total 12,345.67 + 17,654.33 = 30,000.00; 85% = 25,500.00
    assert line(result, "INV-1").insured == eur("12345.67")
    assert line(result, "INV-2").insured == eur("17654.33")
    assert result.insured_total == eur("30000.00")
    assert result.indemnity == eur("25500.00")


def test_reduction_with_a_percentage_that_needs_rounding() -> None:
    limit = steps((JAN1, 50_000), (date(2026, 4, 1), 30_000))
    items = [
        invoice("INV-1", "12345.67", date(2026, 3, 3)),
        invoice("INV-2", "10101.01", date(2026, 4, 20)),
        invoice("INV-3", "9999.99", date(2026, 5, 2)),
    ]
    result = compute_indemnity(items, terms(insured_percentage=Decimal("85")), limit)
    # INV-1: min(12,345.67, 50,000.00) = 12,345.67
    # INV-2: min(10,101.01, 30,000.00 - 12,345.67 = 17,654.33) = 10,101.01
    # INV-3: min(9,999.99, 30,000.00 - 22,446.68 = 7,553.32) = 7,553.32
    # total 12,345.67 + 10,101.01 + 7,553.32 = 30,000.00: the reduced limit is full
    assert line(result, "INV-3").insured == eur("7553.32")
    assert result.insured_total == eur("30000.00")
    # Without INV-3: 22,446.68 x 0.85 = 19,079.678 -> 19,079.68
    result = compute_indemnity(items[:2], terms(insured_percentage=Decimal("85")), limit)
    assert result.insured_total == eur("22446.68")
    assert result.gross_indemnity == eur("19079.68")
    assert result.indemnity == eur("19079.68")


def test_gross_is_rounded_half_even() -> None:
    result = compute_indemnity(
        [invoice("I", "1000.10", JAN1)],
        terms(insured_percentage=Decimal("85")),
        steps((JAN1, 100_000)),
    )
    # 1,000.10 x 0.85 = 850.085 -> half-even 850.08 (half-up would give 850.09)
    assert result.gross_indemnity == eur("850.08")
    assert result.indemnity == eur("850.08")


def test_rounding_follows_the_policy_currency_minor_units() -> None:
    jpy = Money.zero("JPY")
    policy = terms(currency="JPY", discretionary_limit=jpy, claim_threshold=jpy, deductible=jpy)
    result = compute_indemnity(
        [invoice("I", 12_345, JAN1, currency="JPY")],
        policy,
        steps((JAN1, 1_000_000), currency="JPY"),
    )
    # 12,345 JPY x 0.90 = 11,110.5 -> half-even, no minor units: 11,110
    assert result.gross_indemnity == Money(Decimal("11110"), "JPY")
    assert result.indemnity == Money(Decimal("11110"), "JPY")


# -- golden: disputes ------------------------------------------------------------------------


def test_disputed_invoice_is_listed_but_takes_no_room() -> None:
    items = [
        invoice("A", 30_000, date(2026, 2, 1), disputed=True),
        invoice("B", 40_000, date(2026, 3, 1)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 50_000)))
    # A: disputed, insured 0, not in the running sum
    # B: min(40,000, 50,000 - 0) = 40,000 (had A counted: 50,000 - 30,000 = 20,000)
    # 90% x 40,000 = 36,000.00
    a = line(result, "A")
    assert a.excluded is Exclusion.DISPUTED
    assert a.insured == eur(0)
    assert a.net == eur(30_000)
    assert line(result, "B").insured == eur(40_000)
    assert line(result, "B").excluded is None
    assert result.disputed == (a,)
    assert result.insured_total == eur(40_000)
    assert result.indemnity == eur("36000.00")


# -- golden: credits -------------------------------------------------------------------------


def test_named_credit_then_unassigned_payment_to_the_oldest() -> None:
    items = [
        invoice("I1", "10000.00", date(2026, 1, 10)),
        invoice("I2", "8000.00", date(2026, 2, 10)),
        invoice("I3", "5000.00", date(2026, 3, 10)),
        payment("P1", "12500.50", date(2026, 4, 1)),
        credit("CN1", "3000.00", date(2026, 4, 2), applies_to="I2"),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    # Named first: CN1 -> I2: 8,000.00 - 3,000.00 = 5,000.00
    # P1 12,500.50 -> I1 (oldest): 10,000.00 -> 0, left 2,500.50
    #              -> I2: 5,000.00 - 2,500.50 = 2,499.50, left 0
    # I3 untouched 5,000.00
    # insured: 0 + 2,499.50 + 5,000.00 = 7,499.50; 90% = 6,749.55
    assert line(result, "I1").credits_applied == eur("10000.00")
    assert line(result, "I1").net == eur(0)
    assert line(result, "I2").credits_applied == eur("5500.50")
    assert line(result, "I2").net == eur("2499.50")
    assert line(result, "I3").credits_applied == eur(0)
    assert line(result, "I3").net == eur("5000.00")
    assert result.unapplied_credits == eur(0)
    assert result.insured_total == eur("7499.50")
    assert result.indemnity == eur("6749.55")


def test_named_credit_remainder_flows_to_the_oldest_undisputed() -> None:
    items = [
        invoice("I1", "1000.00", date(2026, 1, 10), disputed=True),
        invoice("I2", "2000.00", date(2026, 2, 10)),
        invoice("I3", "3000.00", date(2026, 3, 10)),
        credit("CN1", "1500.25", date(2026, 4, 1), applies_to="I1"),
        credit("CN2", "100.00", date(2026, 4, 1), applies_to="NOT-OPEN"),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    # CN1 -> I1 even though disputed: 1,000.00 -> 0, left 500.25
    #     -> I2 (oldest undisputed): 2,000.00 - 500.25 = 1,499.75
    # CN2 names no open invoice: unassigned -> I2: 1,499.75 - 100.00 = 1,399.75
    # insured: I2 1,399.75 + I3 3,000.00 = 4,399.75; 90% = 3,959.775 -> 3,959.78
    assert line(result, "I1").credits_applied == eur("1000.00")
    assert line(result, "I1").net == eur(0)
    assert line(result, "I2").credits_applied == eur("600.25")
    assert line(result, "I2").net == eur("1399.75")
    assert line(result, "I3").net == eur("3000.00")
    assert result.insured_total == eur("4399.75")
    assert result.indemnity == eur("3959.78")


def test_unassigned_credit_skips_disputed_invoices() -> None:
    items = [
        invoice("I1", "1000.00", date(2026, 1, 10), disputed=True),
        invoice("I2", "2000.00", date(2026, 2, 10)),
        payment("P1", "500.00", date(2026, 3, 1)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    # P1 -> I2 (I1 is disputed): 2,000.00 - 500.00 = 1,500.00
    assert line(result, "I1").credits_applied == eur(0)
    assert line(result, "I2").net == eur("1500.00")
    assert result.insured_total == eur("1500.00")


def test_an_over_large_credit_leaves_unapplied_credits() -> None:
    items = [
        invoice("I1", "1000.00", date(2026, 1, 10)),
        invoice("I2", "2000.00", date(2026, 2, 10), disputed=True),
        invoice("I3", "500.00", date(2026, 3, 10)),
        credit("CN1", "4000.00", date(2026, 4, 1)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    # CN1 4,000.00 -> I1 1,000.00 and I3 500.00 (I2 disputed, skipped)
    # left 4,000.00 - 1,500.00 = 2,500.00 unapplied; nothing insured
    assert result.unapplied_credits == eur("2500.00")
    assert line(result, "I2").net == eur("2000.00")
    assert result.insured_total == eur(0)
    assert result.below_threshold
    assert result.indemnity == eur(0)


def test_credits_reshape_insured_parts_under_a_reduced_limit() -> None:
    # The DESIGN example with A paid down by a payment document instead of its open amount.
    items = [
        invoice("A", 70_000, date(2026, 5, 10)),
        invoice("B", 30_000, date(2026, 6, 15)),
        payment("P1", 50_000, date(2026, 7, 1)),
    ]
    result = compute_indemnity(items, terms(), DESIGN_LIMIT)
    # P1 -> A (oldest): 70,000 - 50,000 = 20,000; then A 20,000, B 20,000; 90% = 36,000
    assert line(result, "A").net == eur(20_000)
    assert result.indemnity == eur("36000.00")


# -- golden: FX ------------------------------------------------------------------------------


def rates(table: dict[tuple[str, date], str]) -> Converter:
    """A fake converter: ``table[(ccy, day)]`` units of ``ccy`` per 1 EUR."""

    def convert(amount: Money, currency: str, on: date) -> Money | None:
        assert currency == "EUR"
        if amount.currency == currency:
            return amount
        rate = table.get((amount.currency, on))
        if rate is None:
            return None
        return Money(amount.amount / Decimal(rate), currency)

    return convert


def test_invoice_converted_at_its_delivery_date() -> None:
    delivered = date(2026, 3, 2)
    convert = rates({("USD", delivered): "1.1000", ("USD", date(2026, 3, 20)): "1.2500"})
    items = [
        invoice("U1", "11000.00", delivered, currency="USD", document_date=date(2026, 3, 20)),
        invoice("E1", "500.00", date(2026, 3, 5)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)), convert=convert)
    # U1: 11,000.00 USD / 1.1000 = 10,000.00 EUR (at the delivery date, not the 1.25 of the
    # document date); total 10,500.00; 90% = 9,450.00
    u1 = line(result, "U1")
    assert u1.open_amount == Money(Decimal("11000.00"), "USD")
    assert u1.open_in_policy == eur("10000.00")
    assert u1.net == eur("10000.00")
    assert u1.insured == eur("10000.00")
    assert result.insured_total == eur("10500.00")
    assert result.indemnity == eur("9450.00")


def test_converted_amounts_are_rounded_to_the_policy_minor_units() -> None:
    delivered = date(2026, 3, 2)
    convert = rates({("USD", delivered): "1.1000"})
    items = [invoice("U1", "1000.00", delivered, currency="USD")]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)), convert=convert)
    # 1,000.00 / 1.1 = 909.0909... -> 909.09; 90% = 818.181 -> 818.18
    assert line(result, "U1").open_in_policy == eur("909.09")
    assert result.indemnity == eur("818.18")


def test_missing_rate_excludes_the_invoice() -> None:
    items = [
        invoice("U1", "11000.00", date(2026, 3, 2), currency="USD"),
        invoice("E1", "500.00", date(2026, 3, 5)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)), convert=rates({}))
    # U1 has no rate: listed, NO_FX_RATE, insured 0; E1 500.00; 90% = 450.00
    u1 = line(result, "U1")
    assert u1.excluded is Exclusion.NO_FX_RATE
    assert u1.open_in_policy is None
    assert u1.net == eur(0)
    assert u1.insured == eur(0)
    assert result.indemnity == eur("450.00")


def test_credit_converted_at_its_document_date_or_reported_when_no_rate() -> None:
    day = date(2026, 4, 1)
    convert = rates({("USD", day): "1.2500"})
    items = [
        invoice("E1", "2000.00", date(2026, 3, 5)),
        credit("CN-USD", "500.00", day, currency="USD"),
        credit("CN-GBP", "100.00", day, currency="GBP"),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)), convert=convert)
    # CN-USD: 500.00 / 1.25 = 400.00 EUR -> E1 2,000.00 - 400.00 = 1,600.00
    # CN-GBP: no rate, left out and reported
    assert line(result, "E1").credits_applied == eur("400.00")
    assert line(result, "E1").net == eur("1600.00")
    assert result.unconverted_credits == ("CN-GBP",)
    assert result.unapplied_credits == eur(0)
    assert result.insured_total == eur("1600.00")


def test_same_currency_only_by_default() -> None:
    items = [invoice("U1", "100.00", JAN1, currency="USD")]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    assert line(result, "U1").excluded is Exclusion.NO_FX_RATE


# -- golden: cover stop ----------------------------------------------------------------------


def test_invoice_delivered_on_the_cover_stop_date_is_excluded() -> None:
    stop = date(2026, 5, 1)
    items = [
        invoice("I1", "1000.00", date(2026, 4, 30)),
        invoice("I2", "2000.00", stop),
        invoice("I3", "3000.00", date(2026, 5, 2)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 1_500)), cover_stop=stop)
    # I1 day before the stop: min(1,000.00, 1,500.00) = 1,000.00
    # I2 on the stop date and I3 after: DELIVERED_AFTER_COVER_STOP, insured 0
    # 90% x 1,000.00 = 900.00
    assert line(result, "I1").excluded is None
    assert line(result, "I1").insured == eur("1000.00")
    assert line(result, "I2").excluded is Exclusion.DELIVERED_AFTER_COVER_STOP
    assert line(result, "I3").excluded is Exclusion.DELIVERED_AFTER_COVER_STOP
    assert line(result, "I2").insured == eur(0)
    assert result.indemnity == eur("900.00")


def test_excluded_lines_take_no_unassigned_credit() -> None:
    stop = date(2026, 5, 1)
    items = [
        invoice("I1", "1000.00", date(2026, 5, 2)),
        invoice("I2", "2000.00", date(2026, 4, 1)),
        payment("P1", "2500.00", date(2026, 6, 1)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 10_000)), cover_stop=stop)
    # P1 -> I2 only (I1 is after the stop): 2,000.00 -> 0, 500.00 unapplied
    assert line(result, "I1").credits_applied == eur(0)
    assert line(result, "I2").net == eur(0)
    assert result.unapplied_credits == eur("500.00")


def test_disputed_wins_over_cover_stop() -> None:
    stop = date(2026, 5, 1)
    items = [invoice("I1", "1000.00", date(2026, 6, 1), disputed=True)]
    result = compute_indemnity(items, terms(), steps((JAN1, 10_000)), cover_stop=stop)
    assert line(result, "I1").excluded is Exclusion.DISPUTED
    assert len(result.disputed) == 1


# -- golden: threshold and deductible --------------------------------------------------------


def test_insured_total_equal_to_the_threshold_is_nil() -> None:
    items = [invoice("I1", "500.00", JAN1)]
    result = compute_indemnity(items, terms(claim_threshold=eur(500)), steps((JAN1, 10_000)))
    # insured 500.00 <= threshold 500.00 -> nil (gross 450.00 still shown)
    assert result.below_threshold
    assert result.gross_indemnity == eur("450.00")
    assert result.indemnity == eur(0)
    assert result.claim_threshold == eur(500)


def test_one_cent_above_the_threshold_is_claimed() -> None:
    items = [invoice("I1", "500.01", JAN1)]
    result = compute_indemnity(items, terms(claim_threshold=eur(500)), steps((JAN1, 10_000)))
    # 500.01 > 500.00; 90% x 500.01 = 450.009 -> 450.01
    assert not result.below_threshold
    assert result.indemnity == eur("450.01")


def test_deductible_is_subtracted_after_the_percentage() -> None:
    items = [invoice("I1", "10000.00", JAN1)]
    result = compute_indemnity(items, terms(deductible=eur(1_000)), steps((JAN1, 100_000)))
    # 90% x 10,000.00 = 9,000.00; less 1,000.00 = 8,000.00
    # (not 90% x (10,000.00 - 1,000.00) = 8,100.00)
    assert result.gross_indemnity == eur("9000.00")
    assert result.deductible == eur(1_000)
    assert result.indemnity == eur("8000.00")


def test_deductible_never_makes_the_indemnity_negative() -> None:
    items = [invoice("I1", "1000.00", JAN1)]
    result = compute_indemnity(items, terms(deductible=eur(5_000)), steps((JAN1, 100_000)))
    # 90% x 1,000.00 = 900.00 - 5,000.00 < 0 -> 0
    assert result.gross_indemnity == eur("900.00")
    assert result.indemnity == eur(0)


# -- details ---------------------------------------------------------------------------------


def test_only_open_invoices_become_lines() -> None:
    items = [
        invoice("PAID", "1000.00", JAN1, open_amount=0),
        invoice("OPEN", "1000.00", JAN1, due_date=date(2026, 3, 1)),
        credit("CN-CLOSED", "0", JAN1),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 100_000)))
    assert [x.number for x in result.lines] == ["OPEN"]
    assert result.lines[0].due_date == date(2026, 3, 1)


def test_delivery_date_falls_back_to_the_document_date_and_ties_sort_by_number() -> None:
    items = [
        invoice("B", "600.00", None, document_date=date(2026, 5, 10)),
        invoice("A", "600.00", date(2026, 5, 10)),
    ]
    result = compute_indemnity(items, terms(), steps((JAN1, 1_000)))
    # Same delivery date, ordered A then B: A 600.00, B min(600.00, 1,000.00 - 600.00) = 400.00
    assert [x.number for x in result.lines] == ["A", "B"]
    assert line(result, "B").delivery_date == date(2026, 5, 10)
    assert line(result, "B").insured == eur("400.00")


def test_no_items_no_indemnity() -> None:
    result = compute_indemnity([], terms(), steps((JAN1, 100_000)))
    assert result.lines == ()
    assert result.insured_total == eur(0)
    assert result.below_threshold
    assert result.indemnity == eur(0)
    assert result.unconverted_credits == ()


def test_no_limit_means_nothing_insured() -> None:
    result = compute_indemnity([invoice("I1", "100.00", JAN1)], terms(), steps())
    assert line(result, "I1").limit_at_delivery == eur(0)
    assert result.insured_total == eur(0)


def test_a_limit_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        compute_indemnity(
            [invoice("I1", "100.00", JAN1)], terms(), steps((JAN1, 1_000), currency="USD")
        )


# -- properties ------------------------------------------------------------------------------

cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)
limits = st.decimals(min_value=Decimal("0"), max_value=Decimal("2000000"), places=2)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
percentages = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2)


@st.composite
def invoices(draw: st.DrawFn, *, disputes: bool = True) -> list[OpenItem]:
    drawn = draw(st.lists(st.tuples(cents, days, st.booleans()), max_size=12))
    return [
        invoice(f"I{n:02d}", amount, day, disputed=disputes and disputed)
        for n, (amount, day, disputed) in enumerate(drawn)
    ]


@st.composite
def credit_items(draw: st.DrawFn, *, named: bool = True) -> list[OpenItem]:
    drawn = draw(
        st.lists(
            st.tuples(cents, days, st.booleans(), st.integers(0, 14), st.booleans()), max_size=6
        )
    )
    return [
        credit(
            f"C{n:02d}",
            amount,
            day,
            kind=ItemKind.PAYMENT if is_payment else ItemKind.CREDIT_NOTE,
            applies_to=f"I{target:02d}" if named and has_target else None,
        )
        for n, (amount, day, is_payment, target, has_target) in enumerate(drawn)
    ]


@st.composite
def step_limits(draw: st.DrawFn) -> list[tuple[date, Decimal]]:
    return draw(st.lists(st.tuples(days, limits), min_size=1, max_size=4))


def assert_exact(money: Money) -> None:
    assert isinstance(money.amount, Decimal)
    assert money.currency == "EUR"
    assert money.amount == money.amount.quantize(Decimal("0.01"))


@given(invoices(), credit_items(), step_limits(), percentages, limits, limits, days | st.none())
def test_invoice_lines_are_consistent(
    inv: list[OpenItem],
    creds: list[OpenItem],
    changes: list[tuple[date, Decimal]],
    pct: Decimal,
    threshold: Decimal,
    deductible: Decimal,
    stop: date | None,
) -> None:
    limit_on = steps(*changes)
    policy = terms(
        insured_percentage=pct, claim_threshold=eur(threshold), deductible=eur(deductible)
    )
    result = compute_indemnity(inv + creds, policy, limit_on, cover_stop=stop)
    assert result.currency == "EUR"
    assert len(result.lines) == len(inv)
    order = [(x.delivery_date, x.number) for x in result.lines]
    assert order == sorted(order)
    running = eur(0)
    for x in result.lines:
        for money in (x.credits_applied, x.net, x.limit_at_delivery, x.insured):
            assert_exact(money)
        assert x.open_in_policy is not None
        assert x.net + x.credits_applied == x.open_in_policy
        assert eur(0) <= x.net
        assert eur(0) <= x.insured <= x.net
        if x.excluded is not None:
            assert x.insured == eur(0)
        else:
            assert x.insured == x.net.min(x.limit_at_delivery - running).max(eur(0))
        running = running + x.insured
    assert result.insured_total == running
    # Every converted credit is either applied to a line or left over.
    applied = sum((x.credits_applied.amount for x in result.lines), Decimal(0))
    credit_sum = sum((c.open_amount.amount for c in creds), Decimal(0))
    assert applied + result.unapplied_credits.amount == credit_sum
    # The insured total never exceeds the highest limit over the insured deliveries.
    insured_limits = [x.limit_at_delivery for x in result.lines if x.excluded is None]
    assert result.insured_total <= max(insured_limits, default=eur(0)).max(eur(0))
    for money in (
        result.insured_total,
        result.gross_indemnity,
        result.indemnity,
        result.unapplied_credits,
    ):
        assert_exact(money)
    assert eur(0) <= result.indemnity <= result.gross_indemnity
    assert result.below_threshold == (result.insured_total <= eur(threshold))
    if result.below_threshold:
        assert result.indemnity == eur(0)


@given(invoices(disputes=False), credit_items(named=False), limits)
def test_constant_limit_without_exclusions_insures_min_of_net_and_limit(
    inv: list[OpenItem], creds: list[OpenItem], limit: Decimal
) -> None:
    result = compute_indemnity(inv + creds, terms(), steps((date(2000, 1, 1), limit)))
    net = sum((x.net.amount for x in result.lines), Decimal(0))
    assert result.insured_total == eur(min(net, limit))
    # Unassigned credits net the invoices as a whole, the rest left over.
    invoiced = sum((i.open_amount.amount for i in inv), Decimal(0))
    credited = sum((c.open_amount.amount for c in creds), Decimal(0))
    assert net == max(Decimal(0), invoiced - credited)
    assert result.unapplied_credits == eur(max(Decimal(0), credited - invoiced))


@given(invoices(disputes=False), limits, percentages)
def test_gross_is_the_rounded_percentage_of_the_insured_total(
    inv: list[OpenItem], limit: Decimal, pct: Decimal
) -> None:
    result = compute_indemnity(inv, terms(insured_percentage=pct), steps((date(2000, 1, 1), limit)))
    exact = result.insured_total.amount * pct / 100
    assert abs(result.gross_indemnity.amount - exact) <= Decimal("0.005")
    assert result.insured_percentage == pct


@given(invoices(disputes=False), days)
def test_a_later_reduction_never_touches_earlier_deliveries(
    inv: list[OpenItem], reduced_on: date
) -> None:
    before = compute_indemnity(inv, terms(), steps((date(2000, 1, 1), 10**7)))
    after = compute_indemnity(inv, terms(), steps((date(2000, 1, 1), 10**7), (reduced_on, 0)))
    for old, new in zip(before.lines, after.lines, strict=True):
        if old.delivery_date < reduced_on:
            assert new.insured == old.insured
        else:
            assert new.insured == eur(0)
