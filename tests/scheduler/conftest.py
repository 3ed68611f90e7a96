"""Scheduler tests start from clean fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import fakes


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    fakes.reset()
    yield
    fakes.GATE.set()
