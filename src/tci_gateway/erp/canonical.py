"""The canonical ERP formats for buyers and open items (documented in the README).

Each parser turns a :class:`RawRecord` into a validated record or the list of
:class:`RecordError` explaining every bad cell of that row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from tci_gateway.domain.identifiers import (
    REGISTRATION_SCHEME_BY_COUNTRY,
    Identifier,
    IdentifierError,
    Scheme,
    parse_identifier,
)
from tci_gateway.domain.money import (
    Money,
    MoneyError,
    check_currency,
    is_currency,
    minor_units,
    parse_amount,
)
from tci_gateway.domain.parties import Buyer, ErpAccount, country_code
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.erp.reader import Columns, RawRecord, cell_text
from tci_gateway.errors import RecordError

BUYER_COLUMNS = Columns(
    required=("erp_account", "name", "country"),
    optional=("policy", "lei", "duns", "vat", "registration_number", "insurer_ids", "tier"),
)
OPEN_ITEM_COLUMNS = Columns(
    required=(
        "erp_account",
        "document_number",
        "kind",
        "document_date",
        "currency",
        "amount",
        "open_amount",
    ),
    optional=("delivery_date", "due_date", "disputed", "applies_to", "company_code"),
)

DEFAULT_SOURCE = "default"
"""The import source of items imported without one (``--source``, a profile's ``source``)."""

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")
_PLAIN_AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")  # parse_amount's, not negative
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}

T = TypeVar("T")


@dataclass(frozen=True)
class BuyerRecord:
    """One row of a buyers file: the ERP account and the legal entity it belongs to."""

    row: int
    account: ErpAccount
    buyer: Buyer
    tier: str | None = None

    @property
    def erp_account(self) -> str:
        return self.account.account

    @property
    def policy(self) -> str | None:
        return self.account.policy_key

    @property
    def identifiers(self) -> frozenset[Identifier]:
        return self.buyer.identifiers


@dataclass(frozen=True)
class OpenItemRecord:
    """One row of an open-items file, with the ERP company code it was booked in (the
    scope a complete export closes within), when the file says."""

    row: int
    item: OpenItem
    company_code: str | None = None


class _Row:
    """Collects the errors of one row while its cells are parsed."""

    def __init__(self, raw: RawRecord, source: str) -> None:
        self.raw, self.source = raw, source
        self.errors: list[RecordError] = []

    def text(self, column: str, *, required: bool = False, max_len: int = 300) -> str:
        raw = self.raw.values.get(column)
        if type(raw) is not str:  # CSV cells are str already: the common path stays short
            try:
                raw = cell_text(raw)
            except ValueError as exc:
                self.fail(column, str(exc))
                return ""
        value = raw.strip()
        if not value:
            if required:
                self.fail(column, "is empty")
        elif len(value) > max_len:
            self.fail(column, f"is longer than {max_len} characters")
        elif not (value.isascii() and value.isprintable()) and not _KEY_RE.match(value):
            self.fail(column, "contains control characters")
        return value

    def parse(self, column: str, fn: Callable[[str], T], *, required: bool = True) -> T | None:
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            return fn(value)
        except (ValueError, MoneyError, IdentifierError) as exc:
            self.fail(column, str(exc))
            return None

    def fail(self, column: str | None, reason: str) -> None:
        self.errors.append(RecordError(self.source, self.raw.row, column, reason))


def check_source(name: str) -> str:
    """An import source name (``sap-1000``): 1-64 letters, digits, ``.``, ``_``, ``-``,
    starting with a letter or digit. Raises :class:`ValueError`."""
    if not _SOURCE_RE.match(name):
        raise ValueError(
            f"source {name!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_date(text: str) -> date:
    if not _DATE_RE.match(text):
        raise ValueError(f"date {text!r} is not in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a calendar date") from exc


def parse_country(text: str) -> str:
    return country_code(text)


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def parse_insurer_ids(text: str) -> list[Identifier]:
    """``atradius:12345;coface:ABC`` -> insurer buyer ids."""
    ids = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        insurer, sep, value = part.partition(":")
        if not sep or not insurer.strip():
            raise ValueError(f"{part!r} is not in the form insurer:buyer-id")
        ids.append(parse_identifier(Scheme.INSURER, value.strip(), insurer.strip()))
    return ids


def parse_buyer(raw: RawRecord, source: str) -> BuyerRecord | list[RecordError]:
    row = _Row(raw, source)
    account = row.text("erp_account", required=True, max_len=64)
    name = row.text("name", required=True)
    country = row.parse("country", parse_country)
    policy = row.text("policy", max_len=64) or None
    tier = (row.text("tier", max_len=16) or "").lower() or None
    if tier is not None and not _TIER_RE.match(tier):
        row.fail("tier", f"tier {tier!r} must be a word such as strategic, growth or watch")
    identifiers: list[Identifier] = []
    for column, scheme in (("lei", Scheme.LEI), ("duns", Scheme.DUNS), ("vat", Scheme.VAT)):
        ident = row.parse(column, partial(parse_identifier, scheme), required=False)
        if ident:
            identifiers.append(ident)
    registration = row.text("registration_number", max_len=64)
    if registration and country:
        national = REGISTRATION_SCHEME_BY_COUNTRY.get(country)
        if national is None:
            known = ", ".join(sorted(REGISTRATION_SCHEME_BY_COUNTRY))
            row.fail(
                "registration_number",
                f"no national registration scheme is known for {country} (known: {known}); "
                "use lei, duns or vat",
            )
        else:
            ident = row.parse("registration_number", partial(parse_identifier, national))
            if ident:
                identifiers.append(ident)
    identifiers.extend(row.parse("insurer_ids", parse_insurer_ids, required=False) or [])
    if row.errors or country is None:
        return row.errors
    return BuyerRecord(
        raw.row,
        ErpAccount(account, name, policy),
        Buyer(name, country, frozenset(identifiers)),
        tier,
    )


_KINDS = {k.value: k for k in ItemKind}


def _kind(text: str) -> ItemKind:
    kind = _KINDS.get(text.upper())
    if kind is None:
        known = ", ".join(_KINDS)
        raise ValueError(f"kind {text!r} is not one of {known}")
    return kind


ParsedItem = tuple[
    int,
    str,
    str,
    str,
    str,
    Decimal,
    Decimal,
    date,
    date | None,
    date | None,
    bool,
    str | None,
    str | None,
]
"""One valid open-items row as a plain tuple (the import's fast path): ``(row,
erp_account, document_number, kind, currency, amount, open_amount, document_date,
delivery_date, due_date, disputed, applies_to, company_code)``; ``kind`` is the
:class:`ItemKind` value, ``delivery_date`` already defaulted as :class:`OpenItem` has it."""

AMOUNT_DIGITS = 15
"""Digits an amount may have before the point: what the ledger's ``NUMERIC(19, 4)`` holds."""

_INVOICE = ItemKind.INVOICE.value
_DATES: dict[str, date] = {}
_CURRENCIES: set[str] = set()


def _fast_date(text: str) -> date | None:
    if not _DATE_RE.match(text):
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        return None
    if len(_DATES) >= 4096:  # a few thousand distinct dates at most: memory stays flat
        _DATES.clear()
    _DATES[text] = found
    return found


def _fast_amount(text: str, currency: str) -> Decimal | None:
    if not _PLAIN_AMOUNT_RE.match(text):
        return None
    dot = text.find(".")
    if dot >= 0:
        if len(text) - dot - 1 > minor_units(currency):
            return None
    else:
        dot = len(text)
    return None if dot > AMOUNT_DIGITS else Decimal(text)


def _fast_open_item(raw: RawRecord) -> ParsedItem | None:
    """``raw`` parsed when every cell is plainly valid text, else ``None`` (the caller then
    takes :func:`_parse_open_item`, which explains what is wrong). Accepts exactly what
    that accepts, with the same values; only quicker, for the rows of a good file."""
    get = raw.values.get
    try:
        account, number, kind_text, doc, delivery, due, disputed_text, applies, code = [
            get(column, "").strip() for column in _OPEN_ITEM_CELLS
        ]
        currency, amount_text, open_text = [get(column, "").strip() for column in _AMOUNT_CELLS]
    except AttributeError:
        return None  # a JSON number, boolean or null: the careful path
    if not (0 < len(account) <= 64 and 0 < len(number) <= 64):
        return None
    if len(applies) > 64 or len(code) > 32:
        return None
    texts = account + number + applies + code
    if not (texts.isascii() and texts.isprintable()):
        return None
    kind = _KINDS.get(kind_text) or _KINDS.get(kind_text.upper())
    if kind is None or not kind_text:
        return None
    if currency not in _CURRENCIES:
        if not currency or not is_currency(currency):
            return None
        _CURRENCIES.add(currency)
    document_date = _DATES.get(doc) or (_fast_date(doc) if doc else None)
    if document_date is None:
        return None
    delivery_date = None
    if delivery:
        delivery_date = _DATES.get(delivery) or _fast_date(delivery)
        if delivery_date is None:
            return None
    due_date = None
    if due:
        due_date = _DATES.get(due) or _fast_date(due)
        if due_date is None:
            return None
    elif kind is ItemKind.INVOICE:
        return None
    if disputed_text in _FALSE:
        disputed = False
    else:
        lowered = disputed_text.lower()
        if lowered in _FALSE:
            disputed = False
        elif lowered in _TRUE and kind is ItemKind.INVOICE:
            disputed = True
        else:
            return None
    amount = _fast_amount(amount_text, currency)
    open_amount = _fast_amount(open_text, currency)
    if amount is None or open_amount is None or open_amount > amount:
        return None
    if delivery_date is None and kind is ItemKind.INVOICE:
        delivery_date = document_date
    return (
        raw.row,
        account,
        number,
        kind.value,
        currency,
        amount,
        open_amount,
        document_date,
        delivery_date,
        due_date,
        disputed,
        applies or None,
        code or None,
    )


_OPEN_ITEM_CELLS = (
    "erp_account",
    "document_number",
    "kind",
    "document_date",
    "delivery_date",
    "due_date",
    "disputed",
    "applies_to",
    "company_code",
)
_AMOUNT_CELLS = ("currency", "amount", "open_amount")


def _too_large(value: Decimal | None) -> bool:
    return value is not None and not value.is_zero() and value.adjusted() >= AMOUNT_DIGITS


def _parse_open_item(raw: RawRecord, source: str) -> ParsedItem | list[RecordError]:
    row = _Row(raw, source)
    account = row.text("erp_account", required=True, max_len=64)
    number = row.text("document_number", required=True, max_len=64)
    kind = row.parse("kind", _kind)
    currency = row.parse("currency", check_currency)
    document_date = row.parse("document_date", parse_date)
    delivery_date = row.parse("delivery_date", parse_date, required=False)
    due_date = row.parse("due_date", parse_date, required=kind is ItemKind.INVOICE)
    disputed = row.parse("disputed", parse_bool, required=False) or False
    applies_to = row.text("applies_to", max_len=64) or None
    company_code = row.text("company_code", max_len=32) or None
    amount: Any = None
    open_amount: Any = None
    if currency:
        amount = row.parse("amount", lambda v: parse_amount(v, currency))
        open_amount = row.parse("open_amount", lambda v: parse_amount(v, currency))
    for column, value in (("amount", amount), ("open_amount", open_amount)):
        if _too_large(value):
            row.fail(
                column, f"amount {value} has more than {AMOUNT_DIGITS} digits before the point"
            )
    if amount is not None and open_amount is not None and open_amount > amount:
        row.fail("open_amount", f"open amount {open_amount} is more than the amount {amount}")
    if disputed and kind is not ItemKind.INVOICE:
        row.fail("disputed", "only an invoice can be disputed")
    if row.errors or None in (kind, currency, document_date, amount, open_amount):
        return row.errors
    assert kind is not None and currency is not None and document_date is not None
    return (
        raw.row,
        account,
        number,
        kind.value,
        currency,
        amount,
        open_amount,
        document_date,
        delivery_date or (document_date if kind is ItemKind.INVOICE else None),
        due_date,
        disputed,
        applies_to,
        company_code,
    )


def parse_open_item_row(raw: RawRecord, source: str) -> ParsedItem | list[RecordError]:
    """One open-items row as a :data:`ParsedItem`, or every error of the row: the same
    validation and messages as :func:`parse_open_item`, without building domain objects."""
    return _fast_open_item(raw) or _parse_open_item(raw, source)


def parse_open_item(raw: RawRecord, source: str) -> OpenItemRecord | list[RecordError]:
    """One open-items row as an :class:`OpenItemRecord`, or every error of the row."""
    parsed = parse_open_item_row(raw, source)
    if isinstance(parsed, list):
        return parsed
    row, account, number, kind, currency, amount, open_amount = parsed[:7]
    document_date, delivery_date, due_date, disputed, applies_to, company_code = parsed[7:]
    item = OpenItem(
        erp_account=account,
        document_number=number,
        kind=ItemKind(kind),
        amount=Money(amount, currency),
        open_amount=Money(open_amount, currency),
        document_date=document_date,
        delivery_date=delivery_date,
        due_date=due_date,
        disputed=disputed,
        applies_to=applies_to,
    )
    return OpenItemRecord(row, item, company_code)
