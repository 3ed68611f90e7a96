"""Several ``tci serve`` on one PostgreSQL ledger behave as one: two instances, one of
them with ``--workers 4``.

* An ``Idempotency-Key`` holds across instances: the same cover request sent to both
  at once with one key queues one request; every answer is the stored one or "in
  progress"; a replay on either instance answers the stored response.
* ``--with-scheduler`` on both: one leader among the five scheduler threads, each job
  once per business date, and after a ``kill -9`` of the leader another takes over.
* ``kill -9`` of one instance while it is sending a cover request (the insurer, an
  Allianz Trade sandbox on loopback, holds the POST): every request reaches the insurer
  exactly once (counted by client reference at the sandbox), the killed one looked up
  by reference by the survivor rather than sent again.

And SQLite stays single-instance: ``tci serve --workers 2`` on SQLite is one line, exit 2.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tci_gateway.ledger.engine import make_engine, normalise_url

from .conftest import run_tci
from .cover_setup import AMOUNT, CoverWorld, build
from .serve import Served, serving
from .test_scheduler import job_runs, prepare
from .test_scheduler import write_config as write_scheduler_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")
READY = 180.0
"""Seconds for an instance to answer /healthz (four workers each import the application;
a loaded CI machine)."""


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of the test's own in its search path."""
    if not PG_URL:
        pytest.skip("TCI_TEST_DATABASE_URL is not set: several instances need PostgreSQL")
    schema = f"e2e_inst_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def parent_of(pid: int) -> int:
    """The parent process id (Linux ``/proc``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def instance_of(owner: str, instances: dict[str, Served]) -> str:
    """Which instance a scheduler owner (``host:pid:tag``) runs in: its process or one
    of its workers."""
    pid = int(owner.split(":")[-2])
    for name, served in instances.items():
        if pid == served.process.pid or parent_of(pid) == served.process.pid:
            return name
    raise AssertionError(f"{owner} is in neither instance")


def create_key(config: Path, cwd: Path, env: dict[str, str], *scopes: str) -> dict[str, str]:
    args = [a for scope in scopes for a in ("--scope", scope)]
    run = run_tci(
        "-c", str(config), "--json", "keys", "create", "--name", "e2e", *args, cwd=cwd, env=env
    )
    assert run.code == 0, run.stderr
    return {"Authorization": f"Bearer {run.json()['token']}"}


def test_sqlite_serves_one_process(tmp_path: Path) -> None:
    config = write_scheduler_config(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    assert run_tci("-c", str(config), "db", "upgrade", cwd=tmp_path).code == 0
    run = run_tci("-c", str(config), "serve", "--workers", "2", cwd=tmp_path)
    assert run.code == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "error: a SQLite ledger is served by one process: use --workers 1, or PostgreSQL "
        "for several workers or instances"
    ]


# -- idempotency keys across instances ------------------------------------------------


@pytest.fixture
def world(pg_url: str, tmp_path: Path) -> Iterator[CoverWorld]:
    built = build(pg_url, tmp_path, buyers=12)
    try:
        yield built
    finally:
        built.close()


def serve_args(world: CoverWorld, *options: str) -> tuple[str, ...]:
    return ("-c", str(world.config), "--log-format", "json", "serve", *options)


def cover_body(buyer: str) -> dict[str, str]:
    return {
        "policy": "allianz-pol",
        "buyer": buyer,
        "action": "new",
        "amount": str(AMOUNT),
        "currency": "EUR",
    }


def test_an_idempotency_key_holds_across_instances(world: CoverWorld) -> None:
    headers = create_key(world.config, world.cwd, world.env, "cover:request")
    with (
        serving(*serve_args(world), cwd=world.cwd, env=world.env, ready_timeout=READY) as one,
        serving(
            *serve_args(world, "--workers", "4"), cwd=world.cwd, env=world.env, ready_timeout=READY
        ) as four,
    ):
        for trial in range(4):
            key = {**headers, "Idempotency-Key": f"erp-{trial}-{uuid.uuid4().hex}"}
            body = cover_body(f"C{trial + 1:04d}")
            urls = [one.url, four.url] * 4
            barrier = threading.Barrier(len(urls))

            def post(
                url: str,
                key: dict[str, str] = key,
                body: dict[str, str] = body,
                barrier: threading.Barrier = barrier,
            ) -> Any:
                barrier.wait()
                return httpx.post(f"{url}/v1/cover-requests", json=body, headers=key, timeout=30)

            with ThreadPoolExecutor(len(urls)) as pool:
                answers = list(pool.map(post, urls))
            statuses = sorted(a.status_code for a in answers)
            assert set(statuses) <= {202, 409}, [(a.status_code, a.text) for a in answers]
            accepted = [a.json() for a in answers if a.status_code == 202]
            assert accepted, statuses
            assert {a["id"] for a in accepted} == {accepted[0]["id"]}  # one request
            for answer in answers:
                if answer.status_code == 409:
                    assert answer.headers["Retry-After"] == "2"
                    assert "still in progress" in answer.json()["detail"]
            for url in (one.url, four.url):  # replays, on either instance
                again = httpx.post(f"{url}/v1/cover-requests", json=body, headers=key)
                assert again.status_code == 202, again.text
                assert again.headers["Idempotent-Replayed"] == "true"
                assert again.json()["id"] == accepted[0]["id"]
                other = httpx.post(
                    f"{url}/v1/cover-requests", json=cover_body("C0012"), headers=key
                )
                assert other.status_code == 422, other.text
        engine = make_engine(world.url)
        try:
            with engine.connect() as conn:
                per_buyer = conn.execute(
                    text(
                        "SELECT b.name, count(*) FROM cover_requests r "
                        "JOIN buyers b ON b.id = r.buyer_id GROUP BY b.name"
                    )
                ).all()
                audited = conn.scalar(
                    text("SELECT count(*) FROM api_audit WHERE action = 'cover_request.queue'")
                )
        finally:
            engine.dispose()
        assert sorted(n for _name, n in per_buyer) == [1, 1, 1, 1], per_buyer
        assert audited == 4


# -- one scheduler leader ---------------------------------------------------------------


def leader_note(engine: Engine) -> str | None:
    with engine.connect() as conn:
        owner = conn.scalar(text("SELECT owner FROM scheduler_leases WHERE name = 'scheduler'"))
    return str(owner) if owner is not None else None


def test_with_scheduler_on_both_instances_one_leader(tmp_path: Path, pg_url: str) -> None:
    config = write_scheduler_config(tmp_path, pg_url, heartbeat=0.25, lease=2.0)
    prepare(tmp_path, config)
    as_of = "2026-11-29T07:05:00+00:00"  # the catch-up runs each job due by then, once
    args = ("-c", str(config), "--as-of", as_of, "--log-format", "json", "serve")
    engine = make_engine(pg_url)
    try:
        with (
            serving(*args, "--with-scheduler", cwd=tmp_path, ready_timeout=READY) as one,
            serving(
                *args, "--workers", "4", "--with-scheduler", cwd=tmp_path, ready_timeout=READY
            ) as four,
        ):
            instances = {"one": one, "four": four}
            wait_for(lambda: len(job_runs(engine)) == 5, 60, "the catch-up's five jobs")
            wait_for(lambda: all(r[2] == "SUCCEEDED" for r in job_runs(engine)), 60, "success")
            runs = job_runs(engine)
            assert sorted(r[0] for r in runs) == [
                "alert_digest",
                "claims_run",
                "credit_review",
                "limit_sync",
                "pending_requests_poll@0700",
            ]
            assert len({r[3] for r in runs}) == 1, runs  # one owner ran everything
            assert all(r[4] == 1 for r in runs), runs  # once each
            leader = leader_note(engine)
            assert leader == runs[0][3]
            # Five scheduler threads (one + four workers) stand by behind one leader.
            for _ in range(10):
                time.sleep(0.3)
                assert leader_note(engine) == leader
            doctor = run_tci("-c", str(config), "--json", "doctor", "--offline", cwd=tmp_path)
            checks = {c["name"]: c for c in doctor.json()["checks"]}
            assert doctor.code == 0, checks
            assert checks["scheduler"]["detail"].startswith(f"led by {leader}")
            assert checks["clock"]["detail"].startswith("within ")

            # kill -9 the leader (a worker of --workers 4, or the single process): another
            # scheduler thread takes over, and no job runs twice.
            victim = int(leader.split(":")[-2])
            was = instance_of(leader, instances)
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: leader_note(engine) not in (None, leader), 30, "another leader")
            successor = leader_note(engine)
            assert successor is not None and int(successor.split(":")[-2]) != victim
            if was == "one":
                assert instance_of(successor, instances) == "four"
            time.sleep(1.0)
            assert job_runs(engine) == runs  # nothing ran again
            survivor = four if was == "one" else one
            assert survivor.process.poll() is None
        log = (four if was == "one" else one).output()
        assert '"event": "scheduler_stopped"' in log, log[-3000:]
    finally:
        engine.dispose()


# -- kill -9 of an instance mid-relay ----------------------------------------------------


def test_kill_9_of_one_instance_mid_relay_sends_each_request_once(world: CoverWorld) -> None:
    headers = create_key(world.config, world.cwd, world.env, "cover:request", "limits:read")
    front = world.front
    held: list[str] = []
    count = threading.Lock()
    handle = front.handle

    def counting(request: httpx.Request) -> httpx.Response:
        hold = front.hold is not None and request.method == "POST"
        if hold and request.url.path == front.cover_path:
            with count:
                held.append(request.url.path)
        return handle(request)

    front.handle = counting  # type: ignore[method-assign]
    front.hold = threading.Event()
    requests = 10
    with serving(*serve_args(world), cwd=world.cwd, env=world.env, ready_timeout=READY) as one:
        # One instance first: the first cover POST the insurer holds is its own.
        ids = []
        for n in range(requests):
            answer = httpx.post(
                f"{one.url}/v1/cover-requests",
                json=cover_body(f"C{n + 1:04d}"),
                headers={**headers, "Idempotency-Key": f"kill-{n}"},
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        wait_for(lambda: len(held) >= 1, 30, "the first instance's cover POST")
        with serving(
            *serve_args(world, "--workers", "4"), cwd=world.cwd, env=world.env, ready_timeout=READY
        ) as four:
            # The second instance's workers send the other requests (held too).
            wait_for(lambda: len(held) >= 3, 30, "the second instance's cover POSTs")
            one.kill(signal.SIGKILL)  # mid-send: its POST is in the insurer's hands
            assert one.process.returncode == -signal.SIGKILL
            front.hold.set()  # the insurer answers (the killed instance hears nothing)
            front.hold = None

            def settled() -> bool:
                rows = world.requests(*ids)
                return len(rows) == requests and all(
                    r.state in ("PENDING", "DECIDED") for r in rows
                )

            # The killed instance's request is looked up after the relay's retry delay.
            wait_for(settled, 120, "every request acknowledged by the insurer")
            listed = httpx.get(f"{four.url}/v1/cover-requests/{ids[0]}", headers=headers)
            assert listed.status_code == 200, listed.text
    rows = world.requests(*ids)
    posts = world.sandbox.posts_per_reference
    for row in rows:
        assert posts[row.client_reference] == 1, (row, dict(posts))
        assert len(world.stored(row.client_reference)) == 1, row
        assert row.insurer_request_ref is not None and row.last_error is None, row
    # The killed instance's request had been stored by the insurer: its attempt was
    # counted before the send, and the survivor found it by reference (no second POST).
    assert any(r.attempts == 1 and r.insurer_request_ref for r in rows)
    assert sum(posts[r.client_reference] for r in rows) == requests
