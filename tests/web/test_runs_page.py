"""The runs page: the last limit syncs and scheduler job runs, failures first (then
newest), the error on one line; the scheduler's jobs and leader; the empty state."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger import jobs
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.runs import finish_sync_run, start_sync_run
from tci_gateway.services.sync import sync_limits

from ..api.conftest import AS_OF
from ..api.risk_seed import POLICY, seed_demo
from .conftest import WebHarness


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def rows_of(page: str, heading_id: str) -> list[tuple[str, list[str]]]:
    """(row class, cells as text) of the table under ``heading_id``."""
    start = page.index(f'id="{heading_id}"')
    part = page[start : page.index("</section>", start)]
    body = part[part.index("<tbody>") : part.index("</tbody>")]
    return [
        (cls, [text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)])
        for cls, row in re.findall(r'<tr class="([^"]*)">(.*?)</tr>', body, re.S)
    ]


def failed_sync(web: WebHarness) -> int:
    """A failed sync of the Atradius policy an hour ago, with a two-line error."""
    with web.ledger.unit_of_work() as session:
        policy_id = policy_ids(session)[POLICY]
        run_id = start_sync_run(
            session,
            insurer="atradius",
            policy_id=policy_id,
            business_date=date(2026, 12, 1),
            now=AS_OF - timedelta(hours=1),
        )
        finish_sync_run(
            session,
            run_id,
            status=SyncStatus.FAILED,
            now=AS_OF - timedelta(minutes=59),
            fetched=0,
            written=0,
            unchanged=0,
            stale=0,
            errors=["atradius: connection refused\n  while reading covers", "second"],
        )
    return run_id


def job_run(web: WebHarness, job: str, day: date, *, ok: bool, error: str = "") -> int:
    claim = jobs.claim(web.ledger, job, day, "scheduler-a", AS_OF, timedelta(minutes=5))
    assert claim is not None
    detail = {"result": {"ok": ok}} | ({"error": error} if error else {})
    assert jobs.finish(web.ledger, claim, succeeded=ok, now=AS_OF, detail=detail)
    return claim.run_id


def test_failures_are_listed_first_then_the_newest(web: WebHarness) -> None:
    seed_demo(web.api)  # sync run 1: succeeded
    failed = failed_sync(web)
    ctx = web.api.ctx
    newest = sync_limits(
        ctx.ledger,
        ctx.wiring.insurer("atradius").adapter,
        ctx.settings.domain_policies()[POLICY],
        now=ctx.now(),
    ).run_id
    assert newest is not None
    old_failure = job_run(
        web, "limit_sync", date(2026, 11, 29), ok=False, error="atradius-main: refused"
    )
    done = job_run(web, "limit_sync", date(2026, 11, 30), ok=True)
    latest = job_run(web, "alert_digest", date(2026, 12, 1), ok=True)

    page = web.sign_in("viewer").get("/runs")
    assert page.status_code == 200, page.text
    syncs = rows_of(page.text, "syncs-title")
    assert [cells[0] for _, cells in syncs] == [str(failed), str(newest), str(newest - 2)]
    cls, first = syncs[0]
    assert cls == "failed" and first[1] == "failed"
    assert first[2:5] == [POLICY, "atradius", "2026-12-01"]
    assert first[5] == "2026-12-01 11:00 UTC"
    assert first[11] == "atradius: connection refused while reading covers (+1 more)"
    assert syncs[1][1][1] == "succeeded" and syncs[1][0] == ""
    assert syncs[2][1][7:9] == ["8", "8"]  # the first sync fetched and wrote 8 covers
    assert "1 not succeeded" in page.text

    job_runs = rows_of(page.text, "jobruns-title")
    assert [cells[0] for _, cells in job_runs] == [str(old_failure), str(latest), str(done)]
    assert job_runs[0][0] == "failed"
    assert job_runs[0][1][1:4] == ["limit_sync", "failed", "2026-11-29"]
    assert job_runs[0][1][-1] == "atradius-main: refused"
    assert "1 failed" in page.text


def test_the_scheduler_jobs_and_leader(web: WebHarness) -> None:
    page = web.sign_in("viewer").get("/runs")
    scheduler = text(page.text[page.text.index('id="jobs-title"') :])
    assert "Leader: none" in scheduler
    assert "no scheduler holds the leader's lock" in scheduler
    api = web.api.client.get("/v1/jobs", headers=web.api.key("buyers:read")).json()
    for job in api["jobs"]:
        assert job["job"] in scheduler and job["cron"] in scheduler
    assert "limit_sync" in scheduler and "2026-12-02 02:30 UTC" in scheduler


def test_the_empty_state_and_sign_in(web: WebHarness) -> None:
    page = web.sign_in("viewer").get("/runs")
    assert page.status_code == 200
    assert "No sync has run yet." in page.text and "tci sync limits" in page.text
    assert "No scheduler job has run yet." in page.text
    answer = web.client.get("/runs", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/runs"


# The page runs services whose PostgreSQL behaviour their own tests cover (tests/api,
# tests/services); on SQLite only here, to keep CI within its time (tests/conftest.py).
SQLITE_ONLY = True
