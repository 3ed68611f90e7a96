"""ERP imports: buyers and open items, all or nothing.

A file is read once, streamed, inside one transaction. Every bad row is collected with
file, row, column and reason; if there is any, the transaction is rolled back and
:class:`~tci_gateway.errors.InputError` lists them: nothing of that file is imported.
Re-importing the same file changes nothing (upsert by ERP account, and by ERP account +
document number for open items). A complete open-items file also closes the items of its
scope it no longer lists (:mod:`tci_gateway.services.complete_import`). The open-items
half lives in :mod:`tci_gateway.services.import_open_items` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import contradictions
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.canonical import BUYER_COLUMNS, BuyerRecord, parse_buyer
from tci_gateway.erp.profiles import ErpProfile
from tci_gateway.erp.reader import RawRecord
from tci_gateway.errors import RecordError
from tci_gateway.ledger import buyers as buyer_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import record_import
from tci_gateway.services.import_common import (
    Finish,
    ImportReport,
    Progress,
    RecordErrors,
    check_profile,
    file_sha,
    outside_policy,
    records_of,
)
from tci_gateway.services.import_open_items import import_open_item_records, import_open_items

__all__ = [
    "Finish",
    "ImportReport",
    "Progress",
    "import_buyer_records",
    "import_buyers",
    "import_open_item_records",
    "import_open_items",
]

# -- buyers ---------------------------------------------------------------------------


def _resolve_policy(
    rec: BuyerRecord, policy_ids: Mapping[str, int], source: str, errors: RecordErrors
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
    errors: RecordErrors,
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
    check_profile(profile, "buyers")
    return import_buyer_records(
        ledger,
        records_of(path, BUYER_COLUMNS, "buyers", profile),
        source=str(path),
        sha256=file_sha(path),
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
    errors = RecordErrors(profile)
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
                errors.add(outside_policy(source, rec.row, rec.erp_account, policies))
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
