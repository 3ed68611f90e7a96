"""Scheduler tests start from clean fakes and no active dispatcher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tci_gateway.scheduler.runner import _activate

from . import fakes


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    fakes.reset()
    yield
    fakes.GATE.set()
    _activate(None)
