"""The nightly limit sync prunes the staged insurer payloads older than the configured
retention (``[sync] staging_retention_days``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import SyncStagingRow
from tci_gateway.scheduler import jobs
from tci_gateway.scheduler.jobs import JobContext
from tci_gateway.services.nightly import NightlyOptions

from ..erp.conftest import make_policy
from ..services.fakes import FakeInsurer, decision, entry

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
POLICY = make_policy()


def staged(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(SyncStagingRow)) or 0


def night(ledger: Ledger, now: datetime, **sync: int) -> dict[str, object]:
    # a limit changes every night, so every night stages its portfolio
    amount = str(10000 + (now - NOW).days)
    fake = FakeInsurer(items=[entry("1", decision(amount)), entry("2", decision("5000"))])
    context = JobContext(
        ledger,
        {"atradius": fake},
        {"main": POLICY},
        now,
        now.date(),
        "limit_sync",
        options=lambda: NightlyOptions(**sync),
    )
    return jobs.limit_sync(context)


def test_the_nightly_cycle_prunes_staging_by_the_configured_retention(ledger: Ledger) -> None:
    first = night(ledger, NOW, staging_retention_days=30)
    assert (first["ok"], first["staging_pruned"], staged(ledger)) == (True, 0, 2)
    later = night(ledger, NOW + timedelta(days=29), staging_retention_days=30)
    assert (later["staging_pruned"], staged(ledger)) == (0, 4)
    month = night(ledger, NOW + timedelta(days=31), staging_retention_days=30)
    assert (month["staging_pruned"], staged(ledger)) == (2, 4)  # the first night's rows
    default = night(ledger, NOW + timedelta(days=200))  # 90 days by default
    assert (default["staging_pruned"], staged(ledger)) == (4, 2)
