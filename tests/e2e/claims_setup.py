"""Setup for the claims fault tests: an Allianz Trade sandbox served on loopback behind
a front that counts (and can break) overdue filings, a configuration pointing at it,
buyers and open items with overdue invoices, and read-outs of the ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import select

from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.config import load_settings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.ledger.tables import BuyerRow, CaseActionRow, ClaimCaseRow
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import TCI

AS_OF = "2027-03-01T10:00:00+00:00"
POLICY = {"business_unit_code": "ACI", "policy_id": "7000001"}
FIRST_COMPANY = 910_000_001
HANG_SECONDS = 30.0
"""How long the loopback server holds a connection it does not answer ("hang"): longer
than the client's read timeout in a hang test (the server's close releases it)."""

TERMS = """currency = "EUR"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 15
waiting_days = 180
claim_filing_days = 360
timezone = "Europe/Paris"
"""

# Every tier notifies the insurer by D+14, within the policy's D+15 notify-by deadline.
ESCALATION = """[escalation]
default_tier = "growth"
[escalation.tiers.growth]
reminder = 7
overdue_notification = 14
claim = 90
[escalation.tiers.strategic]
reminder = 7
payment_plan = 14
claim = 90
[escalation.tiers.watch]
reminder = 7
overdue_notification = 14
claim = 90
"""

Fault = Literal["kill", "hang", "reset"]


def company_id(n: int) -> str:
    return str(FIRST_COMPANY + n)


def sandbox_seed(companies: int) -> dict[str, Any]:
    """The policy of the configuration and ``companies`` companies, in the sandbox's
    seed format (an overdue filing must name a known policy and company)."""
    return {
        "policies": [
            {
                "businessUnitCode": POLICY["business_unit_code"],
                "policyId": POLICY["policy_id"],
                "currencyCode": "EUR",
            }
        ],
        "companies": [
            {
                "companyId": company_id(n),
                "legalData": {"companyName": f"Claims Buyer {n} GmbH"},
                "address": {"countryCode": "DE"},
            }
            for n in range(companies)
        ],
    }


def _is_dead(pid: int) -> bool:
    """The process is gone (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


class Front:
    """The sandbox as a test sees it: every request answered ``delay`` seconds late,
    overdue filings (the non-idempotent POST) counted per client reference, and the
    next filing, once :attr:`fault` is set, stored by the sandbox and then:

    * ``kill``: the ``tci`` process in :attr:`victim` is killed with SIGKILL before it
      gets any answer (the connection is then dropped);
    * ``hang``: no answer until the loopback server's ``hang_seconds`` have passed
      (longer than the client's read timeout);
    * ``reset``: the connection is reset without an answer.
    """

    def __init__(self, sandbox: Any, *, delay: float = 0.0) -> None:
        self.sandbox = sandbox  # tci_adapters.allianz.sandbox.AllianzSandbox
        self.credentials: Mapping[str, str] = sandbox.credentials
        self.delay = delay
        self.fault: Fault | None = None
        self.victim: subprocess.Popen[bytes] | None = None
        self.posts: Counter[str] = Counter()
        self.killed = threading.Event()
        self._lock = threading.Lock()

    @property
    def reference_field(self) -> str:
        field: str = self.sandbox.overdues.reference_field
        return field

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            time.sleep(self.delay)
        filing = request.method == "POST" and request.url.path == self.sandbox.paths["overdues"]
        if not filing:
            answer: httpx.Response = self.sandbox.handle(request)
            return answer
        reference = str(json.loads(request.content).get(self.reference_field))
        with self._lock:
            self.posts[reference] += 1
            fault, self.fault = self.fault, None
        response: httpx.Response = self.sandbox.handle(request)
        if fault is None:
            return response
        assert response.status_code == 201, response.text  # stored: the insurer has it
        if fault == "kill":
            self._kill_victim()
        if fault == "hang":
            raise httpx.ReadTimeout("no answer in time", request=request)
        raise httpx.RemoteProtocolError("connection dropped", request=request)

    def _kill_victim(self) -> None:
        deadline = time.monotonic() + 10
        while self.victim is None:  # Popen has not returned in the test thread yet
            assert time.monotonic() < deadline, "no process to kill"
            time.sleep(0.01)
        os.kill(self.victim.pid, signal.SIGKILL)
        while not _is_dead(self.victim.pid):
            assert time.monotonic() < deadline, "the killed process did not die"
            time.sleep(0.01)
        self.killed.set()

    def filings(self, reference: str | None = None) -> list[dict[str, Any]]:
        """The overdue filings the sandbox holds (of one client reference)."""
        with self.sandbox._lock:
            records = [dict(r) for r in self.sandbox.overdues.records]
        if reference is None:
            return records
        return [r for r in records if r.get(self.reference_field) == reference]

    def filed_references(self) -> Counter[str]:
        return Counter(str(r.get(self.reference_field)) for r in self.filings())


@dataclass
class Proc:
    """A ``tci`` process started by :meth:`World.start`."""

    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            raise

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class World:
    """One test's world: the sandbox on loopback behind its front, the configuration,
    the ledger's URL and the working directory."""

    front: Front
    server: LoopbackServer
    config: Path
    env: dict[str, str]
    url: str
    cwd: Path

    def args(self, *command: str) -> list[str]:
        """``tci`` arguments: this configuration, the fixed clock, JSON output."""
        return ["-c", str(self.config), "--as-of", AS_OF, "--json", *command]

    def start(self, *command: str, crash_at: str | None = None) -> Proc:
        """Start ``tci`` without waiting (``crash_at``: ``TCI_CRASH_AT``)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
        env.update(self.env)
        if crash_at is not None:
            env["TCI_CRASH_AT"] = crash_at
        name = f"tci-{time.monotonic_ns()}"
        out, err = self.cwd / f"{name}.out", self.cwd / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [str(TCI), *self.args(*command)],
                env=env,
                cwd=self.cwd,
                stdout=stdout,
                stderr=stderr,
            )
        return Proc(popen, out, err)

    def run(self, *command: str, crash_at: str | None = None) -> Proc:
        """Run ``tci`` to its end."""
        proc = self.start(*command, crash_at=crash_at)
        proc.wait()
        return proc


def write_config(
    cwd: Path, url: str, server: LoopbackServer, front: Front, read_timeout: float
) -> tuple[Path, dict[str, str]]:
    """The configuration and the credentials as environment variables."""
    ref = ", ".join(f'{k} = "{v}"' for k, v in POLICY.items())
    text = (
        f'[database]\nurl = "{url}"\n'
        f"[http]\nconnect_timeout = 2.0\nread_timeout = {read_timeout}\n"
        f"call_deadline = {4 * read_timeout}\n"
        "max_attempts = 2\nbackoff_max = 0.05\n"
        f'[insurers.allianz]\nadapter = "allianz"\nbase_url = "{server.url}"\n'
        'environment = "sandbox"\n'
        f'[policies.allianz-pol]\ninsurer = "allianz"\n{TERMS}external_ref = {{ {ref} }}\n'
        f"{ESCALATION}"
    )
    path = cwd / "tci.toml"
    path.write_text(text, encoding="utf-8")
    env = {
        f"TCI_INSURERS__ALLIANZ__CREDENTIALS__{key.upper()}": value
        for key, value in front.credentials.items()
    }
    return path, env


TIERS = ("growth", "strategic", "watch")


def write_erp_files(cwd: Path, overdue: int, current: int = 1) -> tuple[Path, Path]:
    """Buyers and open items: ``overdue`` buyers with an invoice 15 days past due on the
    run's date (2027-02-14; the D+14 notification step is due) and one not yet due;
    ``current`` buyers whose invoices are not due. Tiers rotate growth, strategic, watch
    (a strategic buyer's D+14 step is a payment plan)."""
    buyers = ["erp_account,name,country,policy,tier,insurer_ids"]
    items = [
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to"
    ]
    for n in range(overdue + current):
        account = f"C{n + 1:04d}"
        tier = TIERS[n % len(TIERS)]
        buyers.append(
            f"{account},Claims Buyer {n} GmbH,DE,allianz-pol,{tier},allianz:{company_id(n)}"
        )
        if n < overdue:
            items.append(
                f"{account},INV-{n}-1,INVOICE,2026-12-16,2026-12-15,2027-02-14,EUR,"
                f"{1000 * (n + 12)}.00,{1000 * (n + 10)}.00,false,"
            )
        items.append(
            f"{account},INV-{n}-2,INVOICE,2027-01-20,2027-01-19,2027-03-20,EUR,5000.00,5000.00,"
            "false,"
        )
    buyers_csv, items_csv = cwd / "buyers.csv", cwd / "open_items.csv"
    buyers_csv.write_text("\n".join(buyers) + "\n", encoding="utf-8")
    items_csv.write_text("\n".join(items) + "\n", encoding="utf-8")
    return buyers_csv, items_csv


@dataclass(frozen=True)
class Action:
    case_id: int
    buyer: str
    action: str
    channel: str
    state: str
    client_reference: str
    insurer_reference: str | None
    attempts: int
    last_error: str | None


def ledger_actions(url: str) -> list[Action]:
    """Every case action in the ledger, in id order."""
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            rows = s.execute(
                select(CaseActionRow, BuyerRow.name)
                .join(ClaimCaseRow, ClaimCaseRow.id == CaseActionRow.case_id)
                .join(BuyerRow, BuyerRow.id == ClaimCaseRow.buyer_id)
                .order_by(CaseActionRow.id)
            ).all()
            return [
                Action(
                    a.case_id,
                    name,
                    a.action,
                    a.channel,
                    a.state,
                    a.client_reference,
                    a.insurer_reference,
                    a.attempts,
                    a.last_error,
                )
                for a, name in rows
            ]
    finally:
        ledger.dispose()


def ledger_cases(url: str) -> list[tuple[int, str, str]]:
    """Every case as ``(id, buyer name, state)``, in id order."""
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            rows = s.execute(
                select(ClaimCaseRow.id, BuyerRow.name, ClaimCaseRow.state)
                .join(BuyerRow, BuyerRow.id == ClaimCaseRow.buyer_id)
                .order_by(ClaimCaseRow.id)
            ).all()
            return [(i, name, state) for i, name, state in rows]
    finally:
        ledger.dispose()


def api_actions(url: str) -> list[Action]:
    return [a for a in ledger_actions(url) if a.channel == "API"]


def build(
    url: str,
    cwd: Path,
    *,
    overdue: int,
    current: int = 1,
    delay: float = 0.0,
    read_timeout: float = 10.0,
) -> World:
    """Serve a sandbox knowing every buyer's company, write the configuration and the
    ERP files, and prepare the ledger in this process with the services behind ``tci db
    upgrade``, ``tci import buyers`` and ``tci import receivables`` (as commands they
    would cost 2 s each; the claims runs under test are real ``tci`` processes).
    ``read_timeout`` is the client's (a hang test sets it below :data:`HANG_SECONDS`;
    the default leaves room for a loaded machine). The caller closes ``world.server``."""
    assert delay < read_timeout
    plugin = load_plugin("allianz")
    assert plugin.create_sandbox is not None
    front = Front(plugin.create_sandbox({"seed": sandbox_seed(overdue + current)}), delay=delay)
    server = serve_on_loopback(front, hang_seconds=HANG_SECONDS)
    config, env = write_config(cwd, url, server, front, read_timeout)
    buyers, items = write_erp_files(cwd, overdue, current)
    now = datetime.fromisoformat(AS_OF)
    ledger = Ledger.from_url(url)
    try:
        upgrade(ledger.engine)
        policies = load_settings(config).domain_policies()
        import_buyers(ledger, buyers, policies=policies, now=now)
        import_open_items(ledger, items, now=now)
    finally:
        ledger.dispose()
    return World(front, server, config, env, url, cwd)
