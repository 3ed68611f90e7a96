"""Open items of one import, written a chunk at a time: their stored values, an upsert
by (ERP account, document number) that writes only what changed, and duplicates found
through the import's key table (:mod:`tci_gateway.services.complete_import`).

The upsert also keeps the dates payment behaviour counts from (the import's business
date ``today``): ``settled_on``, the first date the item was seen with open amount 0
(kept while it stays 0, cleared when it reopens), and ``disputed_since``, the first date
it was seen disputed (cleared when it no longer is). An item already settled or disputed
before the ledger kept these dates keeps them unknown (NULL) rather than taking today's:
a wrong date would be worse than none (behaviour names such items)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from tci_gateway.erp.canonical import OpenItemRecord
from tci_gateway.errors import RecordError
from tci_gateway.ledger.tables import OpenItemRow
from tci_gateway.services.complete_import import OPEN_ITEMS, Scope, claim_keys

ITEM_FIELDS = (
    "kind",
    "currency",
    "amount",
    "open_amount",
    "document_date",
    "delivery_date",
    "due_date",
    "disputed",
    "applies_to",
    "source",
    "company_code",
    "closed_on",
    "closed_import_id",
)


def item_values(rec: OpenItemRecord, item_source: str) -> dict[str, Any]:
    """The stored values of ``rec``; a listed item is open as the file says (an item a
    complete export closed earlier reopens when it comes back)."""
    item = rec.item
    return {
        "kind": item.kind.value,
        "currency": item.currency,
        "amount": item.amount.amount,
        "open_amount": item.open_amount.amount,
        "document_date": item.document_date,
        "delivery_date": item.delivery_date,
        "due_date": item.due_date,
        "disputed": item.disputed,
        "applies_to": item.applies_to,
        "source": item_source,
        "company_code": rec.company_code,
        "closed_on": None,
        "closed_import_id": None,
    }


TRACKED = ("settled_on", "disputed_since")


def tracked_dates(values: dict[str, Any], row: Any, today: date) -> dict[str, date | None]:
    """``settled_on`` and ``disputed_since`` of an item about to be stored as ``values``;
    ``row`` is the stored one (``None``: new)."""
    if values["open_amount"] > 0:
        settled_on = None
    elif row is not None and row.open_amount == 0:
        settled_on = row.settled_on  # still settled: the first date stays (or unknown)
    else:
        settled_on = today
    if not values["disputed"]:
        since = None
    elif row is not None and row.disputed:
        since = row.disputed_since
    else:
        since = today
    return {"settled_on": settled_on, "disputed_since": since}


class Written(NamedTuple):
    """What one chunk did: counts, and the keys an earlier chunk already had."""

    inserted: int
    updated: int
    unchanged: int
    duplicates: list[RecordError]


def write_chunk(
    session: Session,
    chunk: list[tuple[int, OpenItemRecord]],
    import_id: int,
    now: datetime,
    source: str,
    scope: Scope,
    *,
    today: date | None = None,
) -> Written:
    """Upsert one chunk. A key the import's key table already holds is a duplicate from an
    earlier chunk of the same file (kept in the database, so memory stays flat).
    ``today`` is the import's business date (default: the date of ``now``)."""
    day = today or now.date()
    keys = [(aid, rec.item.document_number) for aid, rec in chunk]
    fresh = claim_keys(session, keys)
    existing = {
        (row.erp_account_id, row.document_number): row
        for row in session.execute(
            select(
                OpenItemRow.id,
                OpenItemRow.erp_account_id,
                OpenItemRow.document_number,
                *(getattr(OpenItemRow, f) for f in ITEM_FIELDS + TRACKED),
            )
            # Row values, so both databases use the (account, document) unique index;
            # two separate IN lists made SQLite scan each account's items (quadratic).
            .where(tuple_(OpenItemRow.erp_account_id, OpenItemRow.document_number).in_(keys))
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    duplicates: list[RecordError] = []
    unchanged = 0
    for account_id, rec in chunk:
        values = item_values(rec, scope.source)
        row = existing.get((account_id, rec.item.document_number))
        values.update(tracked_dates(values, row, day))
        if (account_id, rec.item.document_number) not in fresh:
            duplicates.append(duplicate_error(source, rec, None))
            continue
        scope.saw(rec.company_code)
        if row is not None:
            scope.was_open(row)
        if row is None:
            inserts.append(
                {
                    "erp_account_id": account_id,
                    "document_number": rec.item.document_number,
                    "import_id": import_id,
                    "updated_at": now,
                    **values,
                }
            )
        elif any(getattr(row, f) != values[f] for f in ITEM_FIELDS + TRACKED):
            updates.append({"id": row.id, "import_id": import_id, "updated_at": now, **values})
        else:
            unchanged += 1
    if inserts:  # Core, not the ORM's bulk path: a million rows cost half as much
        session.connection().execute(insert(OPEN_ITEMS), inserts)
    if updates:
        session.execute(update(OpenItemRow), updates)
    return Written(len(inserts), len(updates), unchanged, duplicates)


def duplicate_error(source: str, rec: OpenItemRecord, first_row: int | None) -> RecordError:
    """The error for a document listed twice in one file."""
    where = f"first at row {first_row}" if first_row is not None else "earlier in this file"
    return RecordError(
        source,
        rec.row,
        "document_number",
        f"document {rec.item.document_number!r} of account {rec.item.erp_account!r} "
        f"appears twice ({where})",
    )
