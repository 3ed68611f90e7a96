"""A buyers file's tier column: recorded in the tier history, never over a pinned tier."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow, TierChangeRow
from tci_gateway.services.importing import import_buyers
from tci_gateway.services.tiers import pin_tier

from .conftest import NOW

HEADER = "erp_account,name,country,policy,tier\n"


def _file(tmp_path: Path, tier: str) -> Path:
    path = tmp_path / f"buyers-{tier}.csv"
    path.write_text(HEADER + f"C1,Acme GmbH,DE,,{tier}\n", encoding="utf-8")
    return path


def _tier(ledger: Ledger) -> tuple[str | None, list[tuple[str, str]]]:
    with ledger.unit_of_work() as s:
        tier = s.scalars(select(BuyerRow.tier)).one()
        history = [
            (r.source, r.new_tier)
            for r in s.scalars(select(TierChangeRow).order_by(TierChangeRow.id))
        ]
    return tier, history


def test_file_tier_is_history_and_a_pin_wins(
    ledger: Ledger, policies: dict[str, Policy], tmp_path: Path
) -> None:
    import_buyers(ledger, _file(tmp_path, "strategic"), policies=policies, now=NOW)
    assert _tier(ledger) == ("strategic", [("import", "strategic")])

    pin_tier(
        ledger,
        "C1",
        "watch",
        by="rita",
        reason="legal dispute",
        now=NOW,
        known_tiers={"strategic", "growth", "watch"},
    )
    import_buyers(ledger, _file(tmp_path, "growth"), policies=policies, now=NOW)
    assert _tier(ledger) == ("watch", [("import", "strategic"), ("pin", "watch")])
