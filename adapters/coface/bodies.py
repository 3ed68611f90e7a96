"""Bodies the adapter sends and what their answers mean (pure; SYNTHETIC shapes).

Credit-limit orders (PRODUCT service): one ``POST`` with an ``action`` from CofaNet's
bulk actions (order / update / cancel / stop, L), configurable per cover action:
``{easyNumber, action, amount, currency, customerReference}``. The answer is the order:
201 with a decision when decided at once, 202 while it is in progress.

Overdue declarations (OVERDUE service): ``{easyNumber, customerReference, type,
firstDefaultDate, currency, totalOutstanding, invoices: [{invoiceNumber, issueDate,
dueDate, newDueDate?, amount, outstandingAmount, currency}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tci_gateway.adapters.contract import (
    CoverAction,
    CoverRequest,
    OverdueKind,
    OverdueNotice,
    OverdueResult,
)
from tci_gateway.domain.money import total

from .mapping import map_overdue_status
from .wire import OverdueRecord


class Unsupported(ValueError):
    """A request this adapter will not send; the message says why."""


def order_body(request: CoverRequest, actions: Mapping[CoverAction, str]) -> dict[str, Any]:
    """The order body for ``request``; raises :class:`Unsupported` for a cover type
    other than a credit limit, an action with no Coface action configured, or a missing
    amount."""
    if request.cover_type != "CREDIT_LIMIT":
        raise Unsupported(f"Coface credit-limit orders only: no {request.cover_type} product")
    action = actions.get(request.action)
    if action is None:
        raise Unsupported(f"no Coface action is configured for {request.action} (option actions)")
    body: dict[str, Any] = {
        "easyNumber": request.insurer_buyer_id,
        "action": action,
        "customerReference": request.client_reference,
    }
    if request.action is not CoverAction.CANCEL:
        if request.amount is None:
            raise Unsupported(f"a {request.action} request needs an amount")
        body["amount"] = request.amount.amount
        body["currency"] = request.amount.currency
    return body


def overdue_body(notice: OverdueNotice, overdue_types: Mapping[OverdueKind, str]) -> dict[str, Any]:
    """The declaration body for ``notice``; raises :class:`Unsupported` for a kind with
    no Coface type configured, no invoices, or invoices in several currencies."""
    kind = overdue_types.get(notice.kind)
    if kind is None:
        raise Unsupported(
            f"Coface takes {notice.kind} notices only when option overdue_types names a type "
            "for it; file it with the insurer by hand"
        )
    if not notice.invoices:
        raise Unsupported("an overdue notice needs at least one invoice")
    currencies = {invoice.outstanding.currency for invoice in notice.invoices}
    if len(currencies) != 1:
        raise Unsupported(f"one currency per notice, got {', '.join(sorted(currencies))}")
    currency = currencies.pop()
    invoices: list[dict[str, Any]] = []
    for invoice in notice.invoices:
        item: dict[str, Any] = {
            "invoiceNumber": invoice.number,
            "issueDate": invoice.issue_date.isoformat(),
            "dueDate": invoice.original_due_date.isoformat(),
            "amount": invoice.amount.amount,
            "outstandingAmount": invoice.outstanding.amount,
            "currency": invoice.outstanding.currency,
        }
        if invoice.new_due_date is not None:
            item["newDueDate"] = invoice.new_due_date.isoformat()
        invoices.append(item)
    outstanding = total((invoice.outstanding for invoice in notice.invoices), currency)
    return {
        "easyNumber": notice.insurer_buyer_id,
        "customerReference": notice.client_reference,
        "type": kind,
        "firstDefaultDate": notice.first_default_date.isoformat(),
        "currency": currency,
        "totalOutstanding": outstanding.amount,
        "invoices": invoices,
    }


def overdue_result(
    record: OverdueRecord, client_reference: str, overrides: Mapping[str, str] | None = None
) -> OverdueResult:
    """An overdue record as an :class:`OverdueResult`: an unknown raw status reads as
    SUBMITTED (the insurer holds the notice), the raw status kept beside it."""
    status = map_overdue_status(record.status, overrides) or "SUBMITTED"
    return OverdueResult(
        client_reference=record.customerReference or client_reference,
        insurer_reference=record.overdueId,
        status=status,
        raw_status=record.status,
    )
