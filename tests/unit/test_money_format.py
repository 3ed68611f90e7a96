"""The one amount formatter: every amount handed out is rounded half-even to its
currency's minor units (JPY 0, EUR 2, KWD 3)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.money import Money, amount_text, minor_units, quantize_minor

CURRENCIES = {"JPY": 0, "EUR": 2, "KWD": 3, "USD": 2, "BHD": 3, "CLP": 0}

amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=6
)


@given(amounts, st.sampled_from(sorted(CURRENCIES)))
def test_quantize_minor_has_the_currencys_decimals(amount: Decimal, currency: str) -> None:
    places = CURRENCIES[currency]
    assert minor_units(currency) == places
    rounded = quantize_minor(amount, currency)
    assert rounded.as_tuple().exponent == -places
    assert abs(rounded - amount) <= Decimal(1).scaleb(-places) / 2
    text = amount_text(amount, currency)
    assert text == format(rounded, "f")
    assert len(text.partition(".")[2]) == places
    assert "E" not in text and "e" not in text


@given(st.integers(min_value=-(10**9), max_value=10**9), st.sampled_from(sorted(CURRENCIES)))
def test_exact_halves_round_to_even(units: int, currency: str) -> None:
    places = CURRENCIES[currency]
    step = Decimal(1).scaleb(-places)
    half = Decimal(units) * step + step / 2  # exactly between two representable amounts
    rounded = quantize_minor(half, currency)
    last_digit = abs(int(rounded.scaleb(places))) % 10
    assert last_digit % 2 == 0
    assert rounded == half.quantize(step, rounding=ROUND_HALF_EVEN)


@given(amounts, st.sampled_from(sorted(CURRENCIES)))
def test_money_rounded_and_text_use_the_one_formatter(amount: Decimal, currency: str) -> None:
    money = Money(amount, currency)
    assert money.rounded().amount == quantize_minor(amount, currency)
    assert money.text() == amount_text(amount, currency)
    assert money.text(grouped=True).replace(",", "") == amount_text(amount, currency)


def test_examples() -> None:
    assert amount_text(Decimal("63000.0000"), "EUR") == "63000.00"
    assert amount_text(Decimal("63000.0000"), "JPY") == "63000"
    assert amount_text(Decimal("63000.0000"), "KWD") == "63000.000"
    assert amount_text(Decimal("1234567.5"), "JPY", grouped=True) == "1,234,568"
    assert amount_text(Decimal("0.125"), "EUR") == "0.12"
    assert amount_text(Decimal("-0.001"), "EUR") == "0.00"  # never "-0.00"
    assert amount_text(Decimal("1E+3"), "EUR") == "1000.00"
    assert str(Money(Decimal("64500.0000"), "EUR")) == "64,500.00 EUR"
