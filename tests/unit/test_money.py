"""Money: exact Decimal amounts with a currency (docs/domain.md, section 1)."""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.money import (
    CurrencyMismatchError,
    Money,
    MoneyError,
    check_currency,
    is_currency,
    minor_units,
    parse_amount,
    total,
)

amounts = st.decimals(
    places=2,
    allow_nan=False,
    allow_infinity=False,
    min_value=Decimal("-1000000000000"),
    max_value=Decimal("1000000000000"),
)
non_negative = st.decimals(
    places=2,
    allow_nan=False,
    allow_infinity=False,
    min_value=Decimal("0"),
    max_value=Decimal("1000000000000"),
)


def eur(value: str | Decimal) -> Money:
    return Money(Decimal(value), "EUR")


# -- construction -------------------------------------------------------------------


def test_money_refuses_a_float_amount() -> None:
    with pytest.raises(MoneyError, match="Decimal"):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="float"):
        Money.of(1.5, "EUR")  # type: ignore[arg-type]


def test_money_refuses_an_int_amount_given_directly() -> None:
    with pytest.raises(MoneyError):
        Money(5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_money_refuses_non_finite_amounts(value: str) -> None:
    with pytest.raises(MoneyError, match="finite"):
        Money(Decimal(value), "EUR")
    with pytest.raises(MoneyError):
        Money.of(value, "EUR")


@pytest.mark.parametrize("code", ["eur", "EURO", "XXY", "", "E U"])
def test_money_refuses_unknown_currencies(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(MoneyError, match="currency"):
        Money(Decimal(1), code)
    with pytest.raises(MoneyError):
        check_currency(code)


def test_money_of_builds_from_str_int_and_decimal() -> None:
    assert Money.of("12.34", "EUR").amount == Decimal("12.34")
    assert Money.of(12, "EUR").amount == Decimal(12)
    assert Money.of(Decimal("0.1"), "USD") == Money(Decimal("0.1"), "USD")
    with pytest.raises(MoneyError, match="not an amount"):
        Money.of("twelve", "EUR")


def test_minor_units_follow_iso_4217() -> None:
    assert minor_units("EUR") == 2
    assert minor_units("JPY") == 0
    assert minor_units("KRW") == 0
    assert minor_units("KWD") == 3
    assert minor_units("BHD") == 3
    assert minor_units("CLF") == 4


# -- currency mismatch -------------------------------------------------------------------

MIXING: list[Callable[[Money, Money], Any]] = [
    operator.add,
    operator.sub,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    Money.min,
    Money.max,
]


@pytest.mark.parametrize("op", MIXING, ids=lambda op: getattr(op, "__name__", str(op)))
def test_amounts_in_different_currencies_never_combine(op: Callable[[Money, Money], Any]) -> None:
    with pytest.raises(CurrencyMismatchError, match="EUR and USD"):
        op(eur("1"), Money(Decimal(1), "USD"))


def test_total_refuses_a_foreign_item() -> None:
    with pytest.raises(CurrencyMismatchError):
        total([eur("1"), Money(Decimal(1), "GBP")], "EUR")


def test_a_currency_mismatch_is_caught_as_a_money_error_and_a_value_error() -> None:
    # Callers (the import, the exposure report) catch MoneyError or ValueError, not the leaf.
    with pytest.raises(MoneyError, match="GBP"):
        total([eur("1"), Money(Decimal(1), "GBP")], "EUR")
    with pytest.raises(ValueError, match="GBP"):
        eur("1") + Money(Decimal(1), "GBP")


def test_same_currency_arithmetic() -> None:
    assert eur("1.10") + eur("2.20") == eur("3.30")
    assert eur("1.10") - eur("2.20") == eur("-1.10")
    assert -eur("5") == eur("-5")
    assert eur("2").times(Decimal("0.9")) == eur("1.8")
    assert eur("1") < eur("2") <= eur("2") and eur("3") > eur("2") >= eur("2")
    assert eur("1").min(eur("2")) == eur("1")
    assert eur("1").max(eur("2")) == eur("2")
    assert eur("0.00").is_zero() and not eur("0.01").is_zero()


def test_times_refuses_a_float_factor() -> None:
    with pytest.raises(MoneyError, match="Decimal"):
        eur("1").times(0.9)  # type: ignore[arg-type]


def test_total_of_nothing_is_zero_in_that_currency() -> None:
    assert total([], "JPY") == Money.zero("JPY")


def test_str_rounds_and_groups() -> None:
    assert str(eur("1234567.891")) == "1,234,567.89 EUR"
    assert str(Money(Decimal("1234"), "JPY")) == "1,234 JPY"


# -- parse_amount -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("0", "EUR", Decimal("0")),
        ("12", "EUR", Decimal("12")),
        ("12.3", "EUR", Decimal("12.3")),
        ("12.34", "EUR", Decimal("12.34")),
        ("0.05", "EUR", Decimal("0.05")),
        ("1234", "JPY", Decimal("1234")),
        ("1.234", "KWD", Decimal("1.234")),
        ("1000000000000.00", "USD", Decimal("1000000000000")),
    ],
)
def test_parse_amount_accepts_plain_decimals(text: str, currency: str, expected: Decimal) -> None:
    parsed = parse_amount(text, currency)
    assert isinstance(parsed, Decimal)
    assert parsed == expected
    # exactly what was written, trailing zeros included
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "currency", "reason"),
    [
        ("1,000.00", "EUR", "thousands separator"),
        ("1'000.00", "CHF", "thousands separator"),
        ("12,5", "EUR", "decimal comma"),
        ("1 000", "EUR", "thousands separator"),
        ("1e3", "EUR", "plain decimal"),
        ("1E3", "EUR", "plain decimal"),
        ("+5", "EUR", "plain decimal"),
        (" 5", "EUR", "spaces"),
        ("5 ", "EUR", "spaces"),
        ("5\n", "EUR", "spaces"),
        ("12.345", "EUR", "3 decimal places; EUR has 2"),
        ("12.5", "JPY", "1 decimal places; JPY has 0"),
        ("1.2345", "KWD", "4 decimal places; KWD has 3"),
        ("NaN", "EUR", "plain decimal"),
        ("Infinity", "EUR", "plain decimal"),
        ("-Infinity", "EUR", "plain decimal"),
        ("", "EUR", "empty"),
        ("-5", "EUR", "negative"),
        ("-0.01", "EUR", "negative"),
        ("12.", "EUR", "plain decimal"),
        (".5", "EUR", "plain decimal"),
        ("007", "EUR", "plain decimal"),
        ("0x1F", "EUR", "plain decimal"),
        ("1_000", "EUR", "plain decimal"),
        ("\u0661\u0662", "EUR", "plain decimal"),  # Arabic-Indic digits
        ("\uff11\uff12", "EUR", "plain decimal"),  # full-width digits
    ],
)
def test_parse_amount_refuses_with_a_reason(text: str, currency: str, reason: str) -> None:
    with pytest.raises(MoneyError) as info:
        parse_amount(text, currency)
    assert reason in str(info.value)


def test_parse_amount_accepts_negatives_only_when_allowed() -> None:
    assert parse_amount("-5", "EUR", allow_negative=True) == Decimal("-5")
    assert parse_amount("-12.34", "EUR", allow_negative=True) == Decimal("-12.34")
    with pytest.raises(MoneyError, match="decimal places"):
        parse_amount("-12.345", "EUR", allow_negative=True)
    with pytest.raises(MoneyError, match="plain decimal"):
        parse_amount("--5", "EUR", allow_negative=True)


# -- properties ------------------------------------------------------------------------------


@given(non_negative)
def test_parse_amount_round_trips_two_place_decimals(value: Decimal) -> None:
    assert parse_amount(str(value), "EUR") == value


@given(amounts)
def test_parse_amount_round_trips_signed_decimals(value: Decimal) -> None:
    assert parse_amount(str(value), "EUR", allow_negative=True) == value


@given(amounts, amounts, amounts)
def test_addition_is_associative_and_commutative(a: Decimal, b: Decimal, c: Decimal) -> None:
    x, y, z = eur(a), eur(b), eur(c)
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x
    assert (x + y) - y == x
    assert x + Money.zero("EUR") == x


@given(st.lists(amounts, max_size=30))
def test_total_equals_the_sum(values: list[Decimal]) -> None:
    result = total((eur(v) for v in values), "EUR")
    assert result.currency == "EUR"
    assert result.amount == sum(values, Decimal(0))


@given(amounts, amounts)
def test_ordering_matches_the_amounts(a: Decimal, b: Decimal) -> None:
    assert (eur(a) < eur(b)) == (a < b)
    assert eur(a).min(eur(b)).amount == min(a, b)
    assert eur(a).max(eur(b)).amount == max(a, b)


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
)
def test_rounded_is_half_even(cents: int, third_digit: str) -> None:
    # An amount with one digit too many: x.yz5 goes to the even neighbour.
    value = Decimal(cents).scaleb(-2) + Decimal(third_digit).scaleb(-3).copy_sign(
        Decimal(cents or 1)
    )
    expected = value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)
    assert eur(value).rounded() == eur(expected)


def test_rounded_half_even_examples() -> None:
    assert eur("0.125").rounded().amount == Decimal("0.12")
    assert eur("0.135").rounded().amount == Decimal("0.14")
    assert eur("-0.125").rounded().amount == Decimal("-0.12")
    assert Money(Decimal("2.5"), "JPY").rounded().amount == Decimal("2")
    assert Money(Decimal("3.5"), "JPY").rounded().amount == Decimal("4")
    assert Money(Decimal("1.0005"), "KWD").rounded().amount == Decimal("1.000")


def test_rounded_ignores_the_thread_decimal_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.rounding = decimal.ROUND_HALF_UP
        assert eur("0.125").rounded().amount == Decimal("0.12")
