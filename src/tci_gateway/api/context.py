"""What every request shares: the wiring (settings, adapters), one ledger per process,
the clock, and the authenticated key.

Routes take these as FastAPI dependencies::

    @router.get("/limits")
    def limits(ctx: Ctx, key: Annotated[ApiKey, Depends(require("limits:read"))]) -> ...

``Ctx`` is the :class:`ApiContext` stored on ``app.state`` by
:func:`tci_gateway.api.app.create_app`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.config import Settings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.wiring import Wiring, credit_options


@dataclass
class ApiContext:
    """The process's dependencies. ``as_of`` pins the clock (tests, replays), like the
    CLI's ``--as-of``. Adapters are built once per process and shared by requests; a lock
    serialises their creation."""

    wiring: Wiring
    ledger: Ledger
    as_of: datetime | None = None
    instance: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.as_of or datetime.now(UTC)

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    def locked(self) -> threading.Lock:
        """A lock for lazily built, shared state (adapter connections)."""
        return self._lock

    def credit_options(self) -> CreditOptions:
        """The credit workflow's options from ``[credit]``, built per request: the FX
        rates are read now (before the route opens a unit of work), so a rate imported
        since is used."""
        return credit_options(self.settings, self.ledger)

    def bureaus(self) -> dict[str, BureauAdapter]:
        """Every configured bureau's adapter, built once per process and shared."""
        with self._lock:
            names = sorted(self.settings.bureaus)
            return {name: self.wiring.bureau(name).adapter for name in names}


def get_context(request: Request) -> ApiContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, ApiContext)
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]
