"""The application as uvicorn's worker processes build it (``--workers N``): from the
environment ``tci serve`` set before starting them, so every worker reads the same
configuration and clock as the parent."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from tci_gateway.api.app import create_app
from tci_gateway.api.context import ApiContext
from tci_gateway.config import find_config, load_settings
from tci_gateway.logs import configure_logging
from tci_gateway.wiring import Wiring

ENV_CONFIG = "TCI_SERVE_CONFIG"
ENV_AS_OF = "TCI_SERVE_AS_OF"
ENV_INSTANCE = "TCI_SERVE_INSTANCE"
ENV_LOG_FORMAT = "TCI_SERVE_LOG_FORMAT"
ENV_LOG_LEVEL = "TCI_SERVE_LOG_LEVEL"
ENV_WITH_SCHEDULER = "TCI_SERVE_WITH_SCHEDULER"


def build_context(
    config: Path | None, *, as_of: datetime | None = None, instance: str = ""
) -> ApiContext:
    """The process's :class:`ApiContext`: settings, wiring and the ledger, checked to be
    at the current schema (a :class:`~tci_gateway.errors.ConfigError` otherwise)."""
    settings = load_settings(config)
    path = find_config(config)
    wiring = Wiring(settings, path.parent if path else Path.cwd())
    return ApiContext(wiring=wiring, ledger=wiring.ledger(), as_of=as_of, instance=instance)


def app_from_environment() -> FastAPI:
    """uvicorn's ``factory=True`` entry point for worker processes."""
    config = os.environ.get(ENV_CONFIG) or None
    as_of = os.environ.get(ENV_AS_OF) or None
    ctx = build_context(
        Path(config) if config else None,
        as_of=datetime.fromisoformat(as_of) if as_of else None,
        instance=f"{os.environ.get(ENV_INSTANCE, '')}:{os.getpid()}",
    )
    configure_logging(
        os.environ.get(ENV_LOG_FORMAT) or ctx.settings.logging.format,
        os.environ.get(ENV_LOG_LEVEL) or ctx.settings.logging.level,
    )
    app = create_app(ctx)
    if os.environ.get(ENV_WITH_SCHEDULER) == "1":
        from tci_gateway.api.scheduler_thread import with_scheduler

        with_scheduler(app, ctx)
    return app
