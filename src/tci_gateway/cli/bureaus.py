"""``tci bureaus load``: a register's published bulk file (GLEIF's golden copy) into the
ledger, so buyers resolve against it without a call per buyer."""

from __future__ import annotations

import typer

bureaus_app = typer.Typer(help="Credit bureaus and registers: bulk files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``tci bureaus`` to the command line."""
    app.add_typer(bureaus_app, name="bureaus")
