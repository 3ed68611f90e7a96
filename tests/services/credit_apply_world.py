"""A credit application's world for the service tests: the Atradius sandbox behind the
policy, the Creditsafe and D&B sandboxes in process (seeded with their contract
companies, the Creditsafe clock at the test's date), a buyer known to all three, and
pre-screen options with a small scorecard of the two bureau figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import tenacity

from tci_gateway.adapters.contract import (
    AdapterContext,
    Assessment,
    BureauAdapter,
    InsurerAdapter,
)
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.scorecard import Factor
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services.behaviour import BehaviourOptions
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.importing import import_buyers

from ..erp.conftest import make_policy
from .sandboxed import sandboxed_insurer

NOW = datetime.fromisoformat("2026-11-30T09:00:00+00:00")
CREDITSAFE_ID = "GB-0-09990101"
DUNS = "219900101"
D = Decimal


def dcl_policy(limit: int = 30000) -> Policy:
    base = make_policy()
    terms = dataclasses.replace(base.terms, discretionary_limit=Money(D(limit), "EUR"))
    return Policy(
        base.key,
        base.insurer,
        terms,
        {"customer_id": "CONTRACT-C1", "policy_id": "CONTRACT-P1"},
    )


POLICY = dcl_policy()
FACTORS = (
    Factor("Bureau score", "bureau.creditsafe.score", D(60), ((D(20), D(0)), (D(80), D(100)))),
    Factor(
        "Failure percentile",
        "bureau.dnb.failure_score",
        D(40),
        ((D(10), D(0)), (D(90), D(100))),
    ),
)
"""Creditsafe 64 -> 73.33 points, D&B 81 -> 88.75: score 79.49."""


def options(**changes: Any) -> CreditOptions:
    base = CreditOptions(
        behaviour=BehaviourOptions(),
        factors=FACTORS,
        threshold=D(60),
        tier_prescreen={"watch": False},
        bureau_id_schemes={"dnb": "DUNS"},
    )
    return dataclasses.replace(base, **changes)


def sandboxed_bureau(name: str, now: datetime = NOW) -> tuple[BureauAdapter, Any]:
    plugin = load_plugin(name)
    assert plugin.create_sandbox is not None
    sandbox: Any = plugin.create_sandbox({})
    sandbox.clock = lambda: now
    sandbox.seed_bureau_fixture()
    adapter = plugin.create(
        AdapterContext(
            name=name,
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            retry=RetryPolicy(max_attempts=1, wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    assert isinstance(adapter, BureauAdapter)
    return adapter, sandbox


@dataclass
class CreditWorld:
    ledger: Ledger
    insurer: InsurerAdapter
    insurer_sandbox: Any
    bureaus: dict[str, BureauAdapter]
    bureau_sandboxes: dict[str, Any]

    @property
    def policies(self) -> dict[str, Policy]:
        return {POLICY.key: POLICY}

    def cover_posts(self) -> dict[str, int]:
        """The cover requests that reached the insurer, per client reference."""
        return dict(self.insurer_sandbox.posts_per_reference)

    def insurer_calls(self) -> int:
        return sum(self.insurer_sandbox.received.values())

    def set_tier(self, account_buyer_id: int, tier: str) -> None:
        with self.ledger.unit_of_work() as s:
            s.get_one(BuyerRow, account_buyer_id).tier = tier

    def close(self) -> None:
        self.insurer.close()
        for b in self.bureaus.values():
            b.close()


def build(ledger: Ledger, tmp_path: Path) -> Iterator[CreditWorld]:
    insurer, insurer_sandbox, _ = sandboxed_insurer("atradius")
    bureaus, sandboxes = {}, {}
    for name in ("creditsafe", "dnb"):
        bureaus[name], sandboxes[name] = sandboxed_bureau(name)
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country,duns,insurer_ids\n"
        f"D1,Contract Delta GmbH,DE,{DUNS},atradius:990004\n"
        "N1,Nobody Ltd,GB,,\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={POLICY.key: POLICY}, now=NOW)
    world = CreditWorld(ledger, insurer, insurer_sandbox, bureaus, sandboxes)
    store_creditsafe(ledger, 1, date(2026, 7, 1))
    yield world
    world.close()


def store_creditsafe(ledger: Ledger, buyer_id: int, as_of: date, score: str = "55") -> None:
    """An earlier Creditsafe assessment (what `tci buyers resolve` stored): it names the
    buyer's connectId there."""
    with ledger.unit_of_work() as s:
        identity_repo.store_assessment(
            s,
            buyer_id,
            Assessment("creditsafe", CREDITSAFE_ID, None, "A-E / 0-100", score, "C", as_of=as_of),
            NOW,
        )
