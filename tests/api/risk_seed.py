"""Ledgers for the risk team's endpoints, seeded through the services: the demo's ERP
files imported and the Atradius sandbox synced (docs: fixtures/demo/README.md has the
expected figures), plus helpers to add cover versions and review items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tci_gateway.domain.cover import CoverDecision, CoverStatus, LimitChangeReason, Tranche
from tci_gateway.domain.money import Money
from tci_gateway.ledger import covers as cover_repo
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow
from tci_gateway.services.importing import import_buyers, import_open_items
from tci_gateway.services.limits import refresh
from tci_gateway.services.sync import sync_limits

from .conftest import ApiHarness

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
POLICY = "atradius-main"


def seed_demo(api: ApiHarness) -> dict[str, int]:
    """The demo's buyers and open items imported, Atradius synced: buyer ids by name."""
    ctx = api.ctx
    policies = ctx.settings.domain_policies()
    import_buyers(ctx.ledger, DEMO / "buyers.csv", policies=policies, now=ctx.now())
    import_open_items(ctx.ledger, DEMO / "open_items.csv", now=ctx.now())
    report = sync_limits(
        ctx.ledger, ctx.wiring.insurer("atradius").adapter, policies[POLICY], now=ctx.now()
    )
    assert report.ok, report.errors
    with ctx.ledger.reading() as session:
        return {name: bid for bid, name in session.execute(select(BuyerRow.id, BuyerRow.name))}


def import_csv(api: ApiHarness, tmp_path: Path, text: str, name: str = "buyers.csv") -> None:
    """Import a canonical buyers file with these rows."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ctx = api.ctx
    import_buyers(ctx.ledger, path, policies=ctx.settings.domain_policies(), now=ctx.now())


def add_cover(
    api: ApiHarness,
    buyer_id: int,
    *,
    amount: str,
    effective_from: date,
    ref: str = "T-1",
    tranches: tuple[Tranche, ...] = (),
    status: CoverStatus = CoverStatus.APPROVED,
) -> int:
    """Append a decision version for a buyer under the Atradius policy and compute its
    limit in force again (as a sync does); the version's id."""
    ctx = api.ctx
    policy = ctx.settings.domain_policies()[POLICY]
    with ctx.ledger.unit_of_work() as session:
        pid = policy_ids(session)[POLICY]
        version = cover_repo.add_version(
            session,
            policy_id=pid,
            buyer_id=buyer_id,
            decision=CoverDecision(
                insurer_cover_ref=ref,
                status=status,
                currency="EUR",
                granted_amount=Money(Decimal(amount), "EUR"),
                effective_from=effective_from,
                tranches=tranches,
            ),
            recorded_at=ctx.now(),
            sync_run_id=None,
        )
        refresh(session, policy, pid, [buyer_id], now=ctx.now(), reason=LimitChangeReason.SYNC)
    return version


def add_review(api: ApiHarness, a: str, b: str, reason: str = "similar names") -> int:
    """Queue a proposed link between two ERP accounts; its id."""
    with api.ledger.unit_of_work() as session:
        assert identity_repo.add_review(session, (a, b), 92.5, reason, api.ctx.now())
        return max(r.id for r in identity_repo.reviews(session, state=None))


def buyer_of(api: ApiHarness, account: str) -> int:
    with api.ledger.reading() as session:
        found = session.scalar(
            select(ErpAccountRow.buyer_id).where(ErpAccountRow.account == account)
        )
    assert found is not None
    return found
