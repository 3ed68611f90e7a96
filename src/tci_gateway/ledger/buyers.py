"""Buyers, their identifiers and the ERP accounts that map to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow, TierChangeRow


@dataclass(frozen=True)
class AccountLink:
    account_id: int
    buyer_id: int
    policy_id: int | None


def buyers_by_identifier(
    session: Session, identifiers: Iterable[Identifier]
) -> dict[Identifier, int]:
    """The buyer each known identifier belongs to."""
    keys = [(i.scheme.value, i.issuer, i.value) for i in identifiers]
    if not keys:
        return {}
    rows = session.execute(
        select(
            BuyerIdentifierRow.scheme,
            BuyerIdentifierRow.issuer,
            BuyerIdentifierRow.value,
            BuyerIdentifierRow.buyer_id,
        ).where(
            tuple_(
                BuyerIdentifierRow.scheme, BuyerIdentifierRow.issuer, BuyerIdentifierRow.value
            ).in_(keys)
        )
    )
    return {Identifier(Scheme(s), v, iss): b for s, iss, v, b in rows}


def identifiers_of(session: Session, buyer_id: int) -> set[Identifier]:
    rows = session.execute(
        select(
            BuyerIdentifierRow.scheme, BuyerIdentifierRow.issuer, BuyerIdentifierRow.value
        ).where(BuyerIdentifierRow.buyer_id == buyer_id)
    )
    return {Identifier(Scheme(s), v, i) for s, i, v in rows}


def create_buyer(session: Session, name: str, country: str, now: datetime) -> int:
    row = BuyerRow(name=name, country=country, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row.id


def update_buyer(session: Session, buyer_id: int, name: str, country: str, now: datetime) -> bool:
    """Refresh a buyer's name and country; True when something changed."""
    row = session.get_one(BuyerRow, buyer_id)
    if (row.name, row.country) == (name, country):
        return False
    row.name, row.country, row.updated_at = name, country, now
    return True


def set_tier(session: Session, buyer_id: int, tier: str, now: datetime) -> bool:
    """Set a buyer's tier from an ERP file; True when it changed. A tier a risk manager
    pinned is left alone, and a change is recorded in the tier history (source
    ``import``) like the nightly rules' changes."""
    row = session.get_one(BuyerRow, buyer_id)
    if row.tier == tier or row.tier_pinned:
        return False
    session.add(
        TierChangeRow(
            buyer_id=buyer_id,
            business_date=now.date(),
            old_tier=row.tier,
            new_tier=tier,
            reason="the ERP file's tier column",
            details={},
            source="import",
            changed_by=None,
            created_at=now,
        )
    )
    row.tier, row.updated_at = tier, now
    return True


def primary_account(session: Session, buyer_id: int) -> str | None:
    """The buyer's first ERP account: the one whose name and country the buyer carries."""
    return session.scalar(
        select(ErpAccountRow.account)
        .where(ErpAccountRow.buyer_id == buyer_id)
        .order_by(ErpAccountRow.id)
        .limit(1)
    )


def add_identifiers(
    session: Session,
    buyer_id: int,
    identifiers: Iterable[Identifier],
    *,
    source: str | Mapping[Identifier, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Attach identifiers not yet known; returns how many were added. ``source`` is
    their provenance (one for all, or per identifier): ``erp:ACCOUNT``, ``bureau:NAME``,
    ``insurer:NAME``, ``sync:NAME``, ``search:NAME``."""
    wanted = set(identifiers)
    known = buyers_by_identifier(session, wanted)
    added = 0
    for ident in sorted(wanted - set(known)):
        origin = source.get(ident) if isinstance(source, Mapping) else source
        session.add(
            BuyerIdentifierRow(
                buyer_id=buyer_id,
                scheme=ident.scheme.value,
                issuer=ident.issuer,
                value=ident.value,
                source=origin[:64] if origin else None,
                added_at=now,
            )
        )
        added += 1
    if added:
        session.flush()
    return added


def account_links(session: Session) -> dict[str, AccountLink]:
    """Every ERP account with its buyer and policy."""
    rows = session.execute(
        select(
            ErpAccountRow.account, ErpAccountRow.id, ErpAccountRow.buyer_id, ErpAccountRow.policy_id
        )
    )
    return {acc: AccountLink(aid, bid, pid) for acc, aid, bid, pid in rows}


def upsert_account(
    session: Session,
    account: str,
    name: str,
    buyer_id: int,
    policy_id: int | None,
    now: datetime,
) -> str:
    """Create or update an ERP account; returns "inserted", "updated" or "unchanged"."""
    row = session.scalar(select(ErpAccountRow).where(ErpAccountRow.account == account))
    if row is None:
        session.add(
            ErpAccountRow(
                account=account,
                name=name,
                buyer_id=buyer_id,
                policy_id=policy_id,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return "inserted"
    if (row.name, row.buyer_id, row.policy_id) == (name, buyer_id, policy_id):
        return "unchanged"
    row.name, row.buyer_id, row.policy_id, row.updated_at = name, buyer_id, policy_id, now
    return "updated"


def insurer_buyer_id(session: Session, buyer_id: int, insurer: str) -> str | None:
    """The insurer's own id of a buyer (scheme INSURER, issuer = the insurer's name)."""
    return session.scalar(
        select(BuyerIdentifierRow.value).where(
            BuyerIdentifierRow.buyer_id == buyer_id,
            BuyerIdentifierRow.scheme == Scheme.INSURER.value,
            BuyerIdentifierRow.issuer == insurer,
        )
    )
