"""The token cache under 50 concurrent calls that all find the token expired.

Per insurer: one call obtains a token; the cache's clock then jumps past its expiry and
50 threads call at once. Counted at the sandbox: token requests (goal: exactly one per
insurer). Floor: 50 sequential calls with a fresh token; measured: the 50 concurrent
calls that start with an expired one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import StageResult, timed
from benchmarks.sandboxes import Served, serve_all
from tci_gateway.http import auth

CALLS = 50


class JumpClock:
    """Monotonic time that can jump forward, to expire every cached token at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _one_insurer(served: Served, clock: JumpClock) -> tuple[float, float, int]:
    adapter = served.adapter()
    query = served.fixture.known_buyer
    auth_key = served.fixture.auth_request
    adapter.search_buyers(query)
    floor, _ = timed(lambda: [adapter.search_buyers(query) for _ in range(CALLS)])
    before = served.sandbox.received[auth_key] if auth_key else 0
    clock.offset += 10 * 24 * 3600  # every cached token is now long expired
    if served.fixture.token_lifetime:
        served.sandbox.advance(served.fixture.token_lifetime + 1)
    barrier = threading.Barrier(CALLS)

    def call(_n: int) -> int:
        barrier.wait()
        return len(adapter.search_buyers(query))

    with ThreadPoolExecutor(CALLS) as pool:
        measured, results = timed(lambda: list(pool.map(call, range(CALLS))))
    assert all(r == results[0] for r in results)
    adapter.close()
    requests = (served.sandbox.received[auth_key] - before) if auth_key else 0
    return floor, measured, requests


def run(_args: list[str]) -> StageResult:
    clock = JumpClock()
    auth.SHARED_TOKEN_CACHE.clock = clock
    token_requests: dict[str, int] = {}
    floor_total = measured_total = 0.0
    with serve_all(latency=(0.01, 0.02)) as served:
        for name, s in served.items():
            floor, measured, requests = _one_insurer(s, clock)
            token_requests[name] = requests
            floor_total += floor
            measured_total += measured
    return StageResult(
        stage="token_cache",
        measured_s=measured_total,
        floor_s=floor_total,
        floor="50 sequential calls per insurer with a fresh token",
        goal="one token request per insurer for 50 concurrent calls",
        extra={f"{n}_token_requests": c for n, c in token_requests.items()},
    )
