"""A buyer's credit line under one policy (docs/credit.md, "Credit line").

The line a buyer may use is the insured part plus the uninsured lines a risk manager
approved::

    total = insured + internal + provisional
    insured = the insurer's limit in force when it has a decision on the buyer
              (even 0 after a refusal), else the DCL line the gateway granted

Exposure above the total is "over the credit line" (``over_credit_line`` alert), beside
the existing alerts on the insured limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tci_gateway.domain.credit import CreditLine

ZERO = Decimal(0)

LINE_KINDS = ("dcl", "internal", "provisional")


def credit_line(
    currency: str, insurer_limit: Decimal | None, lines: Iterable[tuple[str, Decimal]]
) -> CreditLine:
    """The credit line from the insurer's limit in force (``None``: no decision) and the
    gateway's lines in force, as ``(kind, amount)`` with kind ``dcl``, ``internal`` or
    ``provisional``; several lines of a kind add up. An unknown kind or a negative
    amount is an error (a line is never negative)."""
    sums = dict.fromkeys(LINE_KINDS, ZERO)
    for kind, amount in lines:
        if kind not in sums:
            raise ValueError(f"unknown credit line kind {kind!r}")
        if amount < 0:
            raise ValueError(f"a {kind} line cannot be negative ({amount})")
        sums[kind] += amount
    if insurer_limit is not None and insurer_limit < 0:
        raise ValueError(f"an insurer limit cannot be negative ({insurer_limit})")
    return CreditLine(
        currency=currency,
        insurer_limit=insurer_limit,
        dcl=sums["dcl"],
        internal=sums["internal"],
        provisional=sums["provisional"],
    )


def over_line(exposure: Decimal, line: CreditLine) -> Decimal:
    """How far ``exposure`` (in the line's currency) exceeds the line's total; 0 when
    within it."""
    return max(ZERO, exposure - line.total)
