"""A credit application within the DCL, decided in the request, with the Creditsafe and
D&B sandboxes served on loopback. Run: ``python -m benchmarks credit_apply
[--applications N] [--rows R --buyers M] [--latency-ms LOW,HIGH] --backend sqlite|postgresql``.

The ledger (not timed) is the ``behaviour_tiers`` seed (R open items over M buyers,
default 200,000 / 20,000) plus N applicant buyers (default 50) under a policy whose
discretionary limit is EUR 50,000: each with 18 months of invoices paid before their due
date, a stored Creditsafe and D&B assessment (so the gateway knows the buyer's id at
each bureau), no insurer decision, no adverse information. Each applies once for EUR
20,000 through ``apply_for_credit`` with the options the wiring builds from the default
``[credit]`` settings; the clock is the real one (the Creditsafe sandbox dates its
reports today, so the report is fresh evidence). The stage checks that every
application took the DCL route and that no cover request was queued.

Measured: the wall time of each ``apply_for_credit`` call (bureau calls, behaviour,
scoring, screening and the writes), p50 and p95. Floor: the same two bureau calls alone
(both at once, as the service asks them), p50 and p95. Goal: every application under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks.common import StageResult, peak_rss_mb, scaled
from benchmarks.ledgers import fresh_ledger
from benchmarks.sandboxes import Delayed
from benchmarks.stage_behaviour import seed
from tci_gateway.adapters.contract import AdapterContext, BureauAdapter
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy, PolicyTerms
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.tables import (
    AssessmentRow,
    BuyerRow,
    CoverRequestRow,
    ErpAccountRow,
    OpenItemRow,
)
from tci_gateway.logs import configure_logging

REPO = Path(__file__).resolve().parents[1]
BUREAUS = {"creditsafe": "GB-0-09990311", "dnb": "219900311"}  # known to the seeds
DCL = Decimal(50_000)
APPLIED = Decimal(20_000)
FIRST_APPLICANT = 10_000_000


def _policies() -> dict[str, Policy]:
    zero = Money(Decimal(0), "EUR")
    terms = PolicyTerms(
        "EUR", Decimal(90), 120, 60, 90, 180, 360, Money(DCL, "EUR"), zero, zero, "Europe/Paris"
    )
    return {
        "main": Policy("main", "atradius", terms, {}),
        "second": Policy("second", "atradius", terms, {}),
    }


@contextmanager
def served_bureaus(
    latency: tuple[float, float] | None,
) -> Iterator[Mapping[str, BureauAdapter]]:
    """The Creditsafe and D&B sandboxes, seeded from fixtures/, on loopback."""
    with ExitStack() as stack:
        adapters: dict[str, BureauAdapter] = {}
        for n, name in enumerate(BUREAUS):
            plugin = load_plugin(name)
            assert plugin.create_sandbox is not None
            sandbox = plugin.create_sandbox({"seed": str(REPO / "fixtures" / name / "seed.json")})
            front = Delayed(sandbox, *latency, seed=n) if latency else sandbox
            server = stack.enter_context(serve_on_loopback(front))
            adapter = plugin.create(
                AdapterContext(
                    name=name,
                    base_url=server.url,
                    environment="sandbox",
                    credentials=dict(sandbox.credentials),
                )
            )
            assert isinstance(adapter, BureauAdapter)
            stack.callback(adapter.close)
            adapters[name] = adapter
        yield adapters


def seed_applicants(ledger: Ledger, policies: Mapping[str, Policy], n: int, today: date) -> None:
    """N buyers under ``main``, each with 18 monthly invoices of EUR 4,000 on 30-day terms
    paid 5 days early, and a stored assessment from each bureau."""
    now = datetime.combine(today, datetime.min.time(), UTC)
    with ledger.unit_of_work() as s:
        pid = upsert_policies(s, dict(policies), now)["main"]
        ids = range(FIRST_APPLICANT, FIRST_APPLICANT + n)
        s.execute(
            insert(BuyerRow),
            [
                {"id": i, "name": f"Applicant {i}", "country": "GB", "tier": "growth",
                 "created_at": now, "updated_at": now}
                for i in ids
            ],
        )  # fmt: skip
        s.execute(
            insert(ErpAccountRow),
            [
                {"id": i, "account": f"APP{i}", "name": f"Applicant {i}", "buyer_id": i,
                 "policy_id": pid, "created_at": now, "updated_at": now}
                for i in ids
            ],
        )  # fmt: skip
        items: list[dict[str, Any]] = []
        assessments: list[dict[str, Any]] = []
        for i in ids:
            for k in range(18):
                doc = today - timedelta(days=20 + 30 * k)
                due = doc + timedelta(days=30)
                paid = due - timedelta(days=5)
                settled = paid <= today
                items.append(
                    {"erp_account_id": i, "document_number": f"A{i}-{k}", "kind": "INVOICE",
                     "currency": "EUR", "amount": Decimal(4000),
                     "open_amount": Decimal(0) if settled else Decimal(4000),
                     "document_date": doc, "delivery_date": doc, "due_date": due,
                     "disputed": False, "applies_to": None, "extended_due_date": None,
                     "import_id": None, "updated_at": now,
                     "settled_on": paid if settled else None, "disputed_since": None}
                )  # fmt: skip
            for bureau, provider_id in BUREAUS.items():
                assessments.append(
                    {"buyer_id": i, "provider": bureau, "provider_id": provider_id,
                     "provider_reference": None, "scale": "stored", "score_raw": "60",
                     "band": None, "failure_score": "70" if bureau == "dnb" else None,
                     "paydex": 75 if bureau == "dnb" else None, "recommended_limit": None,
                     "limit_currency": None, "as_of": today - timedelta(days=40),
                     "missing": [], "fetched_at": now - timedelta(days=40)}
                )  # fmt: skip
        s.execute(insert(OpenItemRow), items)
        s.execute(insert(AssessmentRow), assessments)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=50)
    parser.add_argument("--rows", type=int, default=scaled(200_000, args))
    parser.add_argument("--buyers", type=int, default=scaled(20_000, args))
    parser.add_argument("--latency-ms", help="bureau latency LOW,HIGH in ms (default none)")
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    from tci_gateway import wiring
    from tci_gateway.config import Settings
    from tci_gateway.services.credit_apply import apply_for_credit, get_application

    latency = None
    if opts.latency_ms:
        low, high = (float(x) / 1000 for x in opts.latency_ms.split(","))
        latency = (low, high)
    policies = _policies()
    n = opts.applications
    with fresh_ledger(opts.backend) as (ledger, url), served_bureaus(latency) as bureaus:
        started = time.perf_counter()
        seed(ledger, dict(policies), opts.rows, opts.buyers)
        today = policies["main"].terms.business_date(datetime.now(UTC))
        seed_applicants(ledger, policies, n, today)
        seed_s = time.perf_counter() - started
        settings = Settings.model_validate(
            {
                "database": {"url": url},
                "bureaus": {b: {"adapter": b, "base_url": "http://127.0.0.1:1"} for b in BUREAUS},
            }
        )
        options = wiring.credit_options(settings, ledger)

        def floor_once() -> float:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=len(bureaus)) as pool:
                found = list(pool.map(lambda b: bureaus[b].assess(BUREAUS[b]), sorted(bureaus)))
            assert all(a is not None for a in found)
            return time.perf_counter() - t0

        floor_once()  # warm-up: tokens fetched, connections open
        apply_s: list[float] = []
        routes: dict[str, int] = {}
        references: list[str] = []
        for k in range(n):
            t0 = time.perf_counter()
            view = apply_for_credit(
                ledger,
                policies,
                bureaus,
                options,
                buyer=f"APP{FIRST_APPLICANT + k}",
                amount=Money(APPLIED, "EUR"),
                policy="main",
                requested_by="bench",
                channel="cli",
                now=datetime.now(UTC),
            )
            apply_s.append(time.perf_counter() - t0)
            routes[str(view.route)] = routes.get(str(view.route), 0) + 1
            references.append(view.reference)
            if view.route != "dcl":
                raise AssertionError(
                    f"{view.reference} took route {view.route}: {view.reason}; "
                    f"conditions {view.conditions}"
                )
        peak = peak_rss_mb()
        steps: dict[str, list[float]] = {}
        for ref in references:  # where the time goes: each step's own duration
            for event in get_application(ledger, ref).events:
                if "duration_ms" in event.detail:
                    steps.setdefault(event.step, []).append(float(event.detail["duration_ms"]))
        floor_s = [floor_once() for _ in range(n)]
        with ledger.unit_of_work() as s:
            cover_requests = s.scalar(select(func.count()).select_from(CoverRequestRow))
    if cover_requests:
        raise AssertionError(
            f"{cover_requests} cover request(s) queued for within-DCL applications"
        )
    p50, p95, floor50, floor95 = (
        _pct(apply_s, 0.5),
        _pct(apply_s, 0.95),
        _pct(floor_s, 0.5),
        _pct(floor_s, 0.95),
    )
    return StageResult(
        stage=f"credit_apply@{opts.backend}",
        measured_s=p50,
        floor_s=floor50,
        floor="the two bureau calls alone (Creditsafe and D&B at once), p50",
        goal="every within-DCL application < 1 s including the bureau calls",
        extra={
            "applications": n,
            "p50_ms": round(p50 * 1000, 1),
            "p95_ms": round(p95 * 1000, 1),
            "max_ms": round(max(apply_s) * 1000, 1),
            "mean_ms": round(statistics.fmean(apply_s) * 1000, 1),
            "floor_p50_ms": round(floor50 * 1000, 1),
            "floor_p95_ms": round(floor95 * 1000, 1),
            "under_1s": sum(1 for t in apply_s if t < 1.0),
            "routes": routes,
            "cover_requests": cover_requests,
            "last_reference": references[-1] if references else None,
            "step_p50_ms": {k: statistics.median(v) for k, v in sorted(steps.items())},
            "ledger_rows": opts.rows,
            "ledger_buyers": opts.buyers,
            "latency_ms": opts.latency_ms or "none",
            "seed_s": round(seed_s, 1),
            "apply_peak_rss_mb": round(peak, 1),
        },
    )
