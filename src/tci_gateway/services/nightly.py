"""The nightly cycle as one use case: date roll, limit sync, exposure and its alerts,
the covered-limits export, the claims run, and the day's alert digest.

:class:`NightlyCycle` is what ``tci demo``, the ``tci`` commands that run one of these
steps (``tci sync limits``, ``tci exposure``, ``tci export limits``, ``tci claims run``)
and the scheduler's jobs call; each step can run on its own, and :meth:`NightlyCycle.run`
runs several in the cycle's order. Its options are typed (:class:`NightlyOptions`, built
from the configuration by the CLI's wiring), never a ``dict`` splatted across the seam.

Failure isolation is the same everywhere: in the sync step one insurer failing (its API
down, a refused credential, a bug in its adapter, no adapter connected) is recorded as
that policy's ``failed`` :class:`~tci_gateway.services.sync.SyncReport` and the other
policies are synced; the steps after it run on what the ledger then holds. See
``docs/architecture.md`` (the nightly cycle).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.domain.escalation import EscalationPath
from tci_gateway.domain.exposure import Converter, same_currency_only
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.errors import TciError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import list_alerts
from tci_gateway.ledger.staging import DEFAULT_RETENTION_DAYS
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services.claims import ClaimsRunReport, run_claims
from tci_gateway.services.claims import Progress as ClaimsProgress
from tci_gateway.services.export import LimitExport, export_limits
from tci_gateway.services.exposure import ExposureRow, exposure_report, record_exposure_alerts
from tci_gateway.services.limits import RollReport, roll_limits
from tci_gateway.services.sync import SyncReport, prune_staged, sync_limits

DIGEST_LIMIT = 1_000_000
"""At most this many alerts are read for one day's digest."""

SyncProgress = Callable[[Policy], AbstractContextManager[Callable[[int], None]]]
"""Per policy, a context giving the callback a sync reports its fetched count to."""


@dataclass(frozen=True)
class ExposureOptions:
    """What exposure needs from the configuration: FX rates (read once, before any unit
    of work) and the alert horizons."""

    convert: Converter = same_currency_only
    expiring_within_days: int = 30
    inactive_days: int = 180


@dataclass(frozen=True)
class ClaimsOptions:
    """What the claims run needs from the configuration: the escalation path of each
    buyer tier, the default tier, deadline lead times, extension length and FX rates."""

    paths: Mapping[str, EscalationPath]
    default_tier: str
    lead_days: tuple[int, ...] = (14, 7, 2)
    extension_days: int = 30
    convert: Converter = same_currency_only


@dataclass(frozen=True)
class NightlyOptions:
    """The cycle's options. The defaults are a bare setup (tests): same-currency
    exposure only, staging kept 90 days, and no claims run (``claims`` is ``None``)."""

    staging_retention_days: int = DEFAULT_RETENTION_DAYS
    exposure: ExposureOptions = field(default_factory=ExposureOptions)
    claims: ClaimsOptions | None = None


class Step(StrEnum):
    """The cycle's steps, in the order :meth:`NightlyCycle.run` takes them."""

    ROLL = "roll"
    PRUNE = "prune"
    SYNC = "sync"
    EXPOSURE = "exposure"
    EXPORT = "export"
    CLAIMS = "claims"


LIMIT_SYNC_STEPS = (Step.ROLL, Step.PRUNE, Step.SYNC, Step.EXPOSURE)
"""The scheduler's nightly ``limit_sync`` job."""


@dataclass
class SyncStep:
    """One :class:`SyncReport` per policy synced (sorted by key), failed ones included."""

    reports: list[SyncReport] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """The keys of the policies whose sync failed (nothing of theirs written)."""
        return sorted(r.policy for r in self.reports if r.status == SyncStatus.FAILED)

    @property
    def ok(self) -> bool:
        """Every policy synced without an error."""
        return all(r.ok for r in self.reports)


@dataclass(frozen=True)
class ExposureStep:
    """Exposure per buyer and policy, and how many of its alerts were new today."""

    rows: list[ExposureRow]
    alerts: int

    @property
    def ok(self) -> bool:
        """Always true: over-limit or uncovered buyers are alerts, not failures."""
        return True


@dataclass(frozen=True)
class AlertDigest:
    """One business date's alerts, counted per kind and per severity."""

    business_date: date
    total: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]

    @property
    def ok(self) -> bool:
        """Always true: the digest only reads."""
        return True


@dataclass
class NightlyReport:
    """What :meth:`NightlyCycle.run` did, one field per step (empty or ``None``: not
    run)."""

    roll: RollReport = field(default_factory=RollReport)
    staging_pruned: int = 0
    sync: SyncStep = field(default_factory=SyncStep)
    exposure: ExposureStep | None = None
    export: LimitExport | None = None
    claims: ClaimsRunReport | None = None
    claims_skipped: str | None = None

    @property
    def ok(self) -> bool:
        """Every step that ran is ok: a failed or partial sync, or a claims run with a
        failed buyer or an action not sent or refused, makes the cycle not ok."""
        return (
            self.roll.ok
            and self.sync.ok
            and (self.exposure is None or self.exposure.ok)
            and (self.claims is None or self.claims.ok)
        )


class NightlyCycle:
    """The nightly cycle over one ledger, the configured policies and the connected
    insurers' adapters (by insurer name), at ``now``."""

    def __init__(
        self,
        ledger: Ledger,
        policies: Mapping[str, Policy],
        adapters: Mapping[str, InsurerAdapter],
        *,
        now: datetime,
        options: NightlyOptions | None = None,
    ) -> None:
        self.ledger = ledger
        self.policies = policies
        self.adapters = adapters
        self.now = now
        self.options = options or NightlyOptions()
        self.log = get_logger(service="nightly")

    def roll(self) -> RollReport:
        """The date roll: limits in force that change on each policy's business date."""
        return roll_limits(self.ledger, self.policies, self.now)

    def prune(self) -> int:
        """Prune staged insurer payloads past the retention (and failed runs' rows)."""
        return prune_staged(
            self.ledger, now=self.now, staging_retention_days=self.options.staging_retention_days
        )

    def sync(
        self,
        keys: Iterable[str] | None = None,
        *,
        backfill: bool = False,
        progress: SyncProgress | None = None,
    ) -> SyncStep:
        """Sync the policies ``keys`` (default: all), sorted by key, each from its
        insurer. A policy whose insurer fails, or has no adapter, gets a ``failed``
        report with the (redacted) error and the next policy is synced."""
        chosen = sorted(self.policies) if keys is None else sorted(keys)
        step = SyncStep()
        for key in chosen:
            policy = self.policies[key]
            with progress(policy) if progress else nullcontext(None) as callback:
                step.reports.append(self._sync_one(policy, backfill, callback))
        return step

    def _sync_one(
        self, policy: Policy, backfill: bool, progress: Callable[[int], None] | None
    ) -> SyncReport:
        adapter = self.adapters.get(policy.insurer)
        if adapter is None:
            return _failed(policy, f"{policy.insurer} not connected")
        try:
            return sync_limits(
                self.ledger,
                adapter,
                policy,
                now=self.now,
                progress=progress,
                backfill=backfill,
                staging_retention_days=self.options.staging_retention_days,
            )
        except Exception as exc:  # one insurer (or its data) never stops the others
            kind = "" if isinstance(exc, TciError) else f"{type(exc).__name__}: "  # a bug
            error = redact_text(f"{kind}{exc}")
            self.log.error("limit_sync_failed", policy=policy.key, error=error)
            return _failed(policy, error)

    def exposure(self) -> ExposureStep:
        """Exposure per buyer and policy, and its alerts recorded (once per business
        date: a second run the same day records none)."""
        options = self.options.exposure
        rows = exposure_report(
            self.ledger,
            self.policies,
            now=self.now,
            convert=options.convert,
            expiring_within_days=options.expiring_within_days,
            inactive_days=options.inactive_days,
        )
        return ExposureStep(rows, record_exposure_alerts(self.ledger, rows, now=self.now))

    def export(self, *, changed_since: int | None = None, raw_codes: bool = True) -> LimitExport:
        """The covered limits in force for the ERP (rolled to today first), all or only
        those changed after the cursor ``changed_since``."""
        return export_limits(
            self.ledger,
            self.policies,
            now=self.now,
            changed_since=changed_since,
            raw_codes=raw_codes,
        )

    def claims(
        self, *, dry_run: bool = False, progress: ClaimsProgress | None = None
    ) -> ClaimsRunReport | None:
        """The deadline scan, cases and their outbox; ``None`` (skipped) when the
        options hold no claims configuration."""
        options = self.options.claims
        if options is None:
            return None
        return run_claims(
            self.ledger,
            self.policies,
            options.paths,
            self.adapters,
            default_tier=options.default_tier,
            now=self.now,
            convert=options.convert,
            lead_days=options.lead_days,
            dry_run=dry_run,
            progress=progress,
            extension_days=options.extension_days,
        )

    def digest(self, day: date) -> AlertDigest:
        """The alerts of business date ``day``, counted per kind and severity."""
        with self.ledger.unit_of_work() as session:
            alerts = [
                a
                for a in list_alerts(session, since=day, limit=DIGEST_LIMIT)
                if a.business_date == day
            ]
        return AlertDigest(
            day,
            len(alerts),
            dict(sorted(Counter(a.kind for a in alerts).items())),
            dict(sorted(Counter(a.severity for a in alerts).items())),
        )

    def run(self, steps: Iterable[Step] = tuple(Step)) -> NightlyReport:
        """The given steps in the cycle's order; a step's failures are in the report
        and never stop the steps after it."""
        wanted = set(steps)
        report = NightlyReport()
        if Step.ROLL in wanted:
            report.roll = self.roll()
        if Step.PRUNE in wanted:
            report.staging_pruned = self.prune()
        if Step.SYNC in wanted:
            report.sync = self.sync()
        if Step.EXPOSURE in wanted:
            report.exposure = self.exposure()
        if Step.EXPORT in wanted:
            report.export = self.export()
        if Step.CLAIMS in wanted:
            report.claims = self.claims()
            if report.claims is None:
                report.claims_skipped = "no escalation paths configured"
        return report


def _failed(policy: Policy, error: str) -> SyncReport:
    return SyncReport(
        insurer=policy.insurer, policy=policy.key, status=SyncStatus.FAILED, errors=[error]
    )
