"""``tci serve --workers 2`` on PostgreSQL: whichever worker answers a scrape, the request
counters are the sum over both workers (prometheus_client's multiprocess mode)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import BACKENDS
from .serve import serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]


def _count(text: str, route: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "tci_http_requests_total"
                and labels.get("route") == route
                and labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


def _readyz(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as fresh:  # a new connection each time
        response = fresh.get("/readyz")
    assert response.status_code == 200, response.text
    return str(response.json()["instance"])


@pytest.mark.parametrize("database_url", [BACKENDS[1]], indirect=True)
def test_every_worker_answers_the_sum_of_all_workers(database_url: str, tmp_path: Path) -> None:
    env = {"TCI_DATABASE__URL": database_url}
    # Spawned workers import the CLI before they serve: slow on a loaded machine.
    with serving("serve", "--workers", "2", cwd=tmp_path, env=env, ready_timeout=180) as served:
        # Concurrent requests on new connections until both workers have answered some
        # (/readyz names the process that answered).
        instances: list[str] = []
        with ThreadPoolExecutor(16) as pool:
            for _ in range(30):
                instances += pool.map(_readyz, [served.url] * 16)
                if len(set(instances)) == 2:
                    break
        assert len(set(instances)) == 2, "the requests all reached one worker"
        # Without the shared counters a scrape would answer one worker's share only.
        for _ in range(10):
            with httpx.Client(base_url=served.url, timeout=10) as fresh:
                response = fresh.get("/metrics")
            assert response.status_code == 200
            assert _count(response.text, "/readyz") == len(instances)
        assert "tci_ledger_up 1.0" in response.text


test_every_worker_answers_the_sum_of_all_workers.sqlite_only = True  # type: ignore[attr-defined]
