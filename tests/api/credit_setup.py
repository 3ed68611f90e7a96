"""An API over a credit world: the sandbox configuration with a discretionary credit limit
of EUR 30,000 on ``atradius-main``, a two-factor scorecard of the bureau figures
(Creditsafe 64 -> 73.33 points, D&B failure percentile 81 -> 88.75: score 79.49), the
Creditsafe and D&B sandboxes in process (their contract companies, the Creditsafe clock
at the test's date), and two buyers: ``D1`` known to both bureaus and to Atradius (no
limit synced, so no named limit), ``N1`` known to none (its applications go to a
person)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tci_gateway.config import Settings
from tci_gateway.config.credit import FactorSettings
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services.importing import import_buyers
from tci_gateway.wiring import BureauConnection

from ..services.credit_apply_world import DUNS, sandboxed_bureau, store_creditsafe
from .conftest import ApiHarness, make_harness, sandbox_settings

D = Decimal
POLICY = "atradius-main"
DCL = D(30000)


def credit_settings(database_url: str) -> Settings:
    settings = sandbox_settings(database_url)
    settings.policies[POLICY].discretionary_limit = DCL
    settings.bureaus.pop("gleif", None)
    credit = settings.credit
    credit.progressive.enabled = False
    credit.scorecard.factors = [
        FactorSettings(
            name="Bureau score",
            input="bureau.creditsafe.score",
            weight=D(60),
            points=[(D(20), D(0)), (D(80), D(100))],
        ),
        FactorSettings(
            name="Failure percentile",
            input="bureau.dnb.failure_score",
            weight=D(40),
            points=[(D(10), D(0)), (D(90), D(100))],
        ),
    ]
    return settings


def seed_buyers(api: ApiHarness, tmp_path: Path) -> dict[str, int]:
    """``D1`` and ``N1`` imported under the policy; their ledger ids by account."""
    ctx = api.ctx
    path = tmp_path / "buyers.csv"
    path.write_text(
        "erp_account,name,country,policy,duns,insurer_ids\n"
        f"D1,Contract Delta GmbH,DE,{POLICY},{DUNS},atradius:990004\n"
        f"N1,Nobody Ltd,GB,{POLICY},,\n",
        encoding="utf-8",
    )
    import_buyers(ctx.ledger, path, policies=ctx.settings.domain_policies(), now=ctx.now())
    with ctx.ledger.reading() as session:
        ids = {name: bid for bid, name in session.execute(select(BuyerRow.id, BuyerRow.name))}
    found = {"D1": ids["Contract Delta GmbH"], "N1": ids["Nobody Ltd"]}
    store_creditsafe(ctx.ledger, found["D1"], ctx.now().date().replace(month=6))
    return found


@pytest.fixture
def credit_api(database_url: str) -> Iterator[ApiHarness]:
    """The API of the module docstring (bureaus in process, no network)."""
    harness = make_harness(database_url, settings=credit_settings(database_url))
    wiring = harness.ctx.wiring
    for name in ("creditsafe", "dnb"):
        adapter, sandbox = sandboxed_bureau(name, harness.ctx.now())
        wiring.bureau_connections[name] = BureauConnection(adapter, sandbox)
    with harness.client:
        yield harness
    wiring.close()
    harness.ledger.dispose()
