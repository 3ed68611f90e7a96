"""``tci serve`` for the API stages: a process of its own on a free port over a stage's
ledger, its peak memory read from ``/proc``; plus the portfolio and the key it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import insert

from benchmarks.common import atradius_terms
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import api_keys
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.tables import BuyerRow, CoverDecisionRow, CoverTrancheRow, ErpAccountRow
from tci_gateway.services.limits import roll_limits

SERVE_AS_OF = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
CONFIG = """\
[database]
url = "{url}"

[api]
rate_limit_per_minute = 100000000
max_body_bytes = 268435456

[insurers.atradius]
adapter = "atradius"
base_url = "sandbox"
environment = "sandbox"

[policies.main]
insurer = "atradius"
currency = "EUR"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
timezone = "Europe/Paris"
"""
"""The stages' one policy, ``main``: the terms of :func:`benchmarks.common.atradius_terms`."""


def policies() -> dict[str, Policy]:
    return {"main": Policy("main", "atradius", atradius_terms(), {})}


def fill_limits(ledger: Ledger, n: int) -> dict[str, Policy]:
    """N buyers, each with an ERP account and an approved cover under ``main``, their
    limits in force stored (as the sync leaves them)."""
    chosen = policies()
    now = SERVE_AS_OF
    with ledger.unit_of_work() as s:
        pid = upsert_policies(s, chosen, now)["main"]
        for start in range(0, n, 20_000):
            ids = range(start, min(n, start + 20_000))
            s.execute(
                insert(BuyerRow),
                [
                    {"id": i + 1, "name": f"Buyer {i}", "country": "DE", "created_at": now,
                     "updated_at": now}
                    for i in ids
                ],
            )  # fmt: skip
            s.execute(
                insert(ErpAccountRow),
                [
                    {"account": f"C{i:07d}", "name": f"Buyer {i}", "buyer_id": i + 1,
                     "policy_id": pid, "created_at": now, "updated_at": now}
                    for i in ids
                ],
            )  # fmt: skip
            s.execute(
                insert(CoverDecisionRow),
                [
                    {
                        "id": i + 1, "policy_id": pid, "buyer_id": i + 1,
                        "insurer_cover_ref": f"R{i}", "status": "APPROVED",
                        "is_preliminary": False, "currency": "EUR",
                        "granted_amount": Decimal(1000 * (i % 500 + 5)),
                        "requested_amount": None, "effective_from": date(2026, 1, 1),
                        "effective_to": None, "pending_action": None,
                        "raw_codes": {"decisionCode": "DC01"}, "unknown_codes": [],
                        "conditions": [], "decided_at": now, "source_changed_at": now,
                        "recorded_at": now, "sync_run_id": None,
                    }
                    for i in ids
                ],
            )  # fmt: skip
            s.execute(
                insert(CoverTrancheRow),
                [
                    {"decision_id": i + 1, "position": 0,
                     "amount": Decimal(1000 * (i % 500 + 5)),
                     "valid_from": date(2026, 1, 1), "expires_on": None}
                    for i in ids
                ],
            )  # fmt: skip
    assert roll_limits(ledger, chosen, now).total_changed == n
    return chosen


def api_key(ledger: Ledger, *scopes: str) -> str:
    with ledger.unit_of_work() as session:
        _, token = api_keys.create_key(session, "bench", list(scopes), now=SERVE_AS_OF)
    return token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        """The serving process's peak resident memory (Linux ``VmHWM``)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


@contextmanager
def serve(url: str, as_of: datetime = SERVE_AS_OF) -> Iterator[Served]:
    """``tci serve`` over the ledger at ``url`` with the ``main`` policy, clock pinned."""
    with tempfile.TemporaryDirectory(prefix="tci-bench-serve-") as tmp:
        config = Path(tmp) / "tci.toml"
        config.write_text(CONFIG.format(url=url), encoding="utf-8")
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
        command = [
            sys.executable, "-m", "tci_gateway", "-c", str(config), "--as-of",
            as_of.isoformat(), "--log-level", "warning", "serve", "--port", str(port),
        ]  # fmt: skip
        log = Path(tmp) / "serve.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, cwd=tmp, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        served = Served(f"http://127.0.0.1:{port}", process)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    err = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"tci serve exited {process.returncode}: {err}")
                try:
                    if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("tci serve did not answer within 60 s")
                time.sleep(0.1)
            yield served
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
