"""The risk team's cover flow end to end: ``tci serve`` as a subprocess (SQLite) beside
the Allianz Trade sandbox served on loopback. A cover request posted to the API is sent
by the serving process's relay; its decision arrives by polling, and, with ``[api]
public_url`` set, by the sandbox's callback (polling then set to once an hour, so only
the callback can bring it in time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tci_gateway.ledger import api_keys

from . import cover_setup
from .serve import free_port, serving

pytestmark = pytest.mark.e2e
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


def request_cover(url: str, auth: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/v1/cover-requests",
        json={
            "policy": "allianz-pol",
            "buyer": "C0001",
            "action": "new",
            "amount": "30000.00",
            "currency": "EUR",
        },
        headers={"Authorization": auth, "Idempotency-Key": "e2e-1"},
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
