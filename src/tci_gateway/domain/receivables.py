"""Open items from the ERP: invoices, credit notes and payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tci_gateway.domain.deadlines import effective_due_date
from tci_gateway.domain.money import Money


class ItemKind(StrEnum):
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"
    PAYMENT = "PAYMENT"


@dataclass(frozen=True, slots=True)
class OpenItem:
    """One ERP document with its amount still open.

    Amounts are positive; :attr:`signed_open` gives the effect on exposure (invoices add,
    credit notes and unapplied payments subtract). ``applies_to`` names the invoice a
    credit note or payment belongs to, when the ERP says so. ``due_date`` is the ERP's;
    ``extended_due_date`` a new due date the insurer granted. Which of the two is in
    force depends on the policy: ask :meth:`due_date_in_force`, never pick one yourself.
    """

    erp_account: str
    document_number: str
    kind: ItemKind
    amount: Money
    open_amount: Money
    document_date: date
    delivery_date: date | None = None
    due_date: date | None = None
    disputed: bool = False
    applies_to: str | None = None
    extended_due_date: date | None = None

    @property
    def currency(self) -> str:
        return self.amount.currency

    def due_date_in_force(self, extension_moves_deadlines: bool) -> date | None:
        """The due date the deadline clock counts from under a policy
        (:func:`~tci_gateway.domain.deadlines.effective_due_date`)."""
        return effective_due_date(
            self.due_date,
            self.extended_due_date,
            extension_moves_deadlines=extension_moves_deadlines,
        )

    @property
    def signed_open(self) -> Money:
        return self.open_amount if self.kind is ItemKind.INVOICE else -self.open_amount
