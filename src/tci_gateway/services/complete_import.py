"""The keys an open-items import has seen, and what a complete export closes.

An SAP FBL5N or Odoo open-items export lists only OPEN items: a paid invoice simply
disappears from the next export. A **complete** import says the file is the whole list of
open items of its scope, the import source (``default`` unless named) and, when the file
carries company codes, those company codes. Items of that scope still open in the ledger
and absent from the file are closed (open amount 0, ``closed_on``, ``closed_import_id``;
never deleted) in the import's own transaction, by one ``UPDATE ... WHERE NOT EXISTS``
against the staging table the import streams the file's rows into anyway
(:mod:`tci_gateway.ledger.open_item_staging`). Nothing is held per item in memory: only a
count per company code.

A guard refuses a complete file that lists nothing, or that would close more than a
share of the scope's open items (a truncated export, the wrong company code), unless the
caller allows a mass close; the whole import is then rolled back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger.open_item_staging import OPEN_ITEMS, OpenItemStaging

DEFAULT_MAX_CLOSE_SHARE = Decimal("0.30")


class MassCloseError(InputError):
    """A complete export refused by the guard: it lists nothing, or would close more than
    the allowed share of its scope's open items. Nothing was written."""


@dataclass
class Scope:
    """The scope of one import: its source, and the company codes its rows carry.

    ``constant_code`` is a company code every row has (a profile constant), known even
    when the file lists no row. The counts are per company code, so memory does not grow
    with the file."""

    source: str
    constant_code: str | None = None
    declared: frozenset[str] | None = None
    """The company codes the caller declared the batch complete for (the API's scope)."""
    file_codes: set[str | None] = field(default_factory=set)
    listed_open: Counter[str | None] = field(default_factory=Counter)

    def saw(self, company_code: str | None) -> None:
        """A row of the file, booked in ``company_code``."""
        self.file_codes.add(company_code)

    def was_open(self, row: Any) -> None:
        """A stored item the file lists (``row`` before this import wrote it)."""
        if row.source == self.source and row.open_amount > 0:
            self.listed_open[row.company_code] += 1

    def open_in(self, company_code: str | None, count: int) -> None:
        """``count`` items of this source in ``company_code`` the file lists were open
        before the import (what :meth:`was_open` counts one by one)."""
        self.listed_open[company_code] += count

    def codes(self) -> set[str | None] | None:
        """The company codes the file is complete for; ``None``: every code of the source
        (the file carries none)."""
        if self.constant_code is not None:
            return {self.constant_code}
        if self.declared is not None:
            return set(self.declared)
        if any(code is not None for code in self.file_codes):
            return set(self.file_codes)
        return None

    def where(self) -> ColumnElement[bool]:
        """The ledger's items in this scope."""
        item = OPEN_ITEMS.c
        codes = self.codes()
        if codes is None:
            return item.source == self.source
        named = sorted(c for c in codes if c is not None)
        by_code = [item.company_code.in_(named)] if named else []
        if None in codes:
            by_code.append(item.company_code.is_(None))
        return and_(item.source == self.source, or_(*by_code))

    def place(self, code: str | None) -> tuple[str | None, str | None]:
        """A record's company code within the declared codes: ``(code, None)``, a record
        naming none taking the only declared one (as a profile's constant gives it), or
        ``(None, reason)`` when it is outside them."""
        if self.declared is None or code in self.declared:
            return code, None
        codes = ", ".join(sorted(self.declared))
        if code is None and len(self.declared) == 1:
            return codes, None
        if code is None:
            return None, f"is empty: the batch's scope has several company codes ({codes})"
        return None, f"company code {code!r} is not in the batch's scope ({codes})"

    def open_listed(self) -> int:
        """Items the file lists that were open in this scope before the import."""
        codes = self.codes()
        return sum(n for code, n in self.listed_open.items() if codes is None or code in codes)

    def describe(self) -> str:
        text = f"source {self.source!r}"
        codes = sorted((c for c in self.codes() or () if c is not None), key=str)
        if codes:
            shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
            text += f", company code{'s' if len(codes) > 1 else ''} {shown}"
        return text


def close_absent(
    session: Session,
    scope: Scope,
    staging: OpenItemStaging,
    *,
    import_id: int,
    today: date,
    now: datetime,
) -> int:
    """Close the scope's open items the import's staging table does not hold: one
    set-based UPDATE (each is settled on ``today`` for payment behaviour). Returns how many
    were closed."""
    return staging.close_absent(scope.where(), import_id=import_id, today=today, now=now)


def check_guard(
    path: str,
    scope: Scope,
    *,
    rows: int,
    closed: int,
    max_share: Decimal,
    allow_mass_close: bool,
    flag: str = "--allow-mass-close",
) -> None:
    """Refuse (:class:`MassCloseError`) a complete file that lists no item, or that closes
    more than ``max_share`` of the scope's open items, unless ``allow_mass_close``
    (``flag`` says how the caller gives it)."""
    if allow_mass_close:
        return
    open_before = closed + scope.open_listed()
    advice = f"nothing was written (check the file and its scope, or give {flag})"
    if rows == 0:
        reason = (
            f"refused: this complete export lists no items; it would close {closed} of the "
            f"{open_before} open items of {scope.describe()}; {advice}"
        )
    elif closed > max_share * open_before:
        share = (Decimal(100) * closed / open_before).quantize(Decimal("0.1"))
        allowed = (Decimal(100) * max_share).normalize()
        reason = (
            f"refused: this complete export would close {closed} of the {open_before} open "
            f"items of {scope.describe()} ({share} %, more than the {allowed:f} % allowed by "
            f"[import] max_close_share); {advice}"
        )
    else:
        return
    raise MassCloseError([RecordError(path, None, None, reason)])


def import_business_date(zones: Iterable[str], now: datetime, fallback_zone: str = "UTC") -> date:
    """The business date an import closes items on: today in the policies' time zone when
    they share one, else in ``fallback_zone``."""
    distinct = set(zones)
    zone = distinct.pop() if len(distinct) == 1 else fallback_zone
    return now.astimezone(ZoneInfo(zone)).date()
