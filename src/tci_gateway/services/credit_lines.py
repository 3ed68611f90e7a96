"""The credit line a buyer may use under a policy: the insured part (the insurer's limit
in force when it has a decision on the buyer, else the DCL line the gateway granted)
plus internal and provisional (uninsured) lines (:class:`~tci_gateway.domain.credit.
CreditLine`; :func:`~tci_gateway.domain.credit_line.credit_line` adds them up).

Lines are effective-dated (:mod:`tci_gateway.ledger.credit`): a change ends the row in
force and adds one, so the history of who approved what, when and why is kept."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tci_gateway.domain.credit import CreditLine
from tci_gateway.domain.credit_line import credit_line
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import credit as repo
from tci_gateway.ledger.credit_tables import LineKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.services.cover_requests import find_buyer


def credit_lines(
    session: Session, day: date, buyer_ids: Collection[int] | None = None
) -> dict[tuple[int, int], CreditLine]:
    """The credit line of every (buyer, policy) with a gateway line or an insurer
    decision on ``day`` (of ``buyer_ids`` only, when given), in the policy currency."""
    currencies = repo.policy_currencies(session)
    insurer = repo.insurer_limits(session, buyer_ids)
    lines: dict[tuple[int, int], list[tuple[str, Decimal]]] = defaultdict(list)
    for row in repo.lines_in_force(session, day, buyer_ids):
        lines[(row.buyer_id, row.policy_id)].append((row.kind.value, row.amount))
    keys = sorted(set(insurer) | set(lines))
    return {
        key: credit_line(currencies[key[1]], insurer.get(key), lines.get(key, ())) for key in keys
    }


@dataclass(frozen=True)
class LineChange:
    """An internal line set (or ended, ``amount`` 0) and what it replaced."""

    buyer_id: int
    buyer_name: str
    policy: str
    amount: Decimal
    currency: str
    effective_from: date
    replaced: Decimal | None
    line: CreditLine | None


def set_internal_line(
    ledger: Ledger,
    *,
    buyer: str,
    policy: Policy,
    amount: Money,
    by: str,
    reason: str,
    now: datetime,
) -> LineChange:
    """Set the internal (uninsured) line a risk manager approved for ``buyer`` under
    ``policy`` from today (the policy's business date): the line in force is ended and
    the new one added; 0 ends it. ``by`` and ``reason`` are kept with the row."""

    def bad(column: str, why: str) -> InputError:
        return InputError([RecordError("credit line", None, column, why)])

    if not reason.strip():
        raise bad("reason", "an internal line needs a reason")
    if amount.currency != policy.terms.currency:
        raise bad("amount", f"policy {policy.key} is in {policy.terms.currency}")
    if amount.amount < 0:
        raise bad("amount", "the amount cannot be negative")
    day = policy.terms.business_date(now)
    with ledger.unit_of_work() as session:
        buyer_id, name = find_buyer(session, buyer)
        policy_id = upsert_policies(session, {policy.key: policy}, now)[policy.key]
        before = [
            r
            for r in repo.lines_in_force(session, day, [buyer_id])
            if r.policy_id == policy_id and r.kind is LineKind.INTERNAL
        ]
        repo.set_line(
            session,
            buyer_id=buyer_id,
            policy_id=policy_id,
            kind=LineKind.INTERNAL,
            amount=amount.amount,
            currency=amount.currency,
            day=day,
            approved_by=by,
            reason=reason,
            now=now,
        )
        session.flush()
        line = credit_lines(session, day, [buyer_id]).get((buyer_id, policy_id))
        return LineChange(
            buyer_id=buyer_id,
            buyer_name=name,
            policy=policy.key,
            amount=amount.amount,
            currency=amount.currency,
            effective_from=day,
            replaced=before[0].amount if before else None,
            line=line,
        )
