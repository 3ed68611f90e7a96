"""ERP imports: buyers and open items, all or nothing.

A file is read once, streamed, inside one transaction. Every bad row is collected with
file, row, column and reason; if there is any, the transaction is rolled back and
:class:`~tci_gateway.errors.InputError` lists them: nothing of that file is imported.
Re-importing the same file changes nothing (upsert by ERP account, and by ERP account +
document number for open items).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import contradictions
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.canonical import (
    BUYER_COLUMNS,
    OPEN_ITEM_COLUMNS,
    BuyerRecord,
    OpenItemRecord,
    parse_buyer,
    parse_open_item,
)
from tci_gateway.erp.profiles import ErpProfile, read_with_profile
from tci_gateway.erp.reader import Columns, RawRecord, read_records
from tci_gateway.errors import ConfigError, InputError, RecordError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import record_import
from tci_gateway.ledger.tables import ImportRow, OpenItemRow

MAX_ERRORS = 1000
OPEN_ITEMS = cast(Table, OpenItemRow.__table__)
CHUNK = 2000

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    kind: str
    source: str
    sha256: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RecordError] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Errors:
    def __init__(self, profile: ErpProfile | None = None) -> None:
        self.items: list[RecordError] = []
        self.profile = profile

    def add(self, error: RecordError) -> None:
        """An error naming a canonical column (shown by its name in the profile's file)."""
        self.add_raw(self.profile.rename(error) if self.profile else error)

    def add_raw(self, error: RecordError) -> None:
        """An error from the reader, which already names the file's own column."""
        if self.items and self.items[-1] == error:
            return  # two canonical columns read from one cell of a profile's file
        if len(self.items) < MAX_ERRORS:
            self.items.append(error)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.items)


def _sha(path: Path) -> str:
    return file_sha256(path) if path.is_file() else ""


def _check_profile(profile: ErpProfile | None, kind: str) -> None:
    if profile is not None and profile.kind != kind:
        raise ConfigError(f"the mapping profile is for {profile.kind} files, not {kind}")


def _records(
    path: Path, columns: Columns, json_key: str, profile: ErpProfile | None
) -> Iterator[RawRecord | RecordError]:
    if profile is None:
        return read_records(path, columns, json_key=json_key)
    return read_with_profile(path, profile)


# -- buyers ---------------------------------------------------------------------------


def _resolve_policy(
    rec: BuyerRecord, policy_ids: Mapping[str, int], source: str, errors: _Errors
) -> int | None:
    if rec.policy is None:
        return next(iter(policy_ids.values())) if len(policy_ids) == 1 else None
    if rec.policy not in policy_ids:
        known = ", ".join(sorted(policy_ids)) or "none configured"
        errors.add(
            RecordError(
                source, rec.row, "policy", f"unknown policy {rec.policy!r} (known: {known})"
            )
        )
        return None
    return policy_ids[rec.policy]


def _resolve_buyer(
    session: Session,
    rec: BuyerRecord,
    link: buyer_repo.AccountLink | None,
    source: str,
    errors: _Errors,
) -> tuple[bool, int | None]:
    """``(ok, buyer id or None for a new buyer)``: exact identifier matches link."""
    known: dict[Identifier, int] = buyer_repo.buyers_by_identifier(session, rec.identifiers)
    owners = sorted(set(known.values()))
    if len(owners) > 1:
        detail = ", ".join(f"{ident} -> buyer {bid}" for ident, bid in sorted(known.items()))
        errors.add(
            RecordError(source, rec.row, None, f"identifiers belong to different buyers: {detail}")
        )
        return False, None
    buyer_id = owners[0] if owners else (link.buyer_id if link else None)
    if buyer_id is not None:
        clash = contradictions(buyer_repo.identifiers_of(session, buyer_id), rec.identifiers)
        if clash:
            detail = "; ".join(f"buyer {buyer_id} has {x}, this row {y}" for x, y in clash)
            errors.add(RecordError(source, rec.row, None, f"identifiers contradict: {detail}"))
            return False, None
    if link is not None and buyer_id != link.buyer_id:
        errors.add(
            RecordError(
                source,
                rec.row,
                None,
                f"ERP account {rec.erp_account!r} is linked to buyer {link.buyer_id}, "
                f"but its identifiers belong to buyer {buyer_id}",
            )
        )
        return False, None
    return True, buyer_id


def import_buyers(
    ledger: Ledger,
    path: Path,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    progress: Progress | None = None,
    profile: ErpProfile | None = None,
) -> ImportReport:
    """Import buyers and their ERP accounts; two accounts sharing an identifier become
    one buyer. Raises :class:`InputError` (nothing written) on any bad row.

    ``profile`` reads an ERP export through a mapping profile instead of the canonical
    format (:mod:`tci_gateway.erp.profiles`)."""
    _check_profile(profile, "buyers")
    source = str(path)
    report = ImportReport("buyers", source, _sha(path))
    errors = _Errors(profile)
    with ledger.unit_of_work() as session:
        policy_ids = upsert_policies(session, policies, now)
        links = buyer_repo.account_links(session)
        first_row: dict[str, int] = {}
        for item in _records(path, BUYER_COLUMNS, "buyers", profile):
            if isinstance(item, RecordError):
                errors.add_raw(item)
                continue
            report.rows += 1
            if progress:
                progress(report.rows)
            rec = parse_buyer(item, source)
            if isinstance(rec, list):
                for error in rec:
                    errors.add(error)
                continue
            if rec.erp_account in first_row:
                errors.add(
                    RecordError(
                        source,
                        rec.row,
                        "erp_account",
                        f"ERP account {rec.erp_account!r} appears twice (first at row "
                        f"{first_row[rec.erp_account]})",
                    )
                )
                continue
            first_row[rec.erp_account] = rec.row
            policy_id = _resolve_policy(rec, policy_ids, source, errors)
            link = links.get(rec.erp_account)
            ok, buyer_id = _resolve_buyer(session, rec, link, source, errors)
            if errors or not ok:
                continue  # keep validating; nothing will be committed
            changed = False
            if buyer_id is None:
                buyer_id = buyer_repo.create_buyer(session, rec.buyer.name, rec.buyer.country, now)
            elif buyer_repo.primary_account(session, buyer_id) in (None, rec.erp_account):
                # Only the buyer's first account names it; a second account of the same
                # legal entity (a branch, a sales office) keeps its own name on the account.
                changed = buyer_repo.update_buyer(
                    session, buyer_id, rec.buyer.name, rec.buyer.country, now
                )
            changed = buyer_repo.add_identifiers(session, buyer_id, rec.identifiers) > 0 or changed
            if rec.tier is not None:
                changed = buyer_repo.set_tier(session, buyer_id, rec.tier, now) or changed
            outcome = buyer_repo.upsert_account(
                session, rec.erp_account, rec.account.name, buyer_id, policy_id, now
            )
            if outcome == "inserted":
                report.inserted += 1
            elif outcome == "updated" or changed:
                report.updated += 1
            else:
                report.unchanged += 1
            links[rec.erp_account] = buyer_repo.AccountLink(-1, buyer_id, policy_id)
        errors.raise_if_any()
        record_import(
            session,
            kind="buyers",
            source=source,
            sha256=report.sha256,
            rows=report.rows,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            now=now,
        )
    return report


# -- open items -----------------------------------------------------------------------

_ITEM_FIELDS = (
    "kind",
    "currency",
    "amount",
    "open_amount",
    "document_date",
    "delivery_date",
    "due_date",
    "disputed",
    "applies_to",
)


def _item_values(rec: OpenItemRecord) -> dict[str, Any]:
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
    }


def _parsed(
    path: Path,
    source: str,
    report: ImportReport,
    errors: _Errors,
    progress: Progress | None,
    profile: ErpProfile | None,
) -> Iterator[OpenItemRecord]:
    for item in _records(path, OPEN_ITEM_COLUMNS, "open_items", profile):
        if isinstance(item, RecordError):
            errors.add_raw(item)
            continue
        report.rows += 1
        if progress and report.rows % 1000 == 0:
            progress(report.rows)
        rec = parse_open_item(item, source)
        if isinstance(rec, list):
            for error in rec:
                errors.add(error)
        else:
            yield rec


def _write_chunk(
    session: Session,
    chunk: list[tuple[int, OpenItemRecord]],
    import_id: int,
    now: datetime,
    report: ImportReport,
    source: str,
) -> list[RecordError]:
    """Upsert one chunk. A key the import's key table already holds is a duplicate from an
    earlier chunk of the same file (kept in the database, so memory stays flat)."""
    keys = [(aid, rec.item.document_number) for aid, rec in chunk]
    fresh = _claim_keys(session, keys)
    existing = {
        (row.erp_account_id, row.document_number): row
        for row in session.execute(
            select(
                OpenItemRow.id,
                OpenItemRow.erp_account_id,
                OpenItemRow.document_number,
                *(getattr(OpenItemRow, f) for f in _ITEM_FIELDS),
            )
            # Row values, so both databases use the (account, document) unique index;
            # two separate IN lists made SQLite scan each account's items (quadratic).
            .where(tuple_(OpenItemRow.erp_account_id, OpenItemRow.document_number).in_(keys))
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    duplicates: list[RecordError] = []
    for account_id, rec in chunk:
        values = _item_values(rec)
        row = existing.get((account_id, rec.item.document_number))
        if (account_id, rec.item.document_number) not in fresh:
            duplicates.append(_duplicate(source, rec, None))
        elif row is None:
            inserts.append(
                {
                    "erp_account_id": account_id,
                    "document_number": rec.item.document_number,
                    "import_id": import_id,
                    "updated_at": now,
                    **values,
                }
            )
        elif any(getattr(row, f) != values[f] for f in _ITEM_FIELDS):
            updates.append({"id": row.id, "import_id": import_id, "updated_at": now, **values})
        else:
            report.unchanged += 1
    if inserts:  # Core, not the ORM's bulk path: a million rows cost half as much
        session.connection().execute(insert(OPEN_ITEMS), inserts)
        report.inserted += len(inserts)
    if updates:
        session.execute(update(OpenItemRow), updates)
        report.updated += len(updates)
    return duplicates


_KEY_TABLE = Table(
    "tci_import_keys",
    MetaData(),
    Column("account_id", Integer, primary_key=True),
    Column("document_number", String(64), primary_key=True),
    prefixes=["TEMPORARY"],
)


def _create_key_table(session: Session) -> None:
    """A temporary table of the (account, document) keys this import has seen: duplicate
    detection without holding a million keys in memory."""
    connection = session.connection()
    _KEY_TABLE.drop(connection, checkfirst=True)
    _KEY_TABLE.create(connection)


def _drop_key_table(session: Session) -> None:
    _KEY_TABLE.drop(session.connection(), checkfirst=True)


def _claim_keys(session: Session, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Record ``keys`` (distinct within the chunk); returns those not seen before in this
    import. A look-up and a plain batched insert: cheaper than an upsert returning rows,
    which neither driver batches."""
    if not keys:
        return set()
    connection = session.connection()
    table = _KEY_TABLE.c
    seen = {
        (a, d)
        for a, d in connection.execute(
            select(table.account_id, table.document_number).where(
                tuple_(table.account_id, table.document_number).in_(keys)
            )
        )
    }
    fresh = [k for k in keys if k not in seen]
    if fresh:
        connection.execute(
            insert(_KEY_TABLE), [{"account_id": a, "document_number": d} for a, d in fresh]
        )
    return set(fresh)


def _duplicate(source: str, rec: OpenItemRecord, first_row: int | None) -> RecordError:
    where = f"first at row {first_row}" if first_row is not None else "earlier in this file"
    return RecordError(
        source,
        rec.row,
        "document_number",
        f"document {rec.item.document_number!r} of account {rec.item.erp_account!r} "
        f"appears twice ({where})",
    )


def import_open_items(
    ledger: Ledger,
    path: Path,
    *,
    now: datetime,
    progress: Progress | None = None,
    profile: ErpProfile | None = None,
) -> ImportReport:
    """Upsert open items by (ERP account, document number). Raises
    :class:`InputError` (nothing written) on any bad row.

    ``profile`` reads an ERP export through a mapping profile instead of the canonical
    format (:mod:`tci_gateway.erp.profiles`)."""
    _check_profile(profile, "open_items")
    source = str(path)
    report = ImportReport("open_items", source, _sha(path))
    errors = _Errors(profile)
    with ledger.unit_of_work() as session:
        accounts = buyer_repo.account_links(session)
        import_id = record_import(
            session,
            kind="open_items",
            source=source,
            sha256=report.sha256,
            rows=0,
            inserted=0,
            updated=0,
            unchanged=0,
            now=now,
        )
        _create_key_table(session)
        records = _parsed(path, source, report, errors, progress, profile)
        while batch := list(islice(records, CHUNK)):
            chunk: list[tuple[int, OpenItemRecord]] = []
            first_row: dict[tuple[int, str], int] = {}
            for rec in batch:
                link = accounts.get(rec.item.erp_account)
                if link is None:
                    errors.add(
                        RecordError(
                            source,
                            rec.row,
                            "erp_account",
                            f"unknown ERP account {rec.item.erp_account!r}: import it "
                            "with the buyers file first",
                        )
                    )
                    continue
                key = (link.account_id, rec.item.document_number)
                if key in first_row:
                    errors.add(_duplicate(source, rec, first_row[key]))
                    continue
                first_row[key] = rec.row
                chunk.append((link.account_id, rec))
            if not errors and chunk:
                for error in _write_chunk(session, chunk, import_id, now, report, source):
                    errors.add(error)
        errors.raise_if_any()
        _drop_key_table(session)
        session.execute(
            update(ImportRow)
            .where(ImportRow.id == import_id)
            .values(
                rows=report.rows,
                inserted=report.inserted,
                updated=report.updated,
                unchanged=report.unchanged,
            )
        )
    if progress:
        progress(report.rows)
    return report
