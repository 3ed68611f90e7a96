"""Setup for the cover-request fault tests: the Allianz Trade sandbox served on loopback
behind a front that can slow every call down or hold the cover POSTs, a configuration
pointing at it (the scheduler with only its ``pending_requests_poll`` job), buyers
known to the sandbox, and an in-process adapter on the same sandbox to leave requests
unsent or ambiguous before the ``tci`` processes under test start."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import tenacity
from sqlalchemy import select

from tci_gateway.adapters.contract import AdapterContext, CoverAction, InsurerAdapter
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.config import load_settings
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.ledger.tables import CoverRequestRow
from tci_gateway.services import cover_requests
from tci_gateway.services.importing import import_buyers

from .claims_setup import AS_OF, ESCALATION, POLICY, TERMS, Proc, company_id, sandbox_seed
from .conftest import TCI

START = datetime.fromisoformat(AS_OF)
AMOUNT = Decimal(30000)
"""Every request asks for this much (under the sandbox's auto-approval, so decided in full)."""


class CoverFront:
    """The sandbox as the ``tci`` processes see it: every call answered ``delay``
    seconds late; with :attr:`hold` set, each cover POST waits (after :attr:`holding`
    is set) until the test releases it."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox  # tci_adapters.allianz.sandbox.AllianzSandbox
        self.credentials: Mapping[str, str] = sandbox.credentials
        self.delay = 0.0
        self.hold: threading.Event | None = None
        self.holding = threading.Event()

    @property
    def cover_path(self) -> str:
        path: str = self.sandbox.paths["covers"]
        return path

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            time.sleep(self.delay)
        hold = self.hold
        if hold is not None and request.method == "POST" and request.url.path == self.cover_path:
            self.holding.set()
            hold.wait(30)
        response: httpx.Response = self.sandbox.handle(request)
        return response


@dataclass(frozen=True)
class Request:
    """A cover request as the ledger holds it."""

    id: int
    client_reference: str
    state: str
    attempts: int
    insurer_request_ref: str | None
    outcome_status: str | None
    outcome_amount: Decimal | None
    last_error: str | None


@dataclass
class CoverWorld:
    """One test's world: the sandbox on loopback behind its front, the configuration,
    the ledger, an in-process adapter on the same sandbox, and buyers ``C0001``... each
    known to the sandbox (one per request: Allianz takes one request per company at a
    time)."""

    front: CoverFront
    server: LoopbackServer
    config: Path
    env: dict[str, str]
    url: str
    cwd: Path
    ledger: Ledger
    adapter: InsurerAdapter
    policy: Policy
    next_buyer: int = 0
    as_of: datetime = START
    """The clock of every ``tci`` process and in-process call (a test moves it so each
    trial's scheduler run has a fire time of its own)."""

    @property
    def sandbox(self) -> Any:
        return self.front.sandbox

    def close(self) -> None:
        self.adapter.close()
        self.ledger.dispose()
        self.server.close()

    # -- ``tci`` processes ------------------------------------------------------------

    def start(self, *command: str, crash_at: str | None = None) -> Proc:
        """Start ``tci -c CONFIG --as-of <as_of> --json COMMAND`` without waiting."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
        env.update(self.env)
        if crash_at is not None:
            env["TCI_CRASH_AT"] = crash_at
        name = f"tci-{time.monotonic_ns()}"
        out, err = self.cwd / f"{name}.out", self.cwd / f"{name}.err"
        args = ["-c", str(self.config), "--as-of", self.as_of.isoformat(), "--json", *command]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [str(TCI), *args], env=env, cwd=self.cwd, stdout=stdout, stderr=stderr
            )
        return Proc(popen, out, err)

    # -- requests, in process ---------------------------------------------------------

    def queue(self) -> int:
        """Queue a NEW request for the next fresh buyer (nothing sent)."""
        self.next_buyer += 1
        return cover_requests.queue_request(
            self.ledger,
            self.policy,
            buyer=f"C{self.next_buyer:04d}",
            action=CoverAction.NEW,
            amount=Money(AMOUNT, "EUR"),
            now=self.as_of,
        )

    def send_with_fault(self, request_id: int, *, after_processing: bool) -> None:
        """Send a queued request in process, answered 503 before (not stored) or after
        (stored) the sandbox processed it: the request is left ``AMBIGUOUS``."""
        fault = Fault(
            status=503,
            method="POST",
            path_prefix=self.front.cover_path,
            after_processing=after_processing,
        )
        self.sandbox.inject(fault)
        cover_requests.advance(self.ledger, request_id, self.adapter, self.policy, now=self.as_of)
        assert not self.sandbox.pending_faults

    def reconcile(self) -> None:
        """What one more ``tci cover status`` does, in process."""
        cover_requests.reconcile(
            self.ledger,
            {"allianz": self.adapter},
            {self.policy.key: self.policy},
            now=self.as_of,
        )

    def requests(self, *ids: int) -> list[Request]:
        with self.ledger.unit_of_work() as s:
            rows = s.scalars(
                select(CoverRequestRow)
                .where(CoverRequestRow.id.in_(ids))
                .order_by(CoverRequestRow.id)
            ).all()
            return [
                Request(
                    r.id,
                    r.client_reference,
                    r.state,
                    r.attempts,
                    r.insurer_request_ref,
                    r.outcome_status,
                    r.outcome_amount,
                    r.last_error,
                )
                for r in rows
            ]

    def stored(self, reference: str) -> list[dict[str, Any]]:
        """The sandbox's cover requests carrying ``reference``."""
        field = self.sandbox.book.reference_field
        with self.sandbox._lock:
            return [
                dict(r) for r in self.sandbox.book.requests.values() if r.get(field) == reference
            ]

    def decide_everything(self) -> None:
        """Let the sandbox decide every request it holds at its next call."""
        self.sandbox.advance(2 * self.sandbox.book.decision_delay.total_seconds() + 1)

    def set_decision_delay(self, seconds: float) -> None:
        with self.sandbox._lock:
            self.sandbox.book.decision_delay = timedelta(seconds=seconds)


def write_config(cwd: Path, url: str, server: LoopbackServer, credentials: dict[str, str]) -> Path:
    """The configuration (one HTTP attempt per call, so a 503 is never retried inside a
    call; the scheduler runs only ``pending_requests_poll``)."""
    ref = ", ".join(f'{k} = "{v}"' for k, v in POLICY.items())
    disabled = "".join(
        f"[scheduler.jobs.{job}]\nenabled = false\n"
        for job in ("limit_sync", "claims_run", "credit_review", "alert_digest")
    )
    text = (
        f'[database]\nurl = "{url}"\n'
        "[http]\nconnect_timeout = 2.0\nread_timeout = 20.0\ncall_deadline = 40.0\n"
        "max_attempts = 1\nbackoff_max = 0.05\n"
        f'[insurers.allianz]\nadapter = "allianz"\nbase_url = "{server.url}"\n'
        'environment = "sandbox"\n'
        f'[policies.allianz-pol]\ninsurer = "allianz"\n{TERMS}external_ref = {{ {ref} }}\n'
        f"{ESCALATION}{disabled}"
    )
    path = cwd / "tci.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_buyers(cwd: Path, buyers: int) -> Path:
    lines = ["erp_account,name,country,policy,insurer_ids"]
    for n in range(buyers):
        lines.append(f"C{n + 1:04d},Cover Buyer {n} GmbH,DE,allianz-pol,allianz:{company_id(n)}")
    path = cwd / "buyers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(url: str, cwd: Path, *, buyers: int, decision_delay: float = 60.0) -> CoverWorld:
    """Serve the sandbox (``buyers`` companies), write the configuration and the buyers,
    migrate and fill the ledger in process. The caller closes the world."""
    plugin = load_plugin("allianz")
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox(
        {"seed": sandbox_seed(buyers), "decision_delay": decision_delay}
    )
    front = CoverFront(sandbox)
    server = serve_on_loopback(front)
    credentials = dict(front.credentials)
    config = write_config(cwd, url, server, credentials)
    env = {
        f"TCI_INSURERS__ALLIANZ__CREDENTIALS__{key.upper()}": value
        for key, value in credentials.items()
    }
    policy = load_settings(config).domain_policies()["allianz-pol"]
    ledger = Ledger.from_url(url)
    upgrade(ledger.engine)
    import_buyers(
        ledger,
        write_buyers(cwd, buyers),
        policies={policy.key: policy},
        now=datetime.fromisoformat(AS_OF),
    )
    adapter = plugin.create(
        AdapterContext(
            name="allianz",
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=credentials,
            retry=RetryPolicy(max_attempts=1, wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    return CoverWorld(front, server, config, env, url, cwd, ledger, adapter, policy)
