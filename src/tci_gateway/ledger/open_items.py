"""Open items as the domain sees them."""

from __future__ import annotations

from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.tables import OpenItemRow


def to_open_item(row: OpenItemRow, account: str) -> OpenItem:
    """A stored open item of ERP account ``account``, with the ERP's due date and the
    one the insurer granted by an extension (if any): which is in force depends on the
    policy (:meth:`~tci_gateway.domain.receivables.OpenItem.due_date_in_force`)."""
    cur = row.currency
    return OpenItem(
        erp_account=account,
        document_number=row.document_number,
        kind=ItemKind(row.kind),
        amount=Money(row.amount, cur),
        open_amount=Money(row.open_amount, cur),
        document_date=row.document_date,
        delivery_date=row.delivery_date,
        due_date=row.due_date,
        disputed=row.disputed,
        applies_to=row.applies_to,
        extended_due_date=row.extended_due_date,
    )
