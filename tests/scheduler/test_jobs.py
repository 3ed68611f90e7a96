"""The scheduled jobs call the services, here against the built-in Atradius sandbox
with the demo portfolio (fixtures/demo/)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from tci_gateway.adapters.contract import CoverAction, InsurerAdapter
from tci_gateway.config import Settings
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import TransientError
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow, SyncRunRow
from tci_gateway.scheduler import jobs
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.jobs import JOBS, JobContext, resolve
from tci_gateway.scheduler.leader import make_leader
from tci_gateway.services import cover_requests
from tci_gateway.services.fx import LedgerConverter
from tci_gateway.services.importing import import_buyers, import_open_items
from tci_gateway.services.nightly import NightlyOptions
from tci_gateway.wiring import Wiring

from ..services.fakes import FakeInsurer, decision, entry
from .fakes import FakeClock

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # the night of 2026-11-29 (Paris: 04:00)
DAY = date(2026, 11, 29)


@pytest.fixture
def wiring(database_url: str) -> Iterator[Wiring]:
    data = tomllib.loads((DEMO / "tci.toml").read_text(encoding="utf-8"))
    data["database"]["url"] = database_url
    w = Wiring(Settings(**data), DEMO)  # the sandbox seed is relative to the demo config
    yield w
    w.close()


@pytest.fixture
def world(wiring: Wiring, ledger: Ledger) -> tuple[Wiring, Ledger, dict[str, Policy]]:
    policies = wiring.settings.domain_policies()
    import_buyers(ledger, DEMO / "buyers.csv", policies=policies, now=NOW)
    import_open_items(ledger, DEMO / "open_items.csv", now=NOW)
    return wiring, ledger, policies


def context(
    ledger: Ledger,
    adapters: dict[str, InsurerAdapter],
    policies: dict[str, Policy],
    job: str,
    day: date = DAY,
) -> JobContext:
    return JobContext(ledger, adapters, policies, NOW, day, job)


def count(ledger: Ledger, table: type) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def test_the_registry_names_importable_functions_by_string() -> None:
    for job_id, spec in JOBS.items():
        assert spec.ref == f"tci_gateway.scheduler.jobs:{job_id}"
        assert resolve(spec.ref) is getattr(jobs, job_id)
    with pytest.raises(ValueError, match="module:function"):
        resolve("tci_gateway.scheduler.jobs")
    with pytest.raises(ValueError, match="does not name a function"):
        resolve("tci_gateway.scheduler.jobs:DIGEST_LIMIT")


def test_limit_sync_syncs_then_records_exposure_alerts(
    world: tuple[Wiring, Ledger, dict[str, Policy]],
) -> None:
    wiring, ledger, policies = world
    adapters = {"atradius": wiring.insurer("atradius").adapter}
    built: list[NightlyOptions] = []

    def options() -> NightlyOptions:  # what `tci scheduler run` passes
        built.append(wiring.nightly_options(ledger))
        return built[-1]

    ctx = replace(context(ledger, adapters, policies, "limit_sync"), options=options)
    result = jobs.limit_sync(ctx)
    assert len(built) == 1 and isinstance(built[0].exposure.convert, LedgerConverter)
    main = result["policies"]["atradius-main"]
    assert (result["ok"], main["status"], main["fetched"], main["written"]) == (
        True,
        "succeeded",
        8,
        8,
    )
    assert result["exposure_rows"] > 0 and result["exposure_alerts"] > 0
    assert count(ledger, CoverDecisionRow) == 8
    again = jobs.limit_sync(ctx)
    assert len(built) == 2  # built per run: a long-lived scheduler reads the day's rates
    assert (again["written"], again["policies"]["atradius-main"]["unchanged"]) == (0, 8)
    assert again["exposure_alerts"] == 0  # once per business date


class Exploding:
    """An adapter with a bug: not even an AdapterError."""

    name = "exploding"

    def fetch_portfolio(self, policy: object) -> Iterator[object]:
        raise RuntimeError("bug in the adapter")


def test_one_failing_insurer_does_not_stop_the_others(
    world: tuple[Wiring, Ledger, dict[str, Policy]],
) -> None:
    wiring, ledger, policies = world
    main = policies["atradius-main"]
    more = {
        **policies,
        "a-down": replace(main, key="a-down", insurer="down"),
        "b-buggy": replace(main, key="b-buggy", insurer="buggy"),
        "c-unwired": replace(main, key="c-unwired", insurer="unwired"),
    }
    adapters: dict[str, InsurerAdapter] = {
        "atradius": wiring.insurer("atradius").adapter,
        "down": FakeInsurer(  # type: ignore[dict-item]
            name="down",
            items=[entry("1", decision("1000"))],
            fail_after=0,
            fail_with=TransientError("503 from the insurer"),
        ),
        "buggy": Exploding(),  # type: ignore[dict-item]
    }
    with capture_logs() as logs:
        result = jobs.limit_sync(context(ledger, adapters, more, "limit_sync"))
    assert result["ok"] is False
    assert result["failed"] == ["a-down", "b-buggy", "c-unwired"]
    assert result["policies"]["atradius-main"]["status"] == "succeeded"
    assert "bug in the adapter" in result["policies"]["b-buggy"]["errors"][0]
    assert result["written"] == 8 and result["exposure_rows"] > 0
    assert any(e["event"] == "scheduled_sync_failed" for e in logs)


def test_pending_requests_poll_advances_the_outbox(
    world: tuple[Wiring, Ledger, dict[str, Policy]],
) -> None:
    wiring, ledger, policies = world
    adapters = {"atradius": wiring.insurer("atradius").adapter}
    policy = policies["atradius-main"]
    request_id = cover_requests.queue_request(
        ledger,
        policy,
        buyer="C1001",
        action=CoverAction.INCREASE,
        amount=Money(Decimal("150000"), "EUR"),
        now=NOW,
    )
    assert cover_requests.list_requests(ledger, request_id=request_id)[0].state == "QUEUED"
    result = jobs.pending_requests_poll(
        context(ledger, adapters, policies, "pending_requests_poll")
    )
    assert result == {
        "ok": True,
        "advanced": 1,
        "applications_decided": 0,
        "case_filings_polled": 0,
    }
    (view,) = cover_requests.list_requests(ledger, request_id=request_id)
    assert view.state != "QUEUED" and view.insurer_request_ref


def test_alert_digest_counts_the_days_alerts(
    world: tuple[Wiring, Ledger, dict[str, Policy]],
) -> None:
    wiring, ledger, policies = world
    adapters = {"atradius": wiring.insurer("atradius").adapter}
    jobs.limit_sync(context(ledger, adapters, policies, "limit_sync"))
    with capture_logs() as logs:
        digest = jobs.alert_digest(context(ledger, adapters, policies, "alert_digest"))
    assert digest["ok"] and digest["business_date"] == "2026-11-29"
    assert digest["total"] == sum(digest["by_kind"].values()) == sum(digest["by_severity"].values())
    assert digest["by_kind"]["cover_new"] > 0
    (event,) = [e for e in logs if e["event"] == "alert_digest"]
    assert event["total"] == digest["total"] and event["by_kind"] == digest["by_kind"]
    other_day = jobs.alert_digest(
        context(ledger, adapters, policies, "alert_digest", day=date(2026, 11, 28))
    )
    assert other_day["total"] == 0


def test_the_scheduler_runs_the_real_jobs_once_per_business_date(
    world: tuple[Wiring, Ledger, dict[str, Policy]],
) -> None:
    wiring, ledger, policies = world
    adapters = {"atradius": wiring.insurer("atradius").adapter}
    clock = FakeClock(datetime(2026, 11, 29, 7, 5, tzinfo=UTC))
    leader = make_leader(ledger, "real", lease_seconds=60)
    d = Dispatcher(
        wiring.settings.scheduler,
        ledger=ledger,
        adapters=adapters,
        policies=policies,
        leader=leader,
        clock=clock,
    )
    assert leader.acquire()
    outcomes = d.catch_up()
    assert sorted((o.key, o.state) for o in outcomes) == [
        ("alert_digest", "SUCCEEDED"),
        ("claims_run", "SUCCEEDED"),
        ("credit_review", "SUCCEEDED"),
        ("limit_sync", "SUCCEEDED"),
        ("pending_requests_poll@0700", "SUCCEEDED"),
    ]
    assert d.catch_up() == []
    leader.release()
    assert count(ledger, SyncRunRow) == 1
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None and run.detail["result"]["policies"]["atradius-main"]["written"] == 8
