"""ERP imports: buyers and open items, all or nothing.

A file is read once, streamed, inside one transaction. Every bad row is collected with
file, row, column and reason; if there is any, the transaction is rolled back and
:class:`~tci_gateway.errors.InputError` lists them: nothing of that file is imported.
Re-importing the same file changes nothing (upsert by ERP account, and by ERP account +
document number for open items). A complete open-items file also closes the items of its
scope it no longer lists (:mod:`tci_gateway.services.complete_import`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import contradictions
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.canonical import (
    BUYER_COLUMNS,
    DEFAULT_SOURCE,
    OPEN_ITEM_COLUMNS,
    BuyerRecord,
    OpenItemRecord,
    check_source,
    parse_buyer,
    parse_open_item,
)
from tci_gateway.erp.profiles import ErpProfile, read_with_profile
from tci_gateway.erp.reader import Columns, RawRecord, file_sha256, read_records
from tci_gateway.errors import ConfigError, InputError, RecordError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids, upsert_policies
from tci_gateway.ledger.runs import record_import
from tci_gateway.ledger.tables import ImportRow
from tci_gateway.services.complete_import import (
    DEFAULT_MAX_CLOSE_SHARE,
    Scope,
    check_guard,
    close_absent,
    create_key_table,
    drop_key_table,
)
from tci_gateway.services.open_item_upsert import duplicate_error, write_chunk

MAX_ERRORS = 1000
CHUNK = 2000

Progress = Callable[[int], None]
Finish = Callable[[Session, "ImportReport"], None]
"""Called last inside an import's transaction, with its report."""


@dataclass
class ImportReport:
    """What an import did. ``source`` is the file; open items also say the import source
    and company codes they belong to (``scope``), whether the file was ``complete`` and
    how many items of that scope it ``closed``."""

    kind: str
    source: str
    sha256: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    complete: bool = False
    item_source: str | None = None
    company_codes: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.closed

    @property
    def ok(self) -> bool:
        """The one judgement of an import: no record error. (A file with errors is
        refused whole, with an :class:`~tci_gateway.errors.InputError`, so a report
        returned is ok; the property is what callers ask.)"""
        return not self.errors


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
    return import_buyer_records(
        ledger,
        _records(path, BUYER_COLUMNS, "buyers", profile),
        source=str(path),
        sha256=_sha(path),
        policies=policies,
        now=now,
        progress=progress,
        profile=profile,
    )


def import_buyer_records(
    ledger: Ledger,
    records: Iterable[RawRecord | RecordError],
    *,
    source: str,
    sha256: str,
    policies: Mapping[str, Policy],
    now: datetime,
    progress: Progress | None = None,
    profile: ErpProfile | None = None,
    in_transaction: Finish | None = None,
    restricted: bool = False,
) -> ImportReport:
    """:func:`import_buyers` of records already read (a file, or a request body through
    :func:`~tci_gateway.erp.reader.read_body`), validated the same way. ``source`` names
    them in errors and in the imports table; ``in_transaction`` runs last in the import's
    own transaction (an audit row: written exactly when the import is). ``restricted``:
    ``policies`` are the only ones the caller may write, so an ERP account already under
    another policy (or none) is refused."""
    report = ImportReport("buyers", source, sha256)
    errors = _Errors(profile)
    with ledger.unit_of_work() as session:
        policy_ids = upsert_policies(session, policies, now)
        links = buyer_repo.account_links(session)
        first_row: dict[str, int] = {}
        for item in records:
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
            if restricted and link is not None and link.policy_id not in policy_ids.values():
                errors.add(_outside(source, rec.row, rec.erp_account, policies))
                continue
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
            added = buyer_repo.add_identifiers(
                session, buyer_id, rec.identifiers, source=f"erp:{rec.erp_account}", now=now
            )
            changed = added > 0 or changed
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
        if in_transaction is not None:
            in_transaction(session, report)
    return report


# -- open items -----------------------------------------------------------------------


def _parsed(
    records: Iterable[RawRecord | RecordError],
    source: str,
    report: ImportReport,
    errors: _Errors,
    progress: Progress | None,
) -> Iterator[OpenItemRecord]:
    for item in records:
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


def import_open_items(
    ledger: Ledger,
    path: Path,
    *,
    now: datetime,
    progress: Progress | None = None,
    profile: ErpProfile | None = None,
    source: str | None = None,
    complete: bool = False,
    allow_mass_close: bool = False,
    max_close_share: Decimal = DEFAULT_MAX_CLOSE_SHARE,
    today: date | None = None,
) -> ImportReport:
    """Upsert open items by (ERP account, document number), each stamped with the import
    ``source`` (else the profile's, else ``default``) and its company code. Raises
    :class:`InputError` (nothing written) on any bad row.

    ``complete`` (or the profile's ``complete``): the file lists every open item of its
    scope, so the scope's open items it does not list are closed on ``today`` (default:
    the UTC date of ``now``), in the same transaction; a file that lists nothing or would
    close more than ``max_close_share`` of the scope's open items raises
    :class:`~tci_gateway.services.complete_import.MassCloseError` unless
    ``allow_mass_close``.

    ``profile`` reads an ERP export through a mapping profile instead of the canonical
    format (:mod:`tci_gateway.erp.profiles`)."""
    _check_profile(profile, "open_items")
    return import_open_item_records(
        ledger,
        _records(path, OPEN_ITEM_COLUMNS, "open_items", profile),
        file=str(path),
        sha256=_sha(path),
        now=now,
        progress=progress,
        profile=profile,
        source=source,
        complete=complete,
        allow_mass_close=allow_mass_close,
        max_close_share=max_close_share,
        today=today,
    )


def import_open_item_records(
    ledger: Ledger,
    records: Iterable[RawRecord | RecordError],
    *,
    file: str,
    sha256: str,
    now: datetime,
    progress: Progress | None = None,
    profile: ErpProfile | None = None,
    source: str | None = None,
    complete: bool = False,
    allow_mass_close: bool = False,
    max_close_share: Decimal = DEFAULT_MAX_CLOSE_SHARE,
    today: date | None = None,
    company_codes: Collection[str] | None = None,
    mass_close_flag: str = "--allow-mass-close",
    in_transaction: Finish | None = None,
    allowed_policies: Collection[str] | None = None,
) -> ImportReport:
    """:func:`import_open_items` of records already read (a file, or a request body
    through :func:`~tci_gateway.erp.reader.read_body`), validated the same way; ``file``
    names them in errors and in the imports table.

    ``company_codes`` declares the company codes a complete batch is complete for (its
    scope even for a code it lists no item of): every record must be booked in one of
    them (a record naming none takes the only one, as a profile's constant gives it).
    ``mass_close_flag`` is how the refusal of the guard names the way to allow it;
    ``in_transaction`` runs last in the import's own transaction (an audit row);
    ``allowed_policies``: only items of ERP accounts under those policy keys."""
    item_source = source or (profile.source if profile else None) or DEFAULT_SOURCE
    try:
        check_source(item_source)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    complete = complete or (profile is not None and profile.complete)
    scope = Scope(item_source, profile.constants.get("company_code") if profile else None)
    if company_codes:
        scope.declared = frozenset(company_codes)
    report = ImportReport("open_items", file, sha256, complete=complete)
    errors = _Errors(profile)
    with ledger.unit_of_work() as session:
        accounts = buyer_repo.account_links(session)
        allowed = _policy_filter(session, allowed_policies)
        import_id = record_import(
            session,
            kind="open_items",
            source=file,
            sha256=report.sha256,
            rows=0,
            inserted=0,
            updated=0,
            unchanged=0,
            now=now,
        )
        create_key_table(session)
        parsed = _parsed(records, file, report, errors, progress)
        while batch := list(islice(parsed, CHUNK)):
            chunk: list[tuple[int, OpenItemRecord]] = []
            first_row: dict[tuple[int, str], int] = {}
            for rec in batch:
                code, outside = scope.place(rec.company_code)
                if outside is not None:
                    errors.add(RecordError(file, rec.row, "company_code", outside))
                    continue
                if code != rec.company_code:
                    rec = replace(rec, company_code=code)
                link = accounts.get(rec.item.erp_account)
                if link is None:
                    errors.add(
                        RecordError(
                            file,
                            rec.row,
                            "erp_account",
                            f"unknown ERP account {rec.item.erp_account!r}: import it "
                            "with the buyers file first",
                        )
                    )
                    continue
                if allowed is not None and link.policy_id not in allowed:
                    account = rec.item.erp_account
                    errors.add(_outside(file, rec.row, account, allowed_policies or ()))
                    continue
                key = (link.account_id, rec.item.document_number)
                if key in first_row:
                    errors.add(duplicate_error(file, rec, first_row[key]))
                    continue
                first_row[key] = rec.row
                chunk.append((link.account_id, rec))
            if not errors and chunk:
                written = write_chunk(session, chunk, import_id, now, file, scope, today=today)
                report.inserted += written.inserted
                report.updated += written.updated
                report.unchanged += written.unchanged
                for error in written.duplicates:
                    errors.add(error)
        errors.raise_if_any()
        if complete:
            day = today or now.date()
            report.closed = close_absent(session, scope, import_id=import_id, today=day, now=now)
            check_guard(
                file,
                scope,
                rows=report.rows,
                closed=report.closed,
                max_share=max_close_share,
                allow_mass_close=allow_mass_close,
                flag=mass_close_flag,
            )
        drop_key_table(session)
        report.item_source = scope.source
        report.company_codes = sorted(c for c in scope.codes() or () if c is not None)
        session.execute(
            update(ImportRow)
            .where(ImportRow.id == import_id)
            .values(
                rows=report.rows,
                inserted=report.inserted,
                updated=report.updated,
                unchanged=report.unchanged,
                closed=report.closed,
            )
        )
        if in_transaction is not None:
            in_transaction(session, report)
    if progress:
        progress(report.rows)
    return report


def _policy_filter(session: Session, keys: Collection[str] | None) -> set[int | None] | None:
    if keys is None:
        return None
    ids = policy_ids(session)
    return {ids[k] for k in keys if k in ids}


def _outside(file: str, row: int, account: str, keys: Collection[str]) -> RecordError:
    allowed = ", ".join(sorted(keys)) or "none"
    return RecordError(
        file,
        row,
        "erp_account",
        f"ERP account {account!r} is not under a policy this batch may write (allowed: {allowed})",
    )
