"""The covered-limits export for the ERP: one row per buyer and policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from tci_gateway.domain.cover import covered_limit, in_force
from tci_gateway.domain.money import minor_units
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.covers import versions_by_buyer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerRow, CoverDecisionRow, ErpAccountRow, PolicyRow

LIMIT_COLUMNS = (
    "erp_accounts",
    "buyer_id",
    "buyer_name",
    "insurer",
    "policy",
    "status",
    "covered_amount",
    "currency",
    "valid_from",
    "valid_to",
    "decision_reference",
    "changed_at",
)


@dataclass(frozen=True)
class LimitRow:
    erp_accounts: tuple[str, ...]
    buyer_id: int
    buyer_name: str
    insurer: str
    policy: str
    status: str
    covered_amount: Decimal
    currency: str
    valid_from: date | None
    valid_to: date | None
    decision_reference: str | None
    changed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "erp_accounts": ";".join(self.erp_accounts),
            "buyer_id": self.buyer_id,
            "buyer_name": self.buyer_name,
            "insurer": self.insurer,
            "policy": self.policy,
            "status": self.status,
            "covered_amount": self.covered_amount,
            "currency": self.currency,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "decision_reference": self.decision_reference,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


NO_COVER = "NO_COVER"


def _no_cover(buyer_id: int, name: str, accounts: list[str], key: str, policy: Policy) -> LimitRow:
    """An ERP account's buyer with no decision at all: the ERP should see a zero limit."""
    return LimitRow(
        erp_accounts=tuple(sorted(accounts)),
        buyer_id=buyer_id,
        buyer_name=name,
        insurer=policy.insurer,
        policy=key,
        status=NO_COVER,
        covered_amount=Decimal(0).quantize(Decimal(1).scaleb(-minor_units(policy.terms.currency))),
        currency=policy.terms.currency,
        valid_from=None,
        valid_to=None,
        decision_reference=None,
        changed_at=None,
    )


@dataclass(frozen=True)
class LimitExport:
    rows: list[LimitRow]
    cursor: int
    """Give it back as ``changed_since`` next time to get only what changed since."""


def export_limits(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    changed_since: int | None = None,
) -> LimitExport:
    """:func:`covered_limits`, full or only the buyers whose cover changed after the
    cursor ``changed_since`` (the ERP keeps the cursor it got last time)."""
    with ledger.unit_of_work() as session:
        cursor = session.scalar(select(func.max(CoverDecisionRow.id))) or 0
        changed: set[tuple[str, int]] | None = None
        if changed_since is not None:
            changed = {
                (key, buyer_id)
                for key, buyer_id in session.execute(
                    select(PolicyRow.key, CoverDecisionRow.buyer_id)
                    .join(PolicyRow, PolicyRow.id == CoverDecisionRow.policy_id)
                    .where(CoverDecisionRow.id > changed_since, CoverDecisionRow.id <= cursor)
                    .distinct()
                )
            }
    rows = covered_limits(ledger, policies, now=now, only=changed)
    return LimitExport(rows, cursor)


def covered_limits(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    *,
    now: datetime,
    only: set[tuple[str, int]] | None = None,
) -> list[LimitRow]:
    """The limit in force today (in each policy's time zone) for every buyer with a
    decision, with the ERP accounts that map to the buyer under that policy, plus a
    ``NO_COVER`` row for each buyer that has ERP accounts under the policy but no decision.
    ``only`` restricts the rows to those (policy key, buyer id) pairs."""
    rows: list[LimitRow] = []
    with ledger.unit_of_work() as session:
        ids = policy_ids(session)
        names = {bid: name for bid, name in session.execute(select(BuyerRow.id, BuyerRow.name))}
        accounts: dict[tuple[int, int | None], list[str]] = {}
        for account, buyer_id, pid in session.execute(
            select(ErpAccountRow.account, ErpAccountRow.buyer_id, ErpAccountRow.policy_id)
        ):
            accounts.setdefault((buyer_id, pid), []).append(account)
        for key, policy in sorted(policies.items()):
            if key not in ids:
                continue
            day = policy.terms.business_date(now)
            history = versions_by_buyer(session, ids[key])
            for (buyer_id, pid), names_ in sorted(accounts.items()):
                if only is not None:
                    break
                if pid == ids[key] and buyer_id not in history:
                    rows.append(_no_cover(buyer_id, names.get(buyer_id, "?"), names_, key, policy))
            for buyer_id, versions in history.items():
                if only is not None and (key, buyer_id) not in only:
                    continue
                version = in_force(versions, day)
                if version is None:
                    continue
                decision = version.decision
                limit = covered_limit(decision, day)
                assert limit is not None
                expiries = [
                    t.expires_on for t in decision.tranches if t.expires_on and t.valid_on(day)
                ]
                ends = [d for d in (decision.effective_to, min(expiries, default=None)) if d]
                rows.append(
                    LimitRow(
                        erp_accounts=tuple(sorted(accounts.get((buyer_id, ids[key]), []))),
                        buyer_id=buyer_id,
                        buyer_name=names.get(buyer_id, "?"),
                        insurer=policy.insurer,
                        policy=key,
                        status=decision.status.value,
                        covered_amount=limit.amount.quantize(
                            Decimal(1).scaleb(-minor_units(limit.currency))
                        ),
                        currency=limit.currency,
                        valid_from=decision.effective_from,
                        valid_to=min(ends) if ends else None,
                        decision_reference=decision.insurer_cover_ref,
                        changed_at=version.recorded_at,
                    )
                )
    return sorted(rows, key=lambda r: (r.policy, r.buyer_name, r.buyer_id))
