"""``tci openapi``: write the HTTP API's OpenAPI document (committed as
``docs/openapi.json``; ``tests/api/test_openapi_doc.py`` fails when that file is stale)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_PATH = Path("docs/openapi.json")


def build_document() -> dict[str, Any]:
    """The document of the service as the code declares it: built from an app over the
    default settings and a ledger never connected to, so neither the configuration file
    nor the environment changes it."""
    # Imported here: FastAPI costs every other `tci` command half a second to import.
    from sqlalchemy import create_engine

    from tci_gateway.api.app import create_app
    from tci_gateway.api.context import ApiContext
    from tci_gateway.config import Settings
    from tci_gateway.ledger.engine import Ledger
    from tci_gateway.wiring import Wiring

    settings = Settings.model_validate({})  # no TCI_* variable, no file
    ctx = ApiContext(wiring=Wiring(settings, Path.cwd()), ledger=Ledger(create_engine("sqlite://")))
    try:
        return create_app(ctx, background=False).openapi()
    finally:
        ctx.ledger.dispose()


def openapi(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Write the document to this file (e.g. {DEFAULT_PATH}); default: stdout.",
        ),
    ] = None,
) -> None:
    """Write the HTTP API's OpenAPI 3.1 document (what `tci serve` answers at /openapi.json)."""
    from tci_gateway.api.openapi import render

    text = render(build_document())
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("openapi")(openapi)
