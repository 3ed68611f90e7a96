"""What uvicorn's worker processes (``--workers N``) build the application from: the
environment ``tci serve`` set before starting them, so every worker reads the same
configuration and clock as the parent (the entry point itself is
:func:`tci_gateway.web.factory.app_from_environment`, which adds the workspace)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tci_gateway.api.context import ApiContext
from tci_gateway.config import find_config, load_settings
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
