"""The scheduled jobs: thin calls of the same service functions the CLI runs.

Each job is a plain module-level function ``(context) -> dict`` named in :data:`JOBS`
by a ``"module:function"`` reference, so APScheduler only ever holds a string and a
job id (pickle-safe, nothing to restore, never a closure). The context carries the
dependencies the services take as arguments: the ledger, the adapters by insurer name,
the policies, and ``now``. A job returns a JSON-ready summary stored in the run's
``detail``; ``"ok": False`` marks the run ``FAILED`` (so it is retried) while the rest
of its work stands, and an exception does the same with the error.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import list_alerts
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services.claims import poll_cases, run_claims
from tci_gateway.services.cover_requests import reconcile
from tci_gateway.services.exposure import exposure_report, record_exposure_alerts
from tci_gateway.services.limits import roll_limits
from tci_gateway.services.sync import prune_staged, sync_limits

DIGEST_LIMIT = 1_000_000
"""At most this many alerts are read for one day's digest."""


def no_exposure_options() -> dict[str, Any]:
    """Exposure with its defaults (same-currency only): for tests and bare setups."""
    return {}


def no_claims_options() -> dict[str, Any]:
    """No claims configuration: the claims run does nothing (tests and bare setups)."""
    return {}


def no_sync_options() -> dict[str, Any]:
    """The limit sync with its defaults (staging kept 90 days)."""
    return {}


@dataclass(frozen=True)
class JobContext:
    """What a job needs: the wiring's dependencies plus the run's clock and key.

    ``exposure_options`` builds, when called, the keyword arguments the CLI gives
    ``exposure_report`` (FX converter over the ledger's rates, alert horizons): called
    per run, so a long-lived scheduler uses the rates of the day."""

    ledger: Ledger
    adapters: Mapping[str, InsurerAdapter]
    policies: Mapping[str, Policy]
    now: datetime
    business_date: date
    job: str
    exposure_options: Callable[[], Mapping[str, Any]] = no_exposure_options
    claims_options: Callable[[], Mapping[str, Any]] = no_claims_options
    sync_options: Callable[[], Mapping[str, Any]] = no_sync_options


JobFunction = Callable[[JobContext], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    """A job: its function's ``"module:function"`` reference, and whether it runs once
    per business date (nightly jobs) or once per fire (intra-day polls)."""

    ref: str
    per_fire: bool = False
    description: str = ""


JOBS: dict[str, JobSpec] = {
    "limit_sync": JobSpec(
        "tci_gateway.scheduler.jobs:limit_sync",
        description="sync covered limits from every insurer, then exposure and its alerts",
    ),
    "pending_requests_poll": JobSpec(
        "tci_gateway.scheduler.jobs:pending_requests_poll",
        per_fire=True,
        description="advance open cover requests (look up, send, poll)",
    ),
    "claims_run": JobSpec(
        "tci_gateway.scheduler.jobs:claims_run",
        description="deadline clock, overdue notifications and claims (after the limit sync)",
    ),
    "alert_digest": JobSpec(
        "tci_gateway.scheduler.jobs:alert_digest",
        description="the business date's alerts, counted per kind and severity",
    ),
}
"""The job registry: job id -> spec. ``[scheduler.jobs]`` schedules these ids."""


def resolve(ref: str) -> JobFunction:
    """The function a ``"module:function"`` reference names (checked at startup)."""
    module_name, _, name = ref.partition(":")
    if not module_name or not name:
        raise ValueError(f"job reference {ref!r} is not 'module:function'")
    function = getattr(importlib.import_module(module_name), name, None)
    if not callable(function):
        raise ValueError(f"job reference {ref!r} does not name a function")
    return function  # type: ignore[no-any-return]


def limit_sync(context: JobContext) -> dict[str, Any]:
    """Roll the limits in force to the business date (changes by date: announced
    reductions and withdrawals taking effect, tranches expiring), sync every configured
    policy from its insurer (one failing insurer does not stop the others), then compute
    exposure and record its alerts."""
    log = get_logger(job=context.job, business_date=str(context.business_date))
    rolled = roll_limits(context.ledger, context.policies, context.now)
    sync_options = dict(context.sync_options())  # e.g. staging_retention_days
    pruned = prune_staged(context.ledger, now=context.now, **sync_options)
    policies: dict[str, dict[str, Any]] = {}
    for key, policy in sorted(context.policies.items()):
        adapter = context.adapters.get(policy.insurer)
        if adapter is None:
            policies[key] = {"status": "failed", "errors": [f"{policy.insurer} not connected"]}
            continue
        try:
            report = sync_limits(context.ledger, adapter, policy, now=context.now, **sync_options)
        except Exception as exc:  # one insurer (or its data) never stops the others
            log.error("scheduled_sync_failed", policy=key, error=redact_text(str(exc)))
            policies[key] = {"status": "failed", "errors": [redact_text(str(exc))]}
            continue
        policies[key] = {
            "status": report.status,
            "run_id": report.run_id,
            "fetched": report.fetched,
            "written": report.written,
            "unchanged": report.unchanged,
            "stale": report.stale,
            "alerts": report.alerts,
            "errors": [redact_text(e) for e in report.errors[:20]],
            "error_count": len(report.errors),
        }
    options = context.exposure_options()  # before any unit of work (SQLite: one writer)
    rows = exposure_report(context.ledger, context.policies, now=context.now, **options)
    exposure_alerts = record_exposure_alerts(context.ledger, rows, now=context.now)
    failed = sorted(k for k, p in policies.items() if p["status"] == "failed")
    return {
        "ok": not failed,
        "policies": policies,
        "failed": failed,
        "fetched": sum(p.get("fetched", 0) for p in policies.values()),
        "written": sum(p.get("written", 0) for p in policies.values()),
        "exposure_rows": len(rows),
        "exposure_alerts": exposure_alerts,
        "limits_changed_by_date": rolled.total_changed,
        "staging_pruned": pruned,
    }


def pending_requests_poll(context: JobContext) -> dict[str, Any]:
    """Advance every open cover request (the outbox): look up, send or poll; and follow
    the insurers' status of filed overdue notifications and claims. Not ok when a
    request or filing it took up was not answered (a failed call, a refusal)."""
    requests = reconcile(context.ledger, context.adapters, context.policies, now=context.now)
    cases = poll_cases(context.ledger, context.policies, context.adapters, now=context.now)
    errors = [redact_text(e) for e in [*requests.errors, *cases.errors]]
    return {
        "ok": requests.ok and cases.ok,
        "advanced": requests.polled,
        "case_filings_polled": cases.polled,
        **({"errors": errors[:20], "error_count": len(errors)} if errors else {}),
    }


def claims_run(context: JobContext) -> dict[str, Any]:
    """The deadline scan, cases and their outbox (notifications, claims) for the business
    date: the same :func:`~tci_gateway.services.claims.run_claims` as ``tci claims run``.
    Idempotent: a second run of the day finds every action already queued or sent."""
    options = dict(context.claims_options())  # before any unit of work (SQLite)
    if not options:
        return {"ok": True, "skipped": "no escalation paths configured"}
    report = run_claims(
        context.ledger, context.policies, adapters=context.adapters, now=context.now, **options
    )
    return {
        "ok": not report.errors and not report.sent.get("QUEUED"),
        "overdue_buyers": report.overdue_buyers,
        "queued": len(report.planned),
        "opened": report.opened,
        "closed": len(report.closed),
        "sent": dict(report.sent),
        "polled": report.polled,
        "errors": [str(e) for e in report.errors[:20]],
    }


def alert_digest(context: JobContext) -> dict[str, Any]:
    """The business date's alerts, logged as one ``alert_digest`` event and returned as
    counts per kind and per severity."""
    day = context.business_date
    with context.ledger.unit_of_work() as session:
        alerts = [
            a for a in list_alerts(session, since=day, limit=DIGEST_LIMIT) if a.business_date == day
        ]
    by_kind = dict(sorted(Counter(a.kind for a in alerts).items()))
    by_severity = dict(sorted(Counter(a.severity for a in alerts).items()))
    get_logger(job=context.job).info(
        "alert_digest",
        business_date=str(day),
        total=len(alerts),
        by_kind=by_kind,
        by_severity=by_severity,
    )
    return {
        "ok": True,
        "business_date": str(day),
        "total": len(alerts),
        "by_kind": by_kind,
        "by_severity": by_severity,
    }
