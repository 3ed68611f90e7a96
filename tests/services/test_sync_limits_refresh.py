"""The sync stores each buyer's limit from the histories a batch holds, unless more of
the buyer's records come later in the run: a limit changes at most once per run, to the
limit of the buyer's whole history (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerIdentifierRow, LimitChangeRow, LimitInForceRow
from tci_gateway.services import sync as sync_service
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()


def portfolio() -> FakeInsurer:
    """Buyer 2's cover and the reduction that replaced it at positions 1 and 2: in two
    batches of two records."""
    return FakeInsurer(
        items=[
            entry("1", decision("1000")),
            entry("2", decision("9000", ref="C2", start=date(2026, 1, 1))),
            entry("2", decision("4000", ref="C2", start=date(2026, 6, 1))),
            entry("3", decision("3000")),
        ]
    )


def limits(ledger: Ledger) -> dict[str, tuple[Decimal, list[Decimal]]]:
    """Per insurer id: the limit in force and the changes logged, in order."""
    with ledger.unit_of_work() as s:
        ids = dict(s.execute(select(BuyerIdentifierRow.buyer_id, BuyerIdentifierRow.value)).all())
        stored = {ids[row.buyer_id]: row.amount for row in s.scalars(select(LimitInForceRow))}
        changes: dict[str, list[Decimal]] = {}
        for row in s.scalars(select(LimitChangeRow).order_by(LimitChangeRow.id)):
            changes.setdefault(ids[row.buyer_id], []).append(row.amount)
    return {value: (amount, changes.get(value, [])) for value, amount in stored.items()}


@pytest.mark.parametrize("deferred_max", [50_000, 0], ids=["held", "too-many-to-hold"])
def test_a_buyer_across_batches_gets_one_limit_change(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, deferred_max: int
) -> None:
    monkeypatch.setattr(sync_service, "BATCH", 2)
    monkeypatch.setattr(sync_service, "DEFERRED_MAX", deferred_max)
    report = sync_limits(ledger, portfolio(), POLICY, now=NOW)
    assert (report.fetched, report.written) == (4, 4)
    assert limits(ledger) == {
        "1": (Decimal(1000), [Decimal(1000)]),
        "2": (Decimal(4000), [Decimal(4000)]),  # never the 9,000 it replaced
        "3": (Decimal(3000), [Decimal(3000)]),
    }
    # the same portfolio again changes nothing
    sync_limits(ledger, portfolio(), POLICY, now=NOW)
    assert [len(changes) for _, changes in limits(ledger).values()] == [1, 1, 1]
