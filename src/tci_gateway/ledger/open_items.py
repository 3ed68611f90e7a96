"""Open items as the domain sees them."""

from __future__ import annotations

from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.tables import OpenItemRow


def to_open_item(row: OpenItemRow, account: str) -> OpenItem:
    """A stored open item of ERP account ``account``; its due date is the one in force
    (moved by an extension the insurer granted, when there is one)."""
    cur = row.currency
    return OpenItem(
        erp_account=account,
        document_number=row.document_number,
        kind=ItemKind(row.kind),
        amount=Money(row.amount, cur),
        open_amount=Money(row.open_amount, cur),
        document_date=row.document_date,
        delivery_date=row.delivery_date,
        due_date=row.extended_due_date or row.due_date,
        disputed=row.disputed,
        applies_to=row.applies_to,
    )
