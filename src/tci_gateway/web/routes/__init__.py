"""The workspace's pages, one module per area. Every module here that defines ``router``
(an ``APIRouter``) is included by :func:`tci_gateway.web.app.install`, in name order; one
that defines ``background_tasks(ctx)`` adds its periodic work to the serving process."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def modules() -> list[ModuleType]:
    """Every page module, imported, in name order."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    ]
