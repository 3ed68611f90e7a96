"""``tci credit``: being built for issue 14 (its owner replaces this module)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``tci`` (none yet)."""
