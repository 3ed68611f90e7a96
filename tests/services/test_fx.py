"""FX: the ECB's daily and historical CSV into ``fx_rates`` (exact, idempotent, all or
nothing), and the converter exposure uses (direct, inverse and cross rates, exact to the
last digit; weekend fallback within a maximum age)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money, minor_units
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.fx import rates_in_force
from tci_gateway.ledger.tables import FxRateRow
from tci_gateway.services import fx
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.fx import (
    LedgerConverter,
    RateTable,
    convert_amount,
    import_ecb_csv,
    ledger_converter,
)
from tci_gateway.services.importing import import_buyers, import_open_items

from ..conftest import FIXTURES
from ..erp.conftest import make_policy

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
HIST = FIXTURES / "erp" / "eurofxref-hist.csv"
DAILY = FIXTURES / "erp" / "eurofxref.csv"
FRIDAY, SATURDAY, SUNDAY = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)


def stored(ledger: Ledger) -> dict[tuple[date, str], Decimal]:
    with ledger.unit_of_work() as s:
        return {
            (r.rate_date, r.quote): r.rate
            for r in s.scalars(select(FxRateRow).where(FxRateRow.base == "EUR"))
        }


def count(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(FxRateRow)) or 0


# -- import ---------------------------------------------------------------------------


def test_both_ecb_shapes_import_exactly_and_agree(ledger: Ledger) -> None:
    hist = import_ecb_csv(ledger, HIST, now=NOW)
    assert (hist.dates, hist.rates, hist.skipped) == (6, 60, 18)
    assert (hist.inserted, hist.updated, hist.unchanged) == (60, 0, 0)
    assert (hist.first_date, hist.last_date) == (date(2026, 11, 20), FRIDAY)
    assert {"USD", "GBP", "CYP", "HRK"} <= set(hist.currencies)
    rates = stored(ledger)
    assert rates[(FRIDAY, "USD")] == Decimal("1.1586")
    assert rates[(FRIDAY, "GBP")] == Decimal("0.87715")
    assert rates[(date(2026, 11, 20), "HUF")] == Decimal("387.00")
    assert all(isinstance(r, Decimal) for r in rates.values())
    assert not any(q in ("CYP", "HRK", "BGN") for _, q in rates)  # N/A cells are skipped

    daily = import_ecb_csv(ledger, DAILY, now=NOW)  # "27 November 2026", ", " separators
    assert (daily.dates, daily.rates, daily.first_date) == (1, 10, FRIDAY)
    assert (daily.inserted, daily.updated, daily.unchanged) == (0, 0, 10)


def test_reimport_changes_nothing_and_a_corrected_rate_replaces_the_old(
    ledger: Ledger, tmp_path: Path
) -> None:
    import_ecb_csv(ledger, HIST, now=NOW)
    before = stored(ledger)
    again = import_ecb_csv(ledger, HIST, now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 60)
    assert stored(ledger) == before

    corrected = tmp_path / "eurofxref-hist.csv"
    corrected.write_text(
        HIST.read_text(encoding="utf-8").replace("2026-11-27,1.1586,", "2026-11-27,1.15861,"),
        encoding="utf-8",
    )
    fixed = import_ecb_csv(ledger, corrected, now=NOW)
    assert (fixed.inserted, fixed.updated, fixed.unchanged) == (0, 1, 59)
    assert stored(ledger) == {**before, (FRIDAY, "USD"): Decimal("1.15861")}


GOOD = "2026-11-26,1.1571,0.87655,\n"


@pytest.mark.parametrize(
    ("lines", "row", "column", "reason"),
    [
        ("2026-11-27,1,1586,0.87715,\n", 3, None, "4 fields"),
        ("2026-11-27,1.1586e0,0.87715,\n", 3, "USD", "plain decimal"),
        ("2026-11-27,-1.1586,0.87715,\n", 3, "USD", "plain decimal"),
        ("2026-11-27,0,0.87715,\n", 3, "USD", "not positive"),
        ("2026-11-27,1.158600001,0.87715,\n", 3, "USD", "more than 8 decimal places"),
        ("2026-11-27,,0.87715,\n", 3, "USD", "plain decimal"),
        ("2026-11-27,NaN,0.87715,\n", 3, "USD", "plain decimal"),
        ("2026-11-27,1.1586,n/a,\n", 3, "GBP", "plain decimal"),
        ("2026-02-30,1.1586,0.87715,\n", 3, "Date", "not a calendar date"),
        ("27/11/2026,1.1586,0.87715,\n", 3, "Date", "YYYY-MM-DD"),
        ("27 Novembre 2026,1.1586,0.87715,\n", 3, "Date", "YYYY-MM-DD"),
        ("2026-11-26,1.1586,0.87715,\n", 3, "Date", "appears twice (first at row 2)"),
        ('2026-11-27,"1.1586\n', 3, None, "unreadable CSV"),
    ],
)
def test_bad_cells_are_refused_with_row_and_column_and_nothing_is_written(
    ledger: Ledger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: str,
    row: int,
    column: str | None,
    reason: str,
) -> None:
    monkeypatch.setattr(fx, "CHUNK_DATES", 1)  # the good row is written before the bad one
    path = tmp_path / "rates.csv"
    path.write_text("Date,USD,GBP,\n" + GOOD + lines, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_ecb_csv(ledger, path, now=NOW)
    (error,) = caught.value.errors
    assert (error.source, error.row, error.column) == (str(path), row, column)
    assert reason in error.reason
    assert count(ledger) == 0


@pytest.mark.parametrize(
    ("header", "column", "reason"),
    [
        ("Datum,USD,\n", "Datum", "expected 'Date'"),
        ("Date,USD,usd,\n", "usd", "currency code"),
        ("Date,USD,EUR,\n", "EUR", "currency code"),
        ("Date,USD,USD,\n", "USD", "appears twice"),
    ],
)
def test_bad_headers_are_refused(
    ledger: Ledger, tmp_path: Path, header: str, column: str, reason: str
) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(header + "2026-11-27,1.1586,1.1586,\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_ecb_csv(ledger, path, now=NOW)
    (error,) = caught.value.errors
    assert (error.row, error.column) == (1, column) and reason in error.reason
    assert count(ledger) == 0


def test_unreadable_files_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"Date,USD,\n2026-11-27,1.1586,\n2026-11-26,1\xe9,\n")
    with pytest.raises(InputError, match=r"row 3: bytes that are not utf-8"):
        import_ecb_csv(ledger, latin, now=NOW)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        import_ecb_csv(ledger, empty, now=NOW)
    with pytest.raises(InputError, match="file not found"):
        import_ecb_csv(ledger, tmp_path / "nope.csv", now=NOW)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + DAILY.read_bytes())
    assert import_ecb_csv(ledger, bom, now=NOW).inserted == 10


# -- conversion -----------------------------------------------------------------------


def reference(amount: Decimal, from_rate: Decimal, to_rate: Decimal, places: int) -> Decimal:
    """The exact rational result, rounded half-even once (Python's round of a Fraction)."""
    exact = Fraction(amount) / Fraction(from_rate) * Fraction(to_rate)
    return Decimal(f"{round(exact * 10**places)}e-{places}")


amounts = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
rates = st.integers(0, 8).flatmap(
    lambda p: st.decimals(
        min_value=Decimal(1).scaleb(-p),
        max_value=Decimal("99999"),
        places=p,
        allow_nan=False,
        allow_infinity=False,
    )
)
PAIRS = [("EUR", "USD"), ("USD", "EUR"), ("USD", "GBP"), ("GBP", "JPY"), ("JPY", "KWD")]


@given(amount=amounts, usd=rates, gbp=rates, jpy=rates, kwd=rates, pair=st.sampled_from(PAIRS))
def test_direct_inverse_and_cross_rates_are_exact_to_the_last_digit(
    amount: Decimal, usd: Decimal, gbp: Decimal, jpy: Decimal, kwd: Decimal, pair: tuple[str, str]
) -> None:
    quotes = {"EUR": Decimal(1), "USD": usd, "GBP": gbp, "JPY": jpy, "KWD": kwd}
    table = RateTable({q: [(FRIDAY, r)] for q, r in quotes.items() if q != "EUR"})
    source, target = pair
    converted = LedgerConverter(table)(Money(amount, source), target, FRIDAY)
    assert converted is not None and converted.currency == target
    places = minor_units(target)
    assert converted.amount == reference(amount, quotes[source], quotes[target], places)
    assert converted.amount.as_tuple().exponent == -places
    six = LedgerConverter(table, places=6)(Money(amount, source), target, FRIDAY)
    assert six is not None
    assert six.amount == reference(amount, quotes[source], quotes[target], 6)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("1.25", "0.62"), ("1.27", "0.64"), ("-1.25", "-0.62"), ("0.01", "0.00"), ("-0.01", "0.00")],
)
def test_rounding_is_half_even_once(amount: str, expected: str) -> None:
    result = convert_amount(Decimal(amount), Decimal(2), Decimal(1), 2)
    assert str(result) == expected


def test_weekend_fallback_within_the_maximum_age(ledger: Ledger) -> None:
    import_ecb_csv(ledger, HIST, now=NOW)
    convert = ledger_converter(ledger)
    eur = Money(Decimal("1000.00"), "EUR")
    usd = Money(Decimal("1158.60"), "USD")
    assert convert(eur, "USD", FRIDAY) == Money(Decimal("1158.60"), "USD")
    assert convert(eur, "USD", SUNDAY) == convert(eur, "USD", FRIDAY)  # Friday's rate
    assert convert(usd, "EUR", SATURDAY) == eur  # inverse
    # Cross via EUR, at Thursday's rates: 1000 USD / 1.1571 * 0.87655 = 757.540402...
    assert convert(Money(Decimal("1000.00"), "USD"), "GBP", date(2026, 11, 26)) == Money(
        Decimal("757.54"), "GBP"
    )
    assert convert(eur, "JPY", SUNDAY) == Money(Decimal("181420"), "JPY")
    assert convert(eur, "EUR", date(1999, 1, 1)) == eur  # same currency: no rate needed
    assert convert(eur, "USD", date(2026, 11, 19)) is None  # before the first rate
    assert convert(eur, "USD", date(2026, 12, 5)) is None  # 8 days after the last
    assert convert(eur, "USD", date(2026, 12, 4)) is not None  # 7 days: still usable
    assert convert(eur, "BGN", FRIDAY) is None  # only N/A cells
    assert convert(eur, "XAF", FRIDAY) is None  # no rate at all
    strict = ledger_converter(ledger, max_age_days=1)
    assert strict(eur, "USD", SATURDAY) is not None
    assert strict(eur, "USD", SUNDAY) is None
    assert strict(usd, "GBP", SUNDAY) is None
    recent = ledger_converter(ledger, since=date(2026, 11, 25))
    assert recent(eur, "USD", date(2026, 11, 24)) is None


def test_rates_in_force_list_the_latest_rate_per_currency(ledger: Ledger) -> None:
    import_ecb_csv(ledger, HIST, now=NOW)
    with ledger.unit_of_work() as s:
        all_sunday = rates_in_force(s, SUNDAY)
        usd = rates_in_force(s, date(2026, 11, 22), quote="USD")
        none = rates_in_force(s, SUNDAY, max_age_days=1)
    assert len(all_sunday) == 10 and {r.rate_date for r in all_sunday} == {FRIDAY}
    assert [(r.quote, r.rate_date, r.rate) for r in usd] == [
        ("USD", date(2026, 11, 20), Decimal("1.1502"))
    ]
    assert none == []


def test_the_converter_plugs_into_exposure(ledger: Ledger, tmp_path: Path) -> None:
    policies = {"main": make_policy()}
    buyers = tmp_path / "buyers.csv"
    buyers.write_text("erp_account,name,country\nG1,Acme Imports Ltd,GB\n", encoding="utf-8")
    items = tmp_path / "items.csv"
    items.write_text(
        "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount\n"
        "G1,INV-1,INVOICE,2026-11-26,2026-12-26,GBP,8400.00,8400.00\n"
        "G1,CN-1,CREDIT_NOTE,2026-11-28,,USD,100.00,100.00\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies=policies, now=NOW)
    import_open_items(ledger, items, now=NOW)
    import_ecb_csv(ledger, HIST, now=NOW)
    (row,) = exposure_report(ledger, policies, now=NOW, convert=ledger_converter(ledger))
    # 8400 GBP / 0.87655 = 9583.02435685... EUR; 100 USD / 1.1586 (Friday's) = 86.3110651...
    assert row.exposure.invoices == Money(Decimal("9583.02"), "EUR")
    assert row.exposure.credits == Money(Decimal("86.31"), "EUR")
    assert AlertKind.FX_RATE_MISSING not in row.exposure.alerts
    assert row.exposure.unconverted == ()
