"""Open items of one import, written from its staging table in one set-based merge: an
upsert by (ERP account, document number) that writes only what changed, counts from row
counts, and the documents the file lists twice found by a ``GROUP BY``
(:mod:`tci_gateway.ledger.open_item_staging` holds the SQL).

The upsert also keeps the dates payment behaviour counts from (the import's business
date ``today``): ``settled_on``, the first date the item was seen with open amount 0
(kept while it stays 0, cleared when it reopens), and ``disputed_since``, the first date
it was seen disputed (cleared when it no longer is). An item already settled or disputed
before the ledger kept these dates keeps them unknown (NULL) rather than taking today's:
a wrong date would be worse than none (behaviour names such items). A listed item is
open as the file says: an item a complete export closed earlier reopens when it comes
back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import NamedTuple

from tci_gateway.errors import RecordError
from tci_gateway.ledger.open_item_staging import OpenItemStaging


class Written(NamedTuple):
    """What the merge did."""

    inserted: int
    updated: int
    unchanged: int


def merge_staged(
    staging: OpenItemStaging, *, source: str, import_id: int, today: date, now: datetime
) -> Written:
    """Upsert the staged rows (each key once) under the import ``source``, on the
    business date ``today``."""
    inserted, updated = staging.merge(source=source, import_id=import_id, today=today, now=now)
    return Written(inserted, updated, staging.rows - inserted - updated)


def duplicate_errors(
    staging: OpenItemStaging, file: str, account_names: Mapping[int, str], limit: int
) -> list[RecordError]:
    """An error for each staged row whose document an earlier row already listed."""
    return [
        duplicate_error(file, row, number, account_names.get(account_id, ""), first)
        for row, account_id, number, first in staging.duplicates(limit)
    ]


def duplicate_error(
    source: str, row: int, document_number: str, erp_account: str, first_row: int | None
) -> RecordError:
    """The error for a document listed twice in one file."""
    where = f"first at row {first_row}" if first_row is not None else "earlier in this file"
    return RecordError(
        source,
        row,
        "document_number",
        f"document {document_number!r} of account {erp_account!r} appears twice ({where})",
    )
