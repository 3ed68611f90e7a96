"""The scheduled jobs: thin calls of the nightly cycle the CLI runs too.

Each job is a plain module-level function ``(context) -> dict`` named in :data:`JOBS`
by a ``"module:function"`` reference, so APScheduler only ever holds a string and a
job id (pickle-safe, nothing to restore, never a closure). The context carries the
dependencies the services take as arguments: the ledger, the adapters by insurer name,
the policies, ``now``, and a factory of the typed
:class:`~tci_gateway.services.nightly.NightlyOptions`. The nightly jobs run steps of
:class:`~tci_gateway.services.nightly.NightlyCycle` and judge success by its report's
``.ok``. A job returns a JSON-ready summary stored in the run's ``detail``; ``"ok":
False`` marks the run ``FAILED`` (so it is retried) while the rest of its work stands,
and an exception does the same with the error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services import notify
from tci_gateway.services.claims import poll_cases
from tci_gateway.services.cover_requests import reconcile
from tci_gateway.services.credit_decide import follow_insurer
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.credit_review import run_credit_review
from tci_gateway.services.nightly import (
    LIMIT_SYNC_STEPS,
    NightlyCycle,
    NightlyOptions,
    Step,
)
from tci_gateway.services.sync import SyncReport


@dataclass(frozen=True)
class JobContext:
    """What a job needs: the wiring's dependencies plus the run's clock and key.

    ``options`` builds, when called, the nightly cycle's options from the configuration
    (FX converter over the ledger's rates, alert horizons, escalation paths, staging
    retention): called per run, so a long-lived scheduler uses the rates of the day. The
    default is a bare setup (tests): same-currency exposure and no claims run.
    ``bureaus`` (by name) and ``credit`` (a factory of the credit workflow's options,
    built per run like ``options``) serve the credit review; without ``credit`` that job
    does nothing and says so."""

    ledger: Ledger
    adapters: Mapping[str, InsurerAdapter]
    policies: Mapping[str, Policy]
    now: datetime
    business_date: date
    job: str
    options: Callable[[], NightlyOptions] = NightlyOptions
    bureaus: Mapping[str, BureauAdapter] = field(default_factory=dict)
    credit: Callable[[], CreditOptions] | None = None

    def cycle(self) -> NightlyCycle:
        """The nightly cycle over this context (its options built now, before any unit
        of work: on SQLite a second transaction would wait for the first)."""
        return NightlyCycle(
            self.ledger, self.policies, self.adapters, now=self.now, options=self.options()
        )


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
    "credit_review": JobSpec(
        "tci_gateway.scheduler.jobs:credit_review",
        description="tiers, behaviour snapshots, progressive plans, over-credit-line alerts, "
        "insurer decisions on credit applications",
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
    reductions and withdrawals taking effect, tranches expiring), prune old staged
    payloads, sync every configured policy from its insurer (one failing insurer does not
    stop the others), then compute exposure and record its alerts."""
    report = context.cycle().run(LIMIT_SYNC_STEPS)
    log = get_logger(job=context.job, business_date=str(context.business_date))
    policies = {r.policy: _sync_summary(r) for r in report.sync.reports}
    if report.sync.failed:
        log.error("scheduled_sync_failed", policies=report.sync.failed)
    return {
        "ok": report.ok,
        "policies": policies,
        "failed": report.sync.failed,
        "errors": [
            f"{r.policy}: {r.status}: {redact_text(r.errors[0]) if r.errors else 'no detail'}"
            for r in report.sync.reports
            if not r.ok
        ],
        "fetched": sum(r.fetched for r in report.sync.reports),
        "written": sum(r.written for r in report.sync.reports),
        "exposure_rows": len(report.exposure.rows) if report.exposure else 0,
        "exposure_alerts": report.exposure.alerts if report.exposure else 0,
        "limits_changed_by_date": report.roll.total_changed,
        "staging_pruned": report.staging_pruned,
    }


def _sync_summary(report: SyncReport) -> dict[str, Any]:
    return {
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


def pending_requests_poll(context: JobContext) -> dict[str, Any]:
    """Advance every open cover request (the outbox): look up, send or poll; move the
    credit applications whose request the insurer decided; and follow the insurers'
    status of filed overdue notifications and claims. Not ok when a request or filing it
    took up was not answered (a failed call, a refusal)."""
    requests = reconcile(context.ledger, context.adapters, context.policies, now=context.now)
    applications = follow_insurer(context.ledger, now=context.now)
    cases = poll_cases(context.ledger, context.policies, context.adapters, now=context.now)
    errors = [redact_text(e) for e in [*requests.errors, *cases.errors]]
    return {
        "ok": requests.ok and cases.ok,
        "advanced": requests.polled,
        "applications_decided": applications,
        "case_filings_polled": cases.polled,
        **({"errors": errors[:20], "error_count": len(errors)} if errors else {}),
    }


def claims_run(context: JobContext) -> dict[str, Any]:
    """The deadline scan, cases and their outbox (notifications, claims) for the business
    date: the same claims step of the nightly cycle as ``tci claims run``. Idempotent: a
    second run of the day finds every action already queued or sent."""
    report = context.cycle().run([Step.CLAIMS])
    if report.claims is None:
        return {"ok": True, "skipped": report.claims_skipped}
    claims = report.claims
    return {
        "ok": claims.ok,
        "overdue_buyers": claims.overdue_buyers,
        "queued": len(claims.planned),
        "opened": claims.opened,
        "closed": len(claims.closed),
        "sent": dict(claims.sent),
        "polled": claims.polled,
        "errors": [redact_text(str(e)) for e in claims.errors[:20]]
        + ([f"{claims.unsent} action(s) not sent or refused"] if claims.unsent else []),
    }


def alert_digest(context: JobContext) -> dict[str, Any]:
    """The business date's alerts, logged as one ``alert_digest`` event and returned as
    counts per kind and per severity; each person's digest message of the date is queued
    (once per person, channel and date: a run again queues nothing twice)."""
    cycle = NightlyCycle(context.ledger, context.policies, context.adapters, now=context.now)
    digest = cycle.digest(context.business_date)  # reads only: no options (no FX) needed
    claims = context.options().claims  # buyers without a tier are of the default tier
    queued = notify.enqueue_digest(
        context.ledger,
        context.business_date,
        notify.ComposeOptions(default_tier=claims.default_tier if claims else None),
        now=context.now,
    )
    get_logger(job=context.job).info(
        "alert_digest",
        business_date=str(digest.business_date),
        total=digest.total,
        by_kind=digest.by_kind,
        by_severity=digest.by_severity,
    )
    return {
        "ok": digest.ok,
        "business_date": str(digest.business_date),
        "total": digest.total,
        "by_kind": digest.by_kind,
        "by_severity": digest.by_severity,
        "messages_queued": queued.queued,
    }


def credit_review(context: JobContext) -> dict[str, Any]:
    """The credit review of the business date (``tci credit review``): tiers, behaviour
    snapshots, progressive plan steps, over-credit-line alerts and the insurer's decisions
    on applications. Idempotent per business date: a date already reviewed does nothing
    and says so. Not ok when a step failed (the run is retried; each step is idempotent)."""
    if context.credit is None:
        return {"ok": True, "skipped": "no credit options in this process"}
    report = run_credit_review(
        context.ledger,
        context.policies,
        context.bureaus,
        context.credit(),
        context.business_date,
        now=context.now,
    )
    summary = report.summary()
    summary["errors"] = [redact_text(e) for e in report.errors[:20]]
    return {"ok": report.ok, **summary}
