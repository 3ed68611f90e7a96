"""Every registered insurer's sandbox, seeded with its contract data, served on loopback,
optionally behind a latency."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin, InsurerAdapter
from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.adapters.registry import insurer_plugins
from tci_gateway.http.client import Timeouts


class Delayed:
    """A sandbox behind a network-like latency, drawn uniformly from [low, high]."""

    def __init__(self, inner: Any, low: float, high: float, seed: int) -> None:
        self.inner, self.low, self.high = inner, low, high
        self.credentials = inner.credentials
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            pause = self._random.uniform(self.low, self.high)
        time.sleep(pause)
        return self.inner.handle(request)  # type: ignore[no-any-return]


@dataclass
class Served:
    plugin: AdapterPlugin
    sandbox: Any
    fixture: ContractFixture
    url: str

    def adapter(self, **options: Any) -> InsurerAdapter:
        adapter = self.plugin.create(
            AdapterContext(
                name=self.plugin.name,
                base_url=self.url,
                environment="sandbox",
                credentials=dict(self.sandbox.credentials),
                options=options,
                timeouts=Timeouts(connect=5, read=30, deadline=60),
            )
        )
        assert isinstance(adapter, InsurerAdapter)
        return adapter


@contextmanager
def serve_all(latency: tuple[float, float] | None = None) -> Iterator[Mapping[str, Served]]:
    with ExitStack() as stack:
        served: dict[str, Served] = {}
        for n, plugin in enumerate(insurer_plugins()):
            if plugin.create_sandbox is None:
                continue  # a plugin without a sandbox cannot be benchmarked here
            sandbox = plugin.create_sandbox({})
            fixture = sandbox.seed_contract_fixture()  # type: ignore[attr-defined]
            front = Delayed(sandbox, *latency, seed=n) if latency else sandbox
            server = stack.enter_context(serve_on_loopback(front))
            served[plugin.name] = Served(plugin, sandbox, fixture, server.url)
        yield served
