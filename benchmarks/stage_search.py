"""Buyer search across every insurer's sandbox on loopback, each 200-300 ms away.

Floor: the slowest single insurer searched alone (best of 3). Measured: the fan-out over
all of them (best of 3). Goal: at most the floor + 50 ms."""

from __future__ import annotations

from typing import Any

from benchmarks.common import StageResult, best_of
from benchmarks.sandboxes import serve_all
from tci_gateway.services.buyer_search import search_buyers


def run(_args: list[str]) -> StageResult:
    with serve_all(latency=(0.2, 0.3)) as served:
        adapters = {name: s.adapter() for name, s in served.items()}
        query = next(iter(served.values())).fixture.known_buyer
        for adapter in adapters.values():  # tokens in hand: measure the searches only
            adapter.search_buyers(query)

        def search_alone(adapter: Any) -> Any:
            return best_of(3, lambda: adapter.search_buyers(query))[0]

        alone = {name: search_alone(adapter) for name, adapter in adapters.items()}
        floor = max(alone.values())
        measured, result = best_of(3, lambda: search_buyers(adapters, query, timeout=10))
        for adapter in adapters.values():
            adapter.close()
    return StageResult(
        stage="buyer_search",
        measured_s=measured,
        floor_s=floor,
        floor="slowest insurer alone",
        goal="fan-out <= slowest + 50 ms",
        extra={
            "insurers": len(adapters),
            "over_floor_ms": round((measured - floor) * 1000, 1),
            "complete": result.ok,
            **{f"{name}_alone_ms": round(t * 1000, 1) for name, t in alone.items()},
        },
    )
