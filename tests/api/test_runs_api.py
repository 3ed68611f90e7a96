"""Sync runs and scheduler job runs through the API, and running a job now: the run is
the scheduler's own (its key, lease and outcome), so the scheduler and the API never run
it twice; 409 while it is held."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tci_gateway.ledger import jobs as job_runs
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.tables import AlertRow
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.jobs import JOBS, JobContext, JobSpec
from tci_gateway.scheduler.leader import wall_clock
from tci_gateway.scheduler.manual import ManualRunner
from tci_gateway.services.sync import sync_limits

from ..scheduler.fakes import AlwaysLeader
from .conftest import AS_OF, ApiHarness, make_harness
from .risk_seed import POLICY, seed_demo

DAY = date(2026, 12, 1)  # the harness's clock, in the scheduler's UTC
GATE = threading.Event()
CALLS: list[str] = []


def gated_job(context: JobContext) -> dict[str, Any]:
    """A job that runs until the test opens the gate."""
    CALLS.append(context.job)
    assert GATE.wait(30), "the test never opened the gate"
    return {"ok": True, "calls": len(CALLS)}


def failing_job(context: JobContext) -> dict[str, Any]:
    CALLS.append(context.job)
    return {"ok": False, "errors": ["atradius-main: connection refused"]}


GATED = {**JOBS, "limit_sync": JobSpec(f"{__name__}:gated_job")}


@pytest.fixture(autouse=True)
def _reset() -> None:
    GATE.clear()
    CALLS.clear()


def finished(api: ApiHarness, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The run at ``url`` once it is no longer RUNNING."""
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = api.client.get(url, headers=headers).json()
        if body["state"] != "RUNNING" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def use_jobs(api: ApiHarness, jobs: dict[str, JobSpec]) -> ManualRunner:
    """Serve runs on demand with these job functions (the route's runner otherwise)."""
    ctx = api.ctx
    runner = ManualRunner(
        ctx.settings.scheduler,
        ctx.ledger,
        dict,
        ctx.settings.domain_policies(),
        owner="api:test",
        jobs=jobs,
    )
    api.client.app.state.manual_runs = runner  # type: ignore[attr-defined]
    return runner


def scheduler(api: ApiHarness, jobs: dict[str, JobSpec]) -> Dispatcher:
    """The scheduler's dispatcher on the same ledger, leading, at the harness's clock."""
    ctx = api.ctx
    return Dispatcher(
        ctx.settings.scheduler,
        ledger=ctx.ledger,
        adapters={},
        policies=ctx.settings.domain_policies(),
        leader=AlwaysLeader("scheduler-elsewhere"),
        clock=lambda: AS_OF,
        jobs=jobs,
    )


def test_sync_runs_are_listed_with_their_outcome(api: ApiHarness) -> None:
    seed_demo(api)
    ctx = api.ctx
    again = sync_limits(
        ctx.ledger,
        ctx.wiring.insurer("atradius").adapter,
        ctx.settings.domain_policies()[POLICY],
        now=ctx.now(),
    )
    headers = api.key("buyers:read")
    page = api.client.get("/v1/runs/syncs", headers=headers).json()
    assert [r["id"] for r in page["items"]] == [again.run_id, again.run_id - 1]
    newest, first = page["items"]
    assert (first["status"], first["fetched"], first["written"]) == ("succeeded", 8, 8)
    assert (newest["unchanged"], newest["written"]) == (8, 0)
    assert first["policy"] == POLICY and first["insurer"] == "atradius"
    assert first["business_date"] == "2026-12-01" and first["errors"] == []

    one = api.client.get("/v1/runs/syncs", params={"limit": 1}, headers=headers).json()
    rest = api.client.get(
        "/v1/runs/syncs", params={"limit": 1, "cursor": one["next_cursor"]}, headers=headers
    ).json()
    assert [r["id"] for r in one["items"] + rest["items"]] == [r["id"] for r in page["items"]]
    assert rest["next_cursor"] is None
    for params in ({"status": "failed"}, {"policy": "coface-main"}, {"insurer": "coface"}):
        listed = api.client.get("/v1/runs/syncs", params=params, headers=headers).json()
        assert listed["items"] == [], params

    assert api.client.get(f"/v1/runs/syncs/{first['id']}", headers=headers).json() == first
    missing = api.client.get("/v1/runs/syncs/999", headers=headers)
    assert missing.status_code == 404 and missing.json()["detail"] == "no sync run 999"
    elsewhere = api.key("buyers:read", policies=["coface-main"])
    assert api.client.get("/v1/runs/syncs", headers=elsewhere).json()["items"] == []
    assert api.client.get(f"/v1/runs/syncs/{first['id']}", headers=elsewhere).status_code == 403


def test_a_job_runs_now_and_is_followed_in_the_runs(api: ApiHarness) -> None:
    operator = api.key("jobs:run", name="ops")
    reader = api.key("buyers:read")
    started = api.client.post(
        "/v1/jobs/alert_digest/run", headers=operator | {"Idempotency-Key": "digest-1"}
    )
    assert started.status_code == 202, started.text
    run = started.json()
    url = started.headers["location"]
    assert url == f"/v1/runs/jobs/{run['id']}"
    assert (run["job"], run["key"], run["business_date"]) == (
        "alert_digest",
        "alert_digest",
        "2026-12-01",
    )
    assert (run["reason"], run["requested_by"], run["attempts"]) == ("api", "ops", 1)

    done = finished(api, url, reader)
    assert done["state"] == "SUCCEEDED", done
    assert done["result"]["ok"] is True and done["result"]["business_date"] == "2026-12-01"
    assert done["finished_at"] is not None and done["error"] is None
    listed = api.client.get("/v1/runs/jobs", params={"job": "alert_digest"}, headers=reader)
    assert [r["id"] for r in listed.json()["items"]] == [run["id"]]

    replay = api.client.post(
        "/v1/jobs/alert_digest/run", headers=operator | {"Idempotency-Key": "digest-1"}
    )
    assert replay.status_code == 202 and replay.json() == run
    assert replay.headers["idempotent-replayed"] == "true" and replay.headers["location"] == url
    assert finished(api, url, reader)["attempts"] == 1  # the replay ran nothing
    with api.ledger.reading() as session:
        audits = [
            (a.action, a.actor, a.status, a.detail)
            for a in session.scalars(select(AuditRow).where(AuditRow.action == "job.run"))
        ]
    assert audits == [
        (
            "job.run",
            "ops",
            202,
            {
                "job": "alert_digest",
                "run_id": run["id"],
                "key": "alert_digest",
                "business_date": "2026-12-01",
            },
        )
    ]


def test_the_claims_run_through_the_api_opens_the_cases(api: ApiHarness) -> None:
    seed_demo(api)
    started = api.client.post("/v1/jobs/claims_run/run", headers=api.key("jobs:run"))
    assert started.status_code == 202, started.text
    reader = api.key("buyers:read")
    done = finished(api, started.headers["location"], reader)
    assert done["state"] == "SUCCEEDED", done
    assert (done["result"]["overdue_buyers"], done["result"]["opened"]) == (2, 2)
    cases = api.client.get("/v1/cases", headers=reader).json()["items"]
    assert len(cases) == 2


def test_a_run_the_scheduler_holds_is_409_with_what_holds_it(api: ApiHarness) -> None:
    held = job_runs.claim(
        api.ledger, "limit_sync", DAY, "scheduler-elsewhere", wall_clock(), timedelta(minutes=1)
    )
    assert held is not None
    operator = api.key("jobs:run")
    refused = api.client.post("/v1/jobs/limit_sync/run", headers=operator)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"limit_sync 2026-12-01 is running (run {held.run_id}, scheduler-elsewhere, attempt 1): "
        "try again once it has finished"
    )
    assert refused.headers["retry-after"]
    after = api.client.post("/v1/jobs/claims_run/run", headers=operator)  # runs after it
    assert after.status_code == 409 and "runs before it" in after.json()["detail"]
    run = job_runs.find(api.ledger, "limit_sync", DAY)
    assert run is not None and run.owner == "scheduler-elsewhere" and run.attempts == 1
    assert job_runs.find(api.ledger, "claims_run", DAY) is None


def test_a_run_in_progress_is_409_and_the_scheduler_never_runs_it_twice(
    api: ApiHarness,
) -> None:
    runner = use_jobs(api, GATED)
    dispatcher = scheduler(api, GATED)
    operator, reader = api.key("jobs:run"), api.key("buyers:read")
    started = api.client.post("/v1/jobs/limit_sync/run", headers=operator)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    deadline = time.monotonic() + 10
    while not CALLS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert CALLS == ["limit_sync"]

    again = api.client.post("/v1/jobs/limit_sync/run", headers=operator)
    assert again.status_code == 409 and f"(run {run_id}, api:test" in again.json()["detail"]
    assert dispatcher.fire("limit_sync", AS_OF) is None  # the scheduler's fire: held
    assert all(o.job != "limit_sync" for o in dispatcher.catch_up())
    GATE.set()
    assert runner.wait(30)
    done = finished(api, started.headers["location"], reader)
    assert (done["state"], done["owner"], done["attempts"]) == ("SUCCEEDED", "api:test", 1)
    assert dispatcher.fire("limit_sync", AS_OF) is None  # succeeded for the day
    assert CALLS == ["limit_sync"]

    rerun = api.client.post("/v1/jobs/limit_sync/run", headers=operator)  # on demand: again
    assert rerun.status_code == 202 and rerun.json()["id"] == run_id
    assert runner.wait(30)
    done = finished(api, started.headers["location"], reader)
    assert (done["state"], done["attempts"]) == ("SUCCEEDED", 2)
    assert CALLS == ["limit_sync", "limit_sync"]


def test_a_failed_run_records_its_error_and_alert(api: ApiHarness) -> None:
    runner = use_jobs(api, {**JOBS, "alert_digest": JobSpec(f"{__name__}:failing_job")})
    started = api.client.post("/v1/jobs/alert_digest/run", headers=api.key("jobs:run"))
    assert started.status_code == 202
    assert runner.wait(30)
    reader = api.key("buyers:read")
    done = finished(api, started.headers["location"], reader)
    assert done["state"] == "FAILED" and done["error"] == "atradius-main: connection refused"
    failed = api.client.get("/v1/runs/jobs", params={"state": "FAILED"}, headers=reader).json()
    assert [r["id"] for r in failed["items"]] == [done["id"]]
    with api.ledger.reading() as session:
        kinds = list(session.scalars(select(AlertRow.kind)))
    assert kinds == ["scheduler_job_failed"]


def test_who_may_run_jobs_and_what_is_not_there(api: ApiHarness) -> None:
    reader = api.key("buyers:read")
    assert api.client.post("/v1/jobs/alert_digest/run", headers=reader).status_code == 403
    restricted = api.key("jobs:run", policies=[POLICY])
    refused = api.client.post("/v1/jobs/alert_digest/run", headers=restricted)
    assert refused.status_code == 403 and "every policy" in refused.json()["detail"]
    unknown = api.client.post("/v1/jobs/defrag/run", headers=api.key("jobs:run"))
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("no scheduler job 'defrag' (known: alert_digest")
    assert api.client.get("/v1/runs/jobs/999", headers=reader).status_code == 404
    assert api.client.get("/v1/runs/jobs", headers=api.key("limits:read")).status_code == 403
    for path, name in (("/v1/runs/jobs", "job"), ("/v1/runs/syncs", "policy")):
        control = api.client.get(path, params={name: "a\x00b"}, headers=reader)
        assert control.status_code == 422, path  # a NUL never reaches PostgreSQL

    jobs = api.client.get("/v1/jobs", headers=reader).json()
    assert [j["job"] for j in jobs["jobs"]] == sorted(JOBS)
    limit_sync = next(j for j in jobs["jobs"] if j["job"] == "limit_sync")
    assert (limit_sync["cron"], limit_sync["timezone"]) == ("30 2 * * *", "UTC")
    assert limit_sync["next_fire"] == "2026-12-02T02:30:00Z"
    assert jobs["leader"]["held"] is False and jobs["leader"]["leader"] is None


def test_job_runs_are_keyset_paged_newest_business_date_first(api: ApiHarness) -> None:
    for day in (date(2026, 11, 29), date(2026, 11, 30), DAY):
        claim = job_runs.claim(api.ledger, "limit_sync", day, "s", wall_clock(), timedelta(0))
        assert claim is not None
        job_runs.finish(api.ledger, claim, succeeded=True, now=wall_clock())
    reader = api.key("buyers:read")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/runs/jobs", params=params, headers=reader).json()
        seen += [r["business_date"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["2026-12-01", "2026-11-30", "2026-11-29"]
    bad = api.client.get("/v1/runs/jobs", params={"cursor": "djE6WzFd"}, headers=reader)
    assert bad.status_code == 422


def test_shutting_down_waits_for_a_job_run_on_demand(database_url: str) -> None:
    harness = make_harness(database_url)
    try:
        with harness.client:
            use_jobs(harness, GATED)
            started = harness.client.post(
                "/v1/jobs/limit_sync/run", headers=harness.key("jobs:run")
            )
            assert started.status_code == 202
            threading.Timer(0.5, GATE.set).start()
        # The app has shut down: the run finished first, its outcome recorded.
        run = job_runs.find(harness.ledger, "limit_sync", DAY)
        assert run is not None and run.state == "SUCCEEDED" and CALLS == ["limit_sync"]
    finally:
        harness.ctx.wiring.close()
        harness.ledger.dispose()


test_shutting_down_waits_for_a_job_run_on_demand.sqlite_only = True  # type: ignore[attr-defined]
