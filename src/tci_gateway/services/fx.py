"""FX reference rates: import the ECB's CSV files, convert amounts at dated rates.

:func:`import_ecb_csv` reads both shapes the ECB publishes, the daily ``eurofxref.csv``
(``Date, USD, JPY, ...`` and one row dated ``27 November 2026``) and the historical
``eurofxref-hist.csv`` (ISO dates, ``N/A`` where a currency has no rate, a trailing
comma on every line), into ``fx_rates`` with base EUR. Rates are exact decimals taken from
the text, never floats. The import is all or nothing and idempotent: the same file again
changes nothing, a corrected rate for a date replaces the stored one.

:func:`ledger_converter` gives the :class:`~tci_gateway.domain.exposure.Converter` that
exposure uses::

    exposure_report(ledger, policies, now=now, convert=ledger_converter(ledger))
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from tci_gateway.domain.money import Money, minor_units
from tci_gateway.erp.reader import UndecodableError, decode_lines, file_sha256
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import fx as fx_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import record_import

BASE = "EUR"
ECB_SOURCE = "ECB"
MAX_FX_BYTES = 64 * 1024**2
MAX_ERRORS = 1000
CHUNK_DATES = 500
RATE_SCALE = 8  # fx_rates.rate is ExactDecimal(scale=8)
MISSING = "N/A"

_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}  # not locale
_LONG_DATE_RE = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RATE_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
_CODE_RE = re.compile(r"^[A-Z]{3}$")


@dataclass
class FxImportReport:
    """What an ECB file import found and did (``rates`` counts cells with a rate)."""

    source: str
    sha256: str
    dates: int = 0
    rates: int = 0
    skipped: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    currencies: list[str] = field(default_factory=list)
    first_date: date | None = None
    last_date: date | None = None

    @property
    def ok(self) -> bool:
        """The one judgement of a rates import: always true for a report returned, as a
        file that cannot be read is refused whole (``N/A`` cells are skipped, not errors)."""
        return True


def parse_ecb_date(text: str) -> date:
    """``2026-11-27`` (historical file) or ``27 November 2026`` (daily file)."""
    try:
        if _ISO_DATE_RE.match(text):
            return date.fromisoformat(text)
        match = _LONG_DATE_RE.match(text)
        if match and match.group(2).lower() in _MONTHS:
            day, month, year = match.groups()
            return date(int(year), _MONTHS[month.lower()], int(day))
    except ValueError:
        raise ValueError(f"date {text!r} is not a calendar date") from None
    raise ValueError(f"date {text!r} is neither YYYY-MM-DD nor like '27 November 2026'")


def parse_rate(text: str) -> Decimal:
    """A reference rate written as a plain positive decimal (``1.0856``), exactly."""
    if not _RATE_RE.match(text):
        raise ValueError(f"rate {text!r} is not a plain decimal number such as 1.0856")
    rate = Decimal(text)
    if rate <= 0:
        raise ValueError(f"rate {text!r} is not positive")
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_SCALE:
        raise ValueError(f"rate {text!r} has more than {RATE_SCALE} decimal places")
    if rate.adjusted() >= 11:
        raise ValueError(f"rate {text!r} is too large")
    return rate


def _header(fields: list[str], source: str) -> tuple[list[str], list[RecordError]]:
    names = [f.strip() for f in fields]
    while names and not names[-1]:
        names.pop()  # the ECB ends every line with a delimiter
    errors = []
    if not names or names[0] != "Date":
        errors.append(RecordError(source, 1, names[0] if names else None, "expected 'Date'"))
    seen: set[str] = set()
    for code in names[1:]:
        if not _CODE_RE.match(code) or code == BASE:
            errors.append(RecordError(source, 1, code, "not a currency code such as USD"))
        elif code in seen:
            errors.append(RecordError(source, 1, code, "column appears twice"))
        seen.add(code)
    return names, errors


def _ecb_rows(
    path: Path, source: str, report: FxImportReport
) -> Iterator[tuple[int, date, list[fx_repo.NewRate]] | RecordError]:
    row = 1
    with path.open("rb") as handle:
        try:
            reader = csv.reader(decode_lines(handle), skipinitialspace=True, strict=True)
            first = next(reader, None)
            if first is None:
                yield RecordError(source, None, None, "the file is empty")
                return
            header, errors = _header(first, source)
            if errors:
                yield from errors
                return
            report.currencies = header[1:]
            for row, fields in enumerate(reader, start=2):
                cells = [f.strip() for f in fields]
                if not any(cells):
                    continue
                while len(cells) > len(header) and not cells[-1]:
                    cells.pop()  # the trailing delimiter
                if len(cells) != len(header):
                    reason = f"{len(cells)} fields where the header has {len(header)}"
                    yield RecordError(source, row, None, reason)
                    continue
                yield from _ecb_row(row, header, cells, source, report)
        except UndecodableError as exc:
            yield RecordError(source, exc.line, None, exc.reason)
        except csv.Error as exc:
            yield RecordError(source, row + 1, None, f"unreadable CSV: {exc}")


def _ecb_row(
    row: int, header: list[str], cells: list[str], source: str, report: FxImportReport
) -> Iterator[tuple[int, date, list[fx_repo.NewRate]] | RecordError]:
    try:
        day = parse_ecb_date(cells[0])
    except ValueError as exc:
        yield RecordError(source, row, "Date", str(exc))
        return
    rates, bad = [], False
    for code, text in zip(header[1:], cells[1:], strict=False):
        if text == MISSING:
            report.skipped += 1
            continue
        try:
            rates.append(fx_repo.NewRate(day, code, parse_rate(text)))
        except ValueError as exc:
            bad = True
            yield RecordError(source, row, code, str(exc))
    if not bad:
        yield row, day, rates


def import_ecb_csv(ledger: Ledger, path: Path, *, now: datetime) -> FxImportReport:
    """Import an ECB reference-rate CSV (daily or historical) into ``fx_rates``.

    Raises :class:`InputError` listing every bad cell (file, row, column, reason) and
    writes nothing when there is one.
    """
    source = str(path)
    report = FxImportReport(source, file_sha256(path) if path.is_file() else "")
    if not path.is_file():
        raise InputError([RecordError(source, None, None, "file not found")])
    if path.stat().st_size > MAX_FX_BYTES:
        reason = f"file is {path.stat().st_size} bytes; the limit is {MAX_FX_BYTES}"
        raise InputError([RecordError(source, None, None, reason)])
    errors: list[RecordError] = []
    seen: dict[date, int] = {}
    pending: list[fx_repo.NewRate] = []
    with ledger.unit_of_work() as session:

        def flush() -> None:
            if pending and not errors:
                counts = fx_repo.upsert_rates(session, BASE, pending, source=ECB_SOURCE, now=now)
                report.inserted += counts[0]
                report.updated += counts[1]
                report.unchanged += counts[2]
            pending.clear()

        for item in _ecb_rows(path, source, report):
            if isinstance(item, RecordError):
                if len(errors) < MAX_ERRORS:
                    errors.append(item)
                continue
            row, day, rates = item
            if day in seen:
                reason = f"date {day} appears twice (first at row {seen[day]})"
                errors.append(RecordError(source, row, "Date", reason))
                del errors[MAX_ERRORS:]
                continue
            seen[day] = row
            report.dates += 1
            report.rates += len(rates)
            report.first_date = min(report.first_date or day, day)
            report.last_date = max(report.last_date or day, day)
            pending.extend(rates)
            if len(seen) % CHUNK_DATES == 0:
                flush()
        flush()
        if errors:
            raise InputError(errors)
        record_import(
            session,
            kind="fx_rates",
            source=source,
            sha256=report.sha256,
            rows=report.dates,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            now=now,
        )
    return report


# -- conversion -----------------------------------------------------------------------


def convert_amount(amount: Decimal, from_rate: Decimal, to_rate: Decimal, places: int) -> Decimal:
    """``amount / from_rate * to_rate`` rounded half-even to ``places`` decimals, computed
    exactly in integers (no intermediate rounding, no dependence on the decimal context)."""
    numerator, denominator, shift = 1, 1, places
    for value, into_numerator in ((amount, True), (to_rate, True), (from_rate, False)):
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int), "finite decimals only"
        mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        if into_numerator:
            numerator, shift = numerator * mantissa, shift + exponent
        else:
            denominator, shift = denominator * mantissa, shift - exponent
    if shift >= 0:
        numerator *= 10**shift
    else:
        denominator *= 10**-shift
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator), abs(denominator))
    if 2 * remainder > abs(denominator) or (2 * remainder == abs(denominator) and quotient % 2):
        quotient += 1
    digits_out = tuple(int(c) for c in str(quotient))
    return Decimal((int(negative and quotient != 0), digits_out, -places))


class RateTable:
    """Reference rates of one base currency in memory: per quote, dates and rates in
    date order. :meth:`rate` finds the rate of a date or the latest earlier one."""

    def __init__(self, rates: Mapping[str, Sequence[tuple[date, Decimal]]], base: str = BASE):
        self.base = base
        self._dates = {q: [d for d, _ in sorted(rs)] for q, rs in rates.items()}
        self._rates = {q: [r for _, r in sorted(rs)] for q, rs in rates.items()}

    def rate(self, currency: str, on: date, max_age_days: int) -> Decimal | None:
        """1 base = this many ``currency`` on ``on``, or ``None`` when no rate is at most
        ``max_age_days`` old."""
        if currency == self.base:
            return Decimal(1)
        dates = self._dates.get(currency)
        if not dates:
            return None
        i = bisect_right(dates, on)
        if i == 0 or (on - dates[i - 1]).days > max_age_days:
            return None
        return self._rates[currency][i - 1]


class LedgerConverter:
    """A :class:`~tci_gateway.domain.exposure.Converter` over a :class:`RateTable`.

    Rates are quoted against EUR, so a cross rate goes through EUR (USD -> GBP is
    ``amount / EURUSD * EURGBP``). The result is rounded once, half-even, to ``places``
    decimals (``None``: the target currency's minor units).
    """

    def __init__(self, table: RateTable, *, max_age_days: int = 7, places: int | None = None):
        self.table, self.max_age_days, self.places = table, max_age_days, places

    def __call__(self, amount: Money, currency: str, on: date) -> Money | None:
        if amount.currency == currency:
            return amount
        from_rate = self.table.rate(amount.currency, on, self.max_age_days)
        to_rate = self.table.rate(currency, on, self.max_age_days)
        if from_rate is None or to_rate is None:
            return None
        places = minor_units(currency) if self.places is None else self.places
        return Money(convert_amount(amount.amount, from_rate, to_rate, places), currency)


def ledger_converter(
    ledger: Ledger,
    *,
    max_age_days: int = 7,
    places: int | None = None,
    since: date | None = None,
) -> LedgerConverter:
    """A converter over the ledger's EUR reference rates (on or after ``since``), read
    once, now: build it before opening a unit of work (on SQLite a second transaction
    would wait for the first). An amount is converted at the rate of the given date, or
    the latest earlier one at most ``max_age_days`` old (no ECB rates on weekends and
    holidays); ``None`` when there is none."""
    rates: dict[str, list[tuple[date, Decimal]]] = {}
    with ledger.unit_of_work() as session:
        for quote, rate_date, rate in fx_repo.iter_rates(session, BASE, since=since):
            rates.setdefault(quote, []).append((rate_date, rate))
    return LedgerConverter(RateTable(rates), max_age_days=max_age_days, places=places)
