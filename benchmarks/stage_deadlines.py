"""Deadline scan over N open items (default 1,000,000; 100,000 buyers, one ERP account
each) against one hand-written SQL query that finds the same due actions. Run:
``python -m benchmarks deadline_scan --rows N --buyers M --backend sqlite|postgresql``.

The seed (not timed) is one policy, its buyers of mixed tiers (strategic, growth,
watch, none) and their open items: mostly invoices, some credit notes and payments, due
over the last ~400 days and the next 60, some paid (open amount 0), some with an
insurer-granted extension. The floor computes each buyer's oldest overdue effective due
date in SQL and derives the due actions with CASE expressions on threshold dates
computed in Python (the same SQL text on SQLite and PostgreSQL). The stage raises unless
both find the same set of (buyer, action), compared streamed (:class:`Tally`: counts
and an order-free digest), so that neither side holds every overdue buyer.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, bindparam, text

from benchmarks.common import (
    StageResult,
    atradius_terms,
    peak_rss_mb,
    reset_peak,
    scaled,
    timed,
    window_peak_mb,
)
from benchmarks.ledgers import bulk_insert, fresh_ledger
from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath, StepAction
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.tables import BuyerRow, ErpAccountRow, OpenItemRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.deadlines import scan

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
TIERS = ("strategic", "growth", "watch", None)
AMOUNTS = [Decimal(f"{100 + k * 37}.{k % 100:02d}") for k in range(1000)]
ZERO = Decimal(0)

# Per buyer: the oldest overdue effective due date among its open invoices, and from
# it, with CASE expressions on dates bound from Python, which steps of the default
# paths are due. Strategic buyers get a payment plan at D+60, every other tier (growth,
# watch, none: the default tier is growth) an overdue notification; a claim is due at
# the later of its day and the end of the waiting period.
FLOOR_SQL = text(
    """
    SELECT overdue.buyer_id,
           CASE WHEN overdue.oldest <= :reminder_by THEN 1 ELSE 0 END,
           CASE WHEN overdue.tier = 'strategic' AND overdue.oldest <= :notify_by
                THEN 1 ELSE 0 END,
           CASE WHEN (overdue.tier IS NULL OR overdue.tier <> 'strategic')
                     AND overdue.oldest <= :notify_by
                THEN 1 ELSE 0 END,
           CASE WHEN overdue.oldest <= :claim_by THEN 1 ELSE 0 END
    FROM (
        SELECT a.buyer_id AS buyer_id,
               b.tier AS tier,
               MIN(COALESCE(o.extended_due_date, o.due_date)) AS oldest
        FROM open_items o
        JOIN erp_accounts a ON a.id = o.erp_account_id
        JOIN buyers b ON b.id = a.buyer_id
        WHERE a.policy_id = :policy_id
          AND o.kind = 'INVOICE'
          AND o.open_amount > 0
          AND COALESCE(o.extended_due_date, o.due_date) < :today
        GROUP BY a.buyer_id, b.tier
    ) overdue
    """
).bindparams(
    bindparam("policy_id", type_=Integer),
    bindparam("today", type_=Date),
    bindparam("reminder_by", type_=Date),
    bindparam("notify_by", type_=Date),
    bindparam("claim_by", type_=Date),
)
FLOOR_ACTIONS = (
    StepAction.REMINDER.value,
    StepAction.PAYMENT_PLAN.value,
    StepAction.OVERDUE_NOTIFICATION.value,
    StepAction.CLAIM.value,
)


@dataclass
class Tally:
    """What a run found, streamed: overdue buyers, due actions per kind, and a digest of
    the set of (buyer, action) that does not depend on the order they come in (the sum
    of their hashes), so that the scan and the floor are compared without holding
    either's result."""

    buyers: int = 0
    actions: int = 0
    per_action: Counter[str] = field(default_factory=Counter)
    digest: int = 0

    def add(self, buyer_id: int, actions: Iterable[str]) -> None:
        self.buyers += 1
        for action in actions:
            self.actions += 1
            self.per_action[action] += 1
            key = hashlib.blake2b(f"{buyer_id}:{action}".encode(), digest_size=16).digest()
            self.digest = (self.digest + int.from_bytes(key, "big")) % (1 << 128)


def _items(n_rows: int, n_buyers: int, today: date, rng: random.Random) -> Iterator[dict[str, Any]]:
    # Each buyer's items fall due between today + 60 and today + 60 - its "age" (0 to
    # 460 days), so the oldest overdue dates, and the due actions, spread over buyers.
    age = [rng.randint(0, 460) for _ in range(n_buyers)]
    latest = today + timedelta(days=60)
    for i in range(n_rows):
        account = rng.randrange(n_buyers)
        due = latest - timedelta(days=rng.randint(0, age[account]))
        draw = rng.random()
        kind = "INVOICE" if draw < 0.9 else ("CREDIT_NOTE" if draw < 0.96 else "PAYMENT")
        amount = AMOUNTS[i % len(AMOUNTS)]
        extended = None
        if kind == "INVOICE" and rng.random() < 0.08:
            extended = due + timedelta(days=rng.randint(1, 90))
        yield {
            "erp_account_id": account + 1,
            "document_number": f"D{i:08d}",
            "kind": kind,
            "currency": "EUR",
            "amount": amount,
            "open_amount": ZERO if rng.random() < 0.15 else amount,
            "document_date": due - timedelta(days=30),
            "delivery_date": due - timedelta(days=31),
            "due_date": due,
            "disputed": False,
            "applies_to": None,
            "extended_due_date": extended,
            "import_id": None,
            "updated_at": NOW,
        }


def seed(ledger: Ledger, policies: dict[str, Policy], n_rows: int, n_buyers: int) -> int:
    """The policy, its buyers and accounts, and the open items, streamed (``COPY`` on
    PostgreSQL): memory flat in the number of rows."""
    rng = random.Random(20261129)
    today = policies["main"].terms.business_date(NOW)
    with ledger.unit_of_work() as s:
        pid = upsert_policies(s, policies, NOW)["main"]
    tiers = [TIERS[rng.randrange(len(TIERS))] for _ in range(n_buyers)]
    bulk_insert(
        ledger,
        BuyerRow,
        (
            {
                "id": i + 1,
                "name": f"Buyer {i}",
                "country": "DE",
                "tier": tiers[i],
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(n_buyers)
        ),
    )
    del tiers
    bulk_insert(
        ledger,
        ErpAccountRow,
        (
            {
                "id": i + 1,
                "account": f"C{i:07d}",
                "name": f"Buyer {i}",
                "buyer_id": i + 1,
                "policy_id": pid,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(n_buyers)
        ),
    )
    bulk_insert(ledger, OpenItemRow, _items(n_rows, n_buyers, today, rng))
    # Planner statistics, as a ledger in service has them.
    with ledger.unit_of_work() as s:
        s.execute(text("ANALYZE"))
    return pid


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=scaled(1_000_000, args))
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    terms = atradius_terms()
    policies = {"main": Policy("main", "atradius", terms, {})}
    paths = {tier: EscalationPath.of(tier, days) for tier, days in DEFAULT_PATHS.items()}
    today = terms.business_date(NOW)
    growth, strategic = DEFAULT_PATHS["growth"], DEFAULT_PATHS["strategic"]
    assert strategic["payment_plan"] == growth["overdue_notification"] == 60
    assert strategic["reminder"] == growth["reminder"] == DEFAULT_PATHS["watch"]["reminder"]
    params = {
        "today": today,
        "reminder_by": today - timedelta(days=growth["reminder"]),
        "notify_by": today - timedelta(days=growth["overdue_notification"]),
        "claim_by": today - timedelta(days=max(growth["claim"], terms.waiting_days)),
    }
    with fresh_ledger(opts.backend) as (ledger, _):
        seed_s, pid = timed(lambda: seed(ledger, policies, opts.rows, opts.buyers))
        seed_peak = peak_rss_mb()

        def measured_run() -> Tally:
            tally = Tally()
            for b in scan(ledger, policies, paths, default_tier="growth", now=NOW):
                tally.add(b.buyer_id, [step.action.value for step in b.steps])
            scan_peak.append(window_peak_mb())
            return tally

        def floor_run() -> Tally:
            tally = Tally()
            with ledger.unit_of_work() as s:
                for buyer_id, *flags in s.execute(FLOOR_SQL, {"policy_id": pid, **params}):
                    tally.add(buyer_id, [a for a, f in zip(FLOOR_ACTIONS, flags, strict=True) if f])
            return tally

        floor_run()  # warm-up: both timed runs find the ledger in the same caches
        scan_peak: list[float] = []
        reset_peak()  # the scan's own peak: not the seed's, not the warm-up's
        measured, found = timed(measured_run)
        floor, expected = timed(floor_run)
    if found != expected:
        raise AssertionError(f"scan and floor disagree: scan {found}, floor {expected}")
    return StageResult(
        stage=f"deadline_scan@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="one hand-written SQL query finding the same due actions",
        goal="<= 2x the floor",
        extra={
            "rows": opts.rows,
            "buyers": opts.buyers,
            "overdue_buyers": found.buyers,
            "due_actions": found.actions,
            "scan_peak_rss_mb": round(scan_peak[0], 1),
            "seed_s": round(seed_s, 1),
            "seed_peak_rss_mb": round(seed_peak, 1),
        },
    )
