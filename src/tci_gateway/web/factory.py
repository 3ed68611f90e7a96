"""The application as uvicorn's worker processes build it (``--workers N``): the API and
the workspace, from the environment ``tci serve`` set before starting them."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from tci_gateway.api.factory import (
    ENV_AS_OF,
    ENV_CONFIG,
    ENV_INSTANCE,
    ENV_LOG_FORMAT,
    ENV_LOG_LEVEL,
    ENV_WITH_SCHEDULER,
    build_context,
)
from tci_gateway.logs import configure_logging
from tci_gateway.web.app import create_service


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
    app = create_service(ctx)
    if os.environ.get(ENV_WITH_SCHEDULER) == "1":
        from tci_gateway.api.scheduler_thread import with_scheduler

        with_scheduler(app, ctx)
    return app
