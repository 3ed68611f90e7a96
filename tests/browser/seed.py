"""The ledger the browser tests read: the demo's buyers and open items imported and the
Atradius sandbox synced (``tests/api/risk_seed.py``), the claims run (Van Dijk's overdue
notification waits for a manual filing), two proposed identity links, a cover request
queued, and three people: an analyst made with ``tci users create NAME --role R
--password-stdin`` (started beside the seeding), a viewer and a manager.

Seeded in this process through the services at the API tests' clock (2026-12-01 12:00
UTC), then served by ``tci serve`` on the real clock: the sandbox decides a cover
request a few seconds after it is sent, and the relay polls it every second.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tci_gateway.adapters.contract import CoverAction
from tci_gateway.domain.money import Money
from tci_gateway.ledger import users
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services import case_views, cover_requests
from tci_gateway.services.nightly import NightlyCycle, NightlyOptions

from ..api.conftest import SANDBOX_CONFIG, ApiHarness, make_harness
from ..api.risk_seed import POLICY, add_review, seed_demo
from ..e2e.conftest import REPO, TCI

PASSWORD = "correct horse battery staple"
LEDGER = "ledger.db"
DECISION_DELAY = 3
"""Seconds the Atradius sandbox of the served process takes to decide a cover request."""
VAN_DIJK = "Bouwbedrijf Van Dijk B.V."
"""Overdue: the claims run left its overdue notification waiting for a manual filing."""
REVIEWS = (("C1004", "C1009"), ("C1002", "C1008"))
"""Proposed identity links: the first is accepted by a test, the second is refused ones'."""
SEEDED_REQUEST = ("C1008", "45000.00")
"""A cover request queued before the service starts (its relay sends it): the cover
request pages have one to show whichever test runs first."""
HARBOUR = "Harbour Freight Supplies Ltd"
"""The buyer whose cover a test asks the sandbox to increase from the buyer page."""
CLI_PERSON = ("anna", "analyst")
"""Made with ``tci users create`` (the README's way); the others in this process."""
PEOPLE = {"vera": "viewer", "max": "manager"}


@dataclass(frozen=True)
class Seeded:
    """What the served ledger holds, by name."""

    config: Path
    url: str
    buyers: dict[str, int]
    cases: dict[str, int]
    reviews: tuple[int, ...]

    def as_json(self) -> str:
        return json.dumps(
            {"buyers": self.buyers, "cases": self.cases, "reviews": list(self.reviews)}
        )


def write_config(workdir: Path, url: str) -> Path:
    """``config/sandbox.toml`` on ``url``, its seed paths absolute, the sandbox deciding
    in :data:`DECISION_DELAY` seconds and the relay polling every second."""
    text = SANDBOX_CONFIG.read_text(encoding="utf-8")
    text = text.replace('"../fixtures/', f'"{REPO / "fixtures"}/')
    text = text.replace('url = "sqlite:///tci-sandbox.db"', f'url = "{url}"')
    marker = 'seed = "' + str(REPO / "fixtures" / "demo" / "atradius_sandbox.json") + '"'
    assert marker in text, "config/sandbox.toml changed: the Atradius sandbox seed moved"
    text = text.replace(marker, f"{marker}\ndecision_delay = {DECISION_DELAY}")
    text += "\n[api]\ncover_poll_seconds = 1\n"
    path = workdir / "tci.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run_claims(harness: ApiHarness) -> None:
    """`tci claims run` at the harness's clock (as tests/api/test_cases_api.py)."""
    ctx = harness.ctx
    policies = ctx.settings.domain_policies()
    options = NightlyOptions(claims=ctx.wiring.claims_options(ctx.ledger))
    adapters = {"atradius": ctx.wiring.insurer("atradius").adapter}
    cycle = NightlyCycle(
        ctx.ledger, {POLICY: policies[POLICY]}, adapters, now=ctx.now(), options=options
    )
    report = cycle.claims()
    assert report is not None and report.ok, report


def start_cli_person(config: Path, workdir: Path, name: str, role: str) -> subprocess.Popen[str]:
    """Start ``tci users create NAME --role ROLE --password-stdin``, as the README says
    (it runs while the ledger is seeded: a ``tci`` start costs seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    command = [str(TCI), "-c", str(config), "users", "create", name, "--role", role]
    process = subprocess.Popen(
        [*command, "--password-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=env,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(PASSWORD + "\n")
    process.stdin.close()
    return process


def seed(workdir: Path) -> Seeded:
    """Build the ledger and the configuration in ``workdir``."""
    url = f"sqlite:///{workdir / LEDGER}"
    ledger = Ledger.from_url(url)
    try:
        upgrade(ledger.engine)
    finally:
        ledger.dispose()
    config = write_config(workdir, url)
    cli_person = start_cli_person(config, workdir, *CLI_PERSON)
    harness = make_harness(url)
    try:
        buyers = seed_demo(harness)
        _run_claims(harness)
        reviews = tuple(add_review(harness, a, b, "same street address") for a, b in REVIEWS)
        account, amount = SEEDED_REQUEST
        cover_requests.queue_request(
            harness.ledger,
            harness.ctx.settings.domain_policies()[POLICY],
            buyer=account,
            action=CoverAction.INCREASE,
            amount=Money(Decimal(amount), "EUR"),
            now=harness.ctx.now(),
        )
        cases = {c.buyer_name: c.id for c in case_views.list_cases(harness.ledger, state=None)}
        with harness.ledger.unit_of_work() as session:
            assert session.scalar(select(BuyerRow.id).where(BuyerRow.name == VAN_DIJK))
            for name, role in PEOPLE.items():
                users.create_user(session, name, role, PASSWORD, now=harness.ctx.now())
    finally:
        harness.ctx.wiring.close()
        harness.ledger.dispose()
    assert cli_person.stdout is not None
    output = cli_person.stdout.read()
    assert cli_person.wait(60) == 0, output
    return Seeded(config, url, buyers, cases, reviews)


def seeded_copy(shared: Path, workdir: Path) -> Seeded:
    """The seeded ledger, built once in ``shared`` whoever asks first (pytest's xdist
    workers share that folder; a lock makes the others wait), copied to ``workdir``
    with a configuration of its own: each worker serves and changes its own copy."""
    shared.mkdir(parents=True, exist_ok=True)
    done = shared / "seeded.json"
    with (shared / "seed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(seed(shared).as_json(), encoding="utf-8")
    found = json.loads(done.read_text(encoding="utf-8"))
    source = sqlite3.connect(shared / LEDGER)
    target = sqlite3.connect(workdir / LEDGER)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    url = f"sqlite:///{workdir / LEDGER}"
    return Seeded(
        write_config(workdir, url),
        url,
        found["buyers"],
        found["cases"],
        tuple(found["reviews"]),
    )
