"""GET /metrics: request counters by route template, insurer call errors, and the ledger's
figures (sync and job outcomes, outbox depth) read at scrape time."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families

from tci_gateway.api import metrics
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.errors import TransientError
from tci_gateway.http.client import ApiClient
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.runs import finish_sync_run, start_sync_run
from tci_gateway.ledger.tables import JobRunRow, PolicyRow
from tests.api.conftest import AS_OF, ApiHarness, make_harness, sandbox_settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text answer, by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def scrape(api: ApiHarness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def requests_of(api: ApiHarness, method: str, route: str, status: int) -> float:
    key = (
        "tci_http_requests_total",
        (("method", method), ("route", route), ("status", str(status))),
    )
    return scrape(api).get(key, 0.0)


def test_requests_are_counted_by_route_template_and_status(api: ApiHarness) -> None:
    router = APIRouter()

    @router.get("/test-metrics/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    api.client.app.include_router(router)  # type: ignore[attr-defined]
    route = "/test-metrics/things/{thing_id}"
    before = requests_of(api, "GET", route, 200)
    before_unmatched = requests_of(api, "GET", "unmatched", 404)
    for thing_id in (1, 2, 3):
        assert api.client.get(f"/test-metrics/things/{thing_id}").status_code == 200
    assert api.client.get("/test-metrics/things/x").status_code == 422
    assert api.client.get("/no/such/path/123").status_code == 404
    after = scrape(api)
    labels = (("method", "GET"), ("route", route))
    assert after[("tci_http_requests_total", (*labels, ("status", "200")))] == before + 3
    assert after[("tci_http_requests_total", (*labels, ("status", "422")))] >= 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert after[("tci_http_requests_total", unmatched)] == before_unmatched + 1
    # No series carries the raw path.
    assert not any("/test-metrics/things/1" in str(key) for key in after)
    assert after[("tci_http_request_duration_seconds_count", labels)] >= 4


def test_insurer_call_errors_are_counted_by_adapter_and_status(api: ApiHarness) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "down"})

    client = ApiClient(
        adapter="metrics-test",
        base_url="https://insurer.invalid",
        transport=httpx.MockTransport(answer),
        retry=RetryPolicy(max_attempts=2, sleep=lambda _s: None),
    )
    key = (
        "tci_insurer_call_errors_total",
        (("adapter", "metrics-test"), ("error", "TransientError"), ("status", "503")),
    )
    before = scrape(api).get(key, 0.0)
    with pytest.raises(TransientError):
        client.request("GET", "/limits")
    client.close()
    assert scrape(api)[key] == before + 2  # each failed attempt


def test_ledger_figures_are_read_at_scrape_time(api: ApiHarness) -> None:
    first = scrape(api)
    assert first[("tci_ledger_up", ())] == 1
    for state in ("QUEUED", "AMBIGUOUS", "PENDING"):
        labels = (("outbox", "cover_requests"), ("state", state))
        assert first[("tci_outbox_pending", labels)] == 0
    assert (
        first[("tci_outbox_pending", (("outbox", "webhook_deliveries"), ("state", "pending")))] == 0
    )
    assert first[("tci_outbox_pending", (("outbox", "case_actions"), ("state", "QUEUED")))] == 0

    with api.ledger.unit_of_work() as session:
        policy = PolicyRow(
            key="metrics-policy",
            insurer="atradius",
            currency="EUR",
            insured_percentage=Decimal("90"),
            max_credit_period_days=90,
            max_extension_days=60,
            overdue_notification_days=90,
            waiting_days=180,
            claim_filing_days=360,
            discretionary_limit=Decimal("0"),
            claim_threshold=Decimal("0"),
            deductible=Decimal("0"),
            timezone="Europe/Paris",
            external_ref={},
            updated_at=AS_OF,
        )
        session.add(policy)
        session.flush()
        for status in (SyncStatus.SUCCEEDED, SyncStatus.SUCCEEDED, SyncStatus.FAILED):
            run = start_sync_run(
                session,
                insurer="atradius",
                policy_id=policy.id,
                business_date=date(2026, 12, 1),
                now=AS_OF - timedelta(hours=2),
            )
            finish_sync_run(
                session,
                run,
                status=status,
                now=AS_OF - timedelta(hours=1),
                fetched=1,
                written=1,
                unchanged=0,
                stale=0,
                errors=[],
            )
        session.add(
            JobRunRow(
                job="limit_sync",
                business_date=date(2026, 12, 1),
                state=JobState.FAILED,
                owner="test",
                attempts=1,
                started_at=AS_OF - timedelta(hours=1),
                lease_until=AS_OF,
                finished_at=AS_OF - timedelta(minutes=30),
                detail={},
            )
        )
    after = scrape(api)
    ok = (("insurer", "atradius"), ("status", "succeeded"))
    assert after[("tci_sync_runs", ok)] == 2
    assert after[("tci_sync_runs", (("insurer", "atradius"), ("status", "failed")))] == 1
    finished = (AS_OF - timedelta(hours=1)).timestamp()
    assert after[("tci_sync_last_finished_timestamp_seconds", ok)] == finished
    job = (("job", "limit_sync"), ("state", "FAILED"))
    assert after[("tci_job_runs", job)] == 1
    last_job = (AS_OF - timedelta(minutes=30)).timestamp()
    assert after[("tci_job_last_finished_timestamp_seconds", job)] == last_job


def test_a_ledger_that_does_not_answer_is_a_figure_not_an_error(api: ApiHarness) -> None:
    def broken() -> None:
        raise RuntimeError("ledger down")

    api.ctx.ledger.reading = broken  # type: ignore[method-assign]
    figures = scrape(api)
    assert figures[("tci_ledger_up", ())] == 0
    assert not any(name == "tci_outbox_pending" for name, _ in figures)


def test_metrics_auth_asks_for_the_metrics_scope(database_url: str) -> None:
    settings = sandbox_settings(database_url)
    settings.api.metrics_auth = True
    api = make_harness(database_url, settings=settings)
    with api.client:
        assert api.client.get("/metrics").status_code == 401
        assert api.client.get("/metrics", headers=api.key("limits:read")).status_code == 403
        response = api.client.get("/metrics", headers=api.key("metrics:read"))
        assert response.status_code == 200
        assert "tci_http_requests_total" in response.text
        assert api.client.get("/metrics", headers=api.key("admin")).status_code == 200
    api.ctx.wiring.close()
    api.ledger.dispose()


# The process counters and the route do not depend on the backend: SQLite only.
for _test in (
    test_requests_are_counted_by_route_template_and_status,
    test_insurer_call_errors_are_counted_by_adapter_and_status,
    test_a_ledger_that_does_not_answer_is_a_figure_not_an_error,
    test_metrics_auth_asks_for_the_metrics_scope,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]


_WORKER = """
import sys
from tci_gateway.api import metrics
for _ in range(int(sys.argv[1])):
    metrics.REQUESTS.labels("GET", "/healthz", "200").inc()
"""


def test_multiprocess_mode_sums_every_worker(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (what ``tci serve --workers N`` sets), a scrape of
    any worker answers the sum of every worker's counters."""
    directory = tmp_path / "prom"
    directory.mkdir()
    env = {**os.environ, metrics.MULTIPROCESS_ENV: str(directory)}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", _WORKER, str(count)], env=env, check=True)
    scraper = (
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "from prometheus_client.multiprocess import MultiProcessCollector\n"
        "import sys\n"
        "registry = CollectorRegistry()\n"
        "MultiProcessCollector(registry, path=sys.argv[1])\n"
        "sys.stdout.write(generate_latest(registry).decode())\n"
    )
    text = subprocess.run(
        [sys.executable, "-c", scraper, str(directory)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key = (
        "tci_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )
    assert samples(text)[key] == 7
