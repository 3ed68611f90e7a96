"""The risk team's cover flow end to end: ``tci serve`` as a subprocess (SQLite) beside
the Allianz Trade sandbox served on loopback. A cover request posted to the API is sent
by the serving process's relay; its decision arrives by polling, and, with ``[api]
public_url`` set, by the sandbox's callback (polling then set to once an hour, so only
the callback can bring it in time)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tci_gateway.ledger import api_keys
from tci_gateway.ledger.tables import CoverRequestRow

from . import cover_setup
from .serve import free_port, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DECISION_DELAY = 2.0
"""Seconds the sandbox takes to decide (wall clock)."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[cover_setup.CoverWorld]:
    built = cover_setup.build(
        f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, buyers=2, decision_delay=DECISION_DELAY
    )
    try:
        yield built
    finally:
        built.sandbox.close()
        built.close()


def configure(world: cover_setup.CoverWorld, api: str) -> str:
    """Add the ``[api]`` section to the world's configuration; answer a key's header."""
    world.config.write_text(world.config.read_text(encoding="utf-8") + api, encoding="utf-8")
    with world.ledger.unit_of_work() as session:
        _, token = api_keys.create_key(
            session, "risk-desk", ["cover:request"], now=world.as_of, policies=None
        )
    return f"Bearer {token}"


def request_cover(url: str, auth: str, buyer: str = "C0001", key: str = "e2e-1") -> dict[str, Any]:
    response = httpx.post(
        f"{url}/v1/cover-requests",
        json={
            "policy": "allianz-pol",
            "buyer": buyer,
            "action": "new",
            "amount": "30000.00",
            "currency": "EUR",
        },
        headers={"Authorization": auth, "Idempotency-Key": key},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    assert response.headers["location"] == made["url"] and made["state"] == "QUEUED"
    return made


def wait_for_decision(url: str, auth: str, made: dict[str, Any], within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        got = httpx.get(f"{url}{made['url']}", headers={"Authorization": auth}, timeout=10)
        assert got.status_code == 200, got.text
        view: dict[str, Any] = got.json()
        if view["state"] == "DECIDED" or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


def test_the_decision_arrives_by_poll(world: cover_setup.CoverWorld) -> None:
    auth = configure(world, "[api]\ncover_poll_seconds = 1\n")
    with serving("-c", str(world.config), cwd=world.cwd, env=world.env) as served:
        made = request_cover(served.url, auth)
        decided = wait_for_decision(served.url, auth, made, within=30)
        assert decided["state"] == "DECIDED", served.output()
        assert decided["outcome"]["status"] == "APPROVED"
        assert decided["outcome"]["amount"] == "30000.00"
        assert "Agreement" in decided["outcome"]["raw_codes"].values()
        assert decided["callbacks"]["registered"] == 0
    assert world.sandbox.posts_per_reference == {made["client_reference"]: 1}
    assert world.sandbox.callback_deliveries == []


def test_the_decision_arrives_by_callback(world: cover_setup.CoverWorld) -> None:
    port = free_port()
    auth = configure(
        world, f'[api]\npublic_url = "http://127.0.0.1:{port}"\ncover_poll_seconds = 3600\n'
    )
    world.sandbox.poster.start()  # the sandbox decides on its own and calls back
    with serving("-c", str(world.config), cwd=world.cwd, env=world.env, port=port) as served:
        made = request_cover(served.url, auth)
        started = time.monotonic()
        decided = wait_for_decision(served.url, auth, made, within=30)
        took = time.monotonic() - started
        assert decided["state"] == "DECIDED", served.output()
        assert took < 60  # the hourly poll could not have brought it
        assert decided["outcome"]["amount"] == "30000.00"
        assert decided["callbacks"]["registered"] == 1 and decided["callbacks"]["hits"] >= 1
        [delivery] = [d for d in world.sandbox.callback_deliveries if d["delivered"]]
        assert delivery["status"] == 202
        assert delivery["url"].startswith(f"http://127.0.0.1:{port}/v1/hooks/allianz/")
        token = delivery["url"].rsplit("/", 1)[1]
        # A replay of the callback is harmless: the request is settled.
        replay = httpx.post(delivery["url"], json={"jobId": "x"}, timeout=10)
        assert replay.status_code == 202 and replay.json()["lookup"] == "not_needed"
        assert httpx.post(f"{delivery['url']}x", json={}, timeout=10).status_code == 404
        output = served.output()
    assert token not in output and "/v1/hooks/allianz/***" in output
    assert world.sandbox.posts_per_reference == {made["client_reference"]: 1}


def queued_rows(world: cover_setup.CoverWorld) -> list[cover_setup.Request]:
    with world.ledger.reading() as session:
        ids = list(session.scalars(select(CoverRequestRow.id).order_by(CoverRequestRow.id)))
    return world.requests(*ids)


def test_two_instances_and_a_kill_mid_relay_send_each_request_once(
    database_url: str, tmp_path: Path
) -> None:
    """An instance is killed (-9) while its relay's cover POST is at the insurer; then two
    instances relay the rest on the same ledger against a slow insurer: each request
    reaches the insurer once, the killed one's found by its reference."""
    world = cover_setup.build(database_url, tmp_path, buyers=6, decision_delay=600)
    try:
        auth = configure(world, "[api]\ncover_poll_seconds = 1\n")
        world.front.delay = 0.3
        world.front.hold = threading.Event()
        held = world.front.hold
        made = []
        with serving("-c", str(world.config), cwd=world.cwd, env=world.env) as first:
            for n in range(6):
                made.append(request_cover(first.url, auth, buyer=f"C{n + 1:04d}", key=f"k{n}"))
            assert world.front.holding.wait(30), first.output()
            world.front.hold = None  # later POSTs go through; the held one waits
            first.kill(signal.SIGKILL)
        held.set()  # the insurer stores the killed instance's request after all
        port_a, port_b = free_port(), free_port()
        with (
            serving("-c", str(world.config), cwd=world.cwd, env=world.env, port=port_a) as a,
            serving("-c", str(world.config), cwd=world.cwd, env=world.env, port=port_b),
        ):
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                rows = queued_rows(world)
                if all(r.state == "PENDING" for r in rows):
                    break
                time.sleep(0.3)
            rows = queued_rows(world)
            assert [r.state for r in rows] == ["PENDING"] * 6, (rows, a.output())
        posts = world.sandbox.posts_per_reference
        assert {m["client_reference"]: posts[m["client_reference"]] for m in made} == {
            m["client_reference"]: 1 for m in made
        }
        for row in rows:
            assert len(world.stored(row.client_reference)) == 1 and row.last_error is None
        killed = [r for r in rows if (r.insurer_request_ref or "").startswith("request:")]
        assert len(killed) == 1 and killed[0].attempts == 1  # found by reference, not resent
    finally:
        world.sandbox.close()
        world.close()
