"""``GET /v1/limits?changed_since=0`` paging through N buyers (default 100,000) with 32
concurrent clients against ``tci serve`` (a process of its own), against the same paged
query run directly (``limits_page`` in this process, one pass).

Reported: one client's pass through the service alone as the measured time, the direct
pass as the floor; then, with 32 clients at once, the throughput (rows and requests a
second), the p50 and p99 latency of a page and each pass's share of the wall time; and
the serving process's peak resident memory (its ``VmHWM``), which must stay flat in the
number of buyers: run the stage at two sizes to compare."""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks.common import StageResult, scaled, timed
from benchmarks.ledgers import fresh_ledger
from benchmarks.served import SERVE_AS_OF, api_key, fill_limits, serve
from tci_gateway.logs import configure_logging
from tci_gateway.services.export import limits_page

PAGE = 1000


def _pass(url: str, token: str, latencies: list[float], lock: threading.Lock) -> int:
    """One client reading every page once; returns the rows it read."""
    rows = 0
    mine: list[float] = []
    params: dict[str, str | int] = {"changed_since": 0, "limit": PAGE}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600
    ) as client:
        while True:
            started = time.perf_counter()
            response = client.get("/v1/limits", params=params)
            mine.append(time.perf_counter() - started)
            response.raise_for_status()
            page = response.json()
            rows += len(page["covered_limits"])
            if page["next_cursor"] is None:
                break
            params = {"limit": PAGE, "cursor": page["next_cursor"]}
    with lock:
        latencies.extend(mine)
    return rows


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    n, clients = opts.buyers, opts.clients
    with fresh_ledger(opts.backend) as (ledger, url):
        policies = fill_limits(ledger, n)
        token = api_key(ledger, "limits:read")

        def direct() -> int:
            count, after, cursor = 0, None, None
            while True:
                page = limits_page(
                    ledger, policies, limit=PAGE, changed_since=0, after=after, cursor=cursor
                )
                count += len(page.rows)
                if page.after is None:
                    return count
                after, cursor = page.after, page.cursor

        floor, direct_rows = timed(direct)
        assert direct_rows == n, direct_rows
        latencies: list[float] = []
        lock = threading.Lock()
        with serve(url) as served:
            _pass(served.url, token, [], lock)  # warm: the roll, caches, connections
            single, _ = timed(lambda: _pass(served.url, token, [], lock))
            with ThreadPoolExecutor(clients) as pool:
                wall, counts = timed(
                    lambda: list(
                        pool.map(
                            lambda _: _pass(served.url, token, latencies, lock), range(clients)
                        )
                    )
                )
            peak = served.peak_rss_mb()
    assert counts == [n] * clients, counts
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return StageResult(
        stage=f"api_limits@{opts.backend}",
        measured_s=single,
        floor_s=floor,
        floor="limits_page called directly, one pass over the same pages",
        goal="(throughput, p99, service memory flat in the number of buyers)",
        extra={
            "buyers": n,
            "clients": clients,
            "page_rows": PAGE,
            "concurrent_wall_s": round(wall, 2),
            "concurrent_pass_share_s": round(wall / clients, 3),
            "rows_per_s": round(n * clients / wall),
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "service_peak_rss_mb": round(peak, 1),
            "as_of": SERVE_AS_OF.isoformat(),
        },
    )
