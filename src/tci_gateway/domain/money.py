"""Money: an exact ``Decimal`` amount with an ISO 4217 currency.

Rules (docs/domain.md, section 1):

* amounts are ``Decimal``, never ``float``; a float given to :class:`Money` is refused;
* amounts of different currencies never add up: that raises :class:`CurrencyMismatchError`;
* text is parsed exactly by :func:`parse_amount`, which refuses exponents, thousands
  separators and more decimal places than the currency has;
* every amount the gateway hands out (JSON, tables, filing payloads, packs, exports) goes
  through :func:`quantize_minor` / :func:`amount_text`: rounded half-even to the currency's
  minor units (JPY 0, EUR 2, KWD 3), never ``63000.0000``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import pycountry

# ISO 4217 minor units that differ from the usual 2. pycountry has no minor units.
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    "CLF": 4,
    "UYW": 4,
}

_AMOUNT_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be used."""


class CurrencyMismatchError(MoneyError):
    """Two amounts in different currencies were combined without an FX rate."""


@functools.lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    """True when ``code`` is an active ISO 4217 alphabetic code (upper case)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def check_currency(code: str) -> str:
    """Return ``code`` if it is an ISO 4217 currency, else raise :class:`MoneyError`."""
    if not is_currency(code):
        raise MoneyError(f"unknown currency {code!r} (expected an ISO 4217 code such as EUR)")
    return code


def minor_units(currency: str) -> int:
    """Number of decimal places of ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency, 2)


def quantize_minor(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-even to the minor units of ``currency`` (JPY ``63000``,
    EUR ``63000.00``, KWD ``63000.000``); a negative zero comes out as zero."""
    exp = Decimal(1).scaleb(-minor_units(currency))
    # Explicit rounding: the thread's decimal context may have been changed elsewhere.
    rounded = amount.quantize(exp, rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def amount_text(amount: Decimal, currency: str, *, grouped: bool = False) -> str:
    """The one text form of an amount handed out: :func:`quantize_minor`, plain for
    machines (``63000.00``) or with thousands separators for people (``63,000.00``)."""
    return format(quantize_minor(amount, currency), ",f" if grouped else "f")


def parse_amount(text: str, currency: str, *, allow_negative: bool = False) -> Decimal:
    """Parse ``text`` as an exact amount in ``currency``.

    Accepts ``123``, ``123.4``, ``123.45`` (up to the currency's minor units). Refuses
    exponents (``1e3``), thousands separators (``1,000.00``), a leading ``+``, spaces,
    ``NaN``/``Infinity`` and surplus decimal places, each with a reason.
    """
    raw = text.strip()
    if raw != text:
        raise MoneyError(f"amount {text!r} has surrounding spaces")
    if not raw:
        raise MoneyError("amount is empty")
    if "," in raw or "'" in raw or " " in raw:
        raise MoneyError(f"amount {text!r} has a thousands separator or decimal comma")
    if not _AMOUNT_RE.match(raw):
        raise MoneyError(f"amount {text!r} is not a plain decimal number such as 1234.56")
    value = Decimal(raw)
    if raw.startswith("-") and not allow_negative:
        raise MoneyError(f"amount {text!r} is negative")
    places = max(0, -int(value.as_tuple().exponent))
    if places > minor_units(currency):
        raise MoneyError(
            f"amount {text!r} has {places} decimal places; {currency} has {minor_units(currency)}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise MoneyError(f"Money needs a Decimal amount, got {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise MoneyError(f"Money amount must be finite, got {self.amount}")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a string, int or Decimal (never a float)."""
        if isinstance(amount, float):
            raise MoneyError("float amounts are not accepted; pass a string or Decimal")
        try:
            return cls(Decimal(amount), currency)
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {amount!r}") from exc

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatchError(
                f"cannot combine {self.currency} and {other.currency} without an FX rate"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: Decimal) -> Money:
        """Multiply by an exact factor (a percentage as a fraction, an FX rate)."""
        if not isinstance(factor, Decimal):
            raise MoneyError("factor must be a Decimal")
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        return self if self >= other else other

    def is_zero(self) -> bool:
        return self.amount == 0

    def rounded(self) -> Money:
        """Rounded half-even to the currency's minor units (for display and filing)."""
        return Money(quantize_minor(self.amount, self.currency), self.currency)

    def text(self, *, grouped: bool = False) -> str:
        """The amount as :func:`amount_text` gives it, without the currency."""
        return amount_text(self.amount, self.currency, grouped=grouped)

    def __str__(self) -> str:
        return f"{self.text(grouped=True)} {self.currency}"


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum ``amounts``, all in ``currency``; the empty sum is zero."""
    result = Money.zero(currency)
    for item in amounts:
        result = result + item
    return result
