"""The open-items import: all or nothing, streamed, merged set-based.

Each record is parsed into a plain tuple (:func:`~tci_gateway.erp.canonical.parse_open_item_row`:
the canonical format's validation, no domain object per row), placed in the batch's
company codes, matched to its ERP account and streamed into the import's staging table
(:mod:`tci_gateway.ledger.open_item_staging`). Then, in SQL: the documents listed twice,
the mass-close guard's counts, one UPDATE of the changed items and one INSERT of the new
ones, and for a complete file the closing of what it no longer lists. Any bad row: an
:class:`~tci_gateway.errors.InputError` listing them (file, row, column, reason), and
nothing is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update

from tci_gateway.erp.canonical import (
    DEFAULT_SOURCE,
    OPEN_ITEM_COLUMNS,
    check_source,
    parse_open_item_row,
)
from tci_gateway.erp.profiles import ErpProfile
from tci_gateway.erp.reader import RawRecord
from tci_gateway.errors import ConfigError, RecordError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.open_item_staging import OpenItemStaging, StagedItem
from tci_gateway.ledger.runs import record_import
from tci_gateway.ledger.tables import ImportRow
from tci_gateway.services.complete_import import (
    DEFAULT_MAX_CLOSE_SHARE,
    Scope,
    check_guard,
    close_absent,
)
from tci_gateway.services.import_common import (
    MAX_ERRORS,
    Finish,
    ImportReport,
    Progress,
    RecordErrors,
    check_profile,
    file_sha,
    outside_policy,
    policy_filter,
    records_of,
)
from tci_gateway.services.open_item_upsert import duplicate_errors, merge_staged


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
    check_profile(profile, "open_items")
    return import_open_item_records(
        ledger,
        records_of(path, OPEN_ITEM_COLUMNS, "open_items", profile),
        file=str(path),
        sha256=file_sha(path),
        now=now,
        progress=progress,
        profile=profile,
        source=source,
        complete=complete,
        allow_mass_close=allow_mass_close,
        max_close_share=max_close_share,
        today=today,
    )


def _staged(
    records: Iterable[RawRecord | RecordError],
    file: str,
    report: ImportReport,
    errors: RecordErrors,
    progress: Progress | None,
    accounts: Mapping[str, buyer_repo.AccountLink],
    allowed: set[int | None] | None,
    allowed_policies: Collection[str] | None,
    scope: Scope,
) -> Iterator[StagedItem]:
    """The valid rows of ``records`` as staged rows; every bad one goes to ``errors``."""
    seen_codes = scope.file_codes
    declared = scope.declared is not None
    for item in records:
        if isinstance(item, RecordError):
            errors.add_raw(item)
            continue
        report.rows += 1
        if progress and report.rows % 1000 == 0:
            progress(report.rows)
        parsed = parse_open_item_row(item, file)
        if isinstance(parsed, list):
            for error in parsed:
                errors.add(error)
            continue
        code = parsed[12]
        if declared:
            code, outside = scope.place(code)
            if outside is not None:
                errors.add(RecordError(file, parsed[0], "company_code", outside))
                continue
        link = accounts.get(parsed[1])
        if link is None:
            errors.add(
                RecordError(
                    file,
                    parsed[0],
                    "erp_account",
                    f"unknown ERP account {parsed[1]!r}: import it with the buyers file first",
                )
            )
            continue
        if allowed is not None and link.policy_id not in allowed:
            errors.add(outside_policy(file, parsed[0], parsed[1], allowed_policies or ()))
            continue
        if code not in seen_codes:
            seen_codes.add(code)
        yield (parsed[0], link.account_id, *parsed[2:12], code)


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
    errors = RecordErrors(profile)
    day = today or now.date()
    with ledger.unit_of_work() as session:
        accounts = buyer_repo.account_links(session)
        allowed = policy_filter(session, allowed_policies)
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
        staging = OpenItemStaging(session.connection())
        staging.load(
            _staged(
                records, file, report, errors, progress, accounts, allowed, allowed_policies, scope
            )
        )
        staging.index()
        if len(errors.items) < MAX_ERRORS:
            names = {link.account_id: name for name, link in accounts.items()}
            for error in duplicate_errors(staging, file, names, MAX_ERRORS):
                errors.add(error)
        errors.in_file_order()
        errors.raise_if_any()
        if complete:
            for code, count in staging.open_listed(scope.source):
                scope.open_in(code, count)
        written = merge_staged(
            staging, source=scope.source, import_id=import_id, today=day, now=now
        )
        report.inserted, report.updated, report.unchanged = written
        if complete:
            report.closed = close_absent(
                session, scope, staging, import_id=import_id, today=day, now=now
            )
            check_guard(
                file,
                scope,
                rows=report.rows,
                closed=report.closed,
                max_share=max_close_share,
                allow_mass_close=allow_mass_close,
                flag=mass_close_flag,
            )
        staging.drop()
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
